"""A scoped IR for line probes and generic ``F[...]`` probes: the functions with
code for the line (and the copies inlined into them), the shape instantiations,
and no others; codegen places the same uprobes with the same variables on it as
on the whole binary's IR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions

from stages.codegen import generate_c
from stages.codegen.resolve import wanted_function_names
from stages.ir import Program
from stages.irgen import generate_ir
from stages.irgen.scope import line_request, parse_line_request
from stages.probefile import parse_probes

INLINED = REPO / "tests" / "progs" / "inlined"
TYPES = REPO / "tests" / "progs" / "types"
SOURCE = (INLINED / "main.go").read_text().splitlines()
REPORT_LINE = next(i for i, t in enumerate(SOURCE, 1) if "the line probe's line" in t)
ASSIGN_LINE = next(i for i, t in enumerate(SOURCE, 1) if t.strip() == "y := x * factor")


def _points(program: Program, raw: list[dict[str, Any]]) -> list[Any]:
    layout = generate_c(program, parse_probes(raw), ir_hash="x").layout
    return sorted(
        (
            p.probe_id,
            p.kind,
            p.function,
            p.pc,
            [(v.name, v.type, v.root_offset, v.reason) for v in p.variables],
        )
        for p in layout.probes
    )


def _scoped_and_whole(binary: Path, raw: list[dict[str, Any]]) -> tuple[Program, Program]:
    wanted = wanted_function_names(parse_probes(raw).probes)
    return generate_ir(str(binary), wanted, symbols=False), generate_ir(str(binary), symbols=False)


def test_line_requests() -> None:
    assert parse_line_request(line_request("a/b.go", 12)) == ("a/b.go", 12)
    assert parse_line_request("main.f") is None
    assert parse_line_request("@nothing") is None
    raw = [
        {"id": "l", "where": {"sourceFile": "a/b.go", "lines": ["12"]}},
        {"id": "g", "where": {"methodName": "main.F[...]"}},
        {"id": "m", "where": {"typeName": "main.T", "methodName": "M"}},
    ]
    assert wanted_function_names(parse_probes(raw).probes) == [
        "@a/b.go:12",
        "main.(*T).M",
        "main.F[...]",
        "main.T.M",
    ]


@pytest.mark.parametrize("version", go_versions()[-1:])
def test_line_probes_scope(version: str) -> None:
    binary = build_go(INLINED, version)
    raw = [
        {"id": "report", "where": {"sourceFile": "inlined/main.go", "lines": [str(REPORT_LINE)]}},
        {"id": "assign", "where": {"sourceFile": "main.go", "lines": [str(ASSIGN_LINE)]}},
        {"id": "divide", "where": {"methodName": "main.divide"}},
    ]
    scoped, whole = _scoped_and_whole(binary, raw)
    names = {f.name for f in scoped.functions}
    # scale's callers (its copies hold the lines) and divide; not report, not main's
    # other callees.
    assert {"main.one", "main.two", "main.three", "main.four", "main.divide"} <= names
    assert "main.report" not in names
    assert len(scoped.functions) < len(whole.functions) / 50
    (scale,) = [f for f in scoped.inlined if f.name == "main.scale"]
    assert len(scale.instances) >= 5
    assert _points(scoped, raw) == _points(whole, raw)


@pytest.mark.parametrize("version", go_versions()[-1:])
def test_generic_probes_scope(version: str) -> None:
    binary = build_go(TYPES, version)
    raw = [
        {"id": "largest", "where": {"methodName": "main.Largest[...]"}},
        {"id": "pair", "where": {"methodName": "main.MakePair[...]"}},
    ]
    scoped, whole = _scoped_and_whole(binary, raw)
    names = {f.name for f in scoped.functions}
    assert names and all(n.startswith(("main.Largest[", "main.MakePair[")) for n in names)
    assert names == {
        f.name for f in whole.functions if f.name.startswith(("main.Largest[", "main.MakePair["))
    }
    assert _points(scoped, raw) == _points(whole, raw)
