"""Refusing inputs that do not belong together: dump, IR and layout.

A dump is only meaningful with the IR of the binary it was captured from and the
layout of the program that captured it. Each check names the input that is wrong.
"""

from __future__ import annotations

from ..dump import DumpHeader
from ..errors import ArtifactError
from ..ir import Program
from ..layout import Layout


def check_artifacts(program: Program, layout: Layout, ir_hash: str) -> None:
    """Check that ``layout`` was generated from this very IR.

    ``ir_hash`` is the SHA-256 of the ``ir.json`` bytes ``program`` was read from.
    Raises ``ArtifactError`` naming layout.json when it was made from another IR or
    for another binary.
    """
    recorded = layout.header.inputs.get("ir")
    if recorded is None:
        raise ArtifactError("layout.json", "does not record which ir.json it was generated from")
    if recorded != ir_hash:
        raise ArtifactError(
            "layout.json",
            f"was generated from another ir.json (sha256 {recorded[:12]}...), not the "
            f"given one (sha256 {ir_hash[:12]}...): rerun codegen or pass the matching IR",
        )
    if layout.binary_build_id != program.binary.build_id:
        raise ArtifactError(
            "layout.json",
            f"was generated for binary {layout.binary_build_id} but ir.json describes "
            f"binary {program.binary.build_id}",
        )
    if layout.binary_sha256 != program.binary.sha256:
        raise ArtifactError(
            "layout.json",
            f"was generated for the binary with sha256 {layout.binary_sha256[:12]}... but "
            f"ir.json describes the one with sha256 {program.binary.sha256[:12]}...",
        )


def check_dump(header: DumpHeader, program: Program, program_hash: str, name: str) -> None:
    """Check that the dump was captured from this binary with this probe program.

    ``program_hash`` is ``artifacts.program_hash`` of the probes directory given to
    decode. Raises ``ArtifactError`` naming the dump when it came from another binary
    or another generated program.
    """
    if header.build_id != program.binary.build_id:
        raise ArtifactError(
            name,
            f"was captured from binary {header.build_id} but ir.json describes binary "
            f"{program.binary.build_id}",
        )
    if header.program_hash != program_hash:
        raise ArtifactError(
            name,
            f"was captured with probe program {header.program_hash[:12]}... but the "
            f"given probes.bpf.c + layout.json hash to {program_hash[:12]}...: pass the "
            "probes directory the capture ran",
        )
