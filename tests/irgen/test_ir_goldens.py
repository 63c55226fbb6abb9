"""IR goldens: the scoped IR of each test program, per Go version, reviewed as a diff.

``tests/golden/ir/<program>-go<version>-amd64.json`` holds the IR of the program's
probed functions, pretty and sorted (without the whole-binary stack symbol
table, which has its own tests). The binaries are built reproducibly
(``-trimpath``, pinned toolchains), so the IR is too; any change to what irgen
says about them shows up here, and is accepted with ``pytest --update-goldens``.
"""

from __future__ import annotations

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
    path: Path = GOLDEN_DIR / "ir" / f"{program}-go{go_version}-amd64.json"
    check_golden(path, ir, update_goldens)
