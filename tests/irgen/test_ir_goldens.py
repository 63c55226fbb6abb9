"""IR goldens: the scoped IR of each test program, per Go version, reviewed as a diff.

``tests/golden/ir/<program>-go<version>-amd64.json`` holds the IR of the program's
probed functions, pretty and sorted (without the whole-binary stack symbol
table, which has its own tests). The binaries are built reproducibly
(``-trimpath``, pinned toolchains), so the IR is too; any change to what irgen
says about them shows up here, and is accepted with ``pytest --update-goldens``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import PROBED, TYPES_PROBED  # type: ignore[import-not-found]
from gobuild import REPO, build_go
from golden import GOLDEN_DIR, check_golden

from stages.ir import encode_program
from stages.irgen import generate_ir

CASES = {"example": PROBED, "types": TYPES_PROBED}


@pytest.mark.parametrize("program", sorted(CASES))
def test_ir_golden(program: str, go_version: str, update_goldens: bool) -> None:
    binary = build_go(REPO / "tests" / "progs" / program, go_version)
    ir = json.loads(encode_program(generate_ir(str(binary), CASES[program], symbols=False)))
    ir["header"]["tool_version"] = "<godi version>"
    # The hash of the binary's bytes is checked here, not kept in the golden: a
    # golden stays valid for a toolchain that builds other bytes with the same code.
    content = hashlib.sha256(binary.read_bytes()).hexdigest()
    assert ir["binary"]["sha256"] == ir["header"]["inputs"]["binary_sha256"] == content
    ir["binary"]["sha256"] = ir["header"]["inputs"]["binary_sha256"] = "<sha256 of the binary>"
    path: Path = GOLDEN_DIR / "ir" / f"{program}-go{go_version}-amd64.json"
    check_golden(path, ir, update_goldens)
