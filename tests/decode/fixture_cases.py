"""The committed raw dumps under ``tests/decode/fixtures/`` and how to decode them.

Each case directory holds what the real pipeline left (``ir.json``, gzipped, with
its symbol table cut down to the functions on the dump's stacks;
``prog/layout.json``, ``prog/probes.bpf.c``, ``events.dump``); see
``make_fixtures.py``.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from stages.artifacts import load_layout, program_hash, sha256_bytes
from stages.decode import DecodeRun, decode
from stages.ir import Program, decode_program
from stages.layout import Layout

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "events.dump").is_file())


@dataclass(frozen=True)
class Case:
    """One fixture, loaded: the IR (with symbols attached), layout and dump bytes."""

    name: str
    program: Program
    layout: Layout
    dump: bytes
    program_hash: str
    ir_hash: str

    def run(self, dump: bytes | None = None, **kw: Any) -> DecodeRun:
        """Decode ``dump`` (default: the fixture's) with the fixture's inputs."""
        params: dict[str, Any] = {
            "program_hash": self.program_hash,
            "ir_hash": self.ir_hash,
            "service": "fixture",
            "tags": "env:test",
            "name": "events.dump",
        }
        params.update(kw)
        data = self.dump if dump is None else dump
        return decode(io.BytesIO(data), self.program, self.layout, **params)


@cache
def load_case(name: str) -> Case:
    d = FIXTURES / name
    ir = gzip.decompress((d / "ir.json.gz").read_bytes())
    program = decode_program(ir)
    return Case(
        name=name,
        program=program,
        layout=load_layout(d / "prog"),
        dump=(d / "events.dump").read_bytes(),
        program_hash=program_hash(d / "prog"),
        ir_hash=sha256_bytes(ir),
    )
