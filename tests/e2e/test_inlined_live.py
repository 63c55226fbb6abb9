"""Inlined copies, line probes in them and named results, against the program's own
account of itself.

tests/progs/inlined calls ``scale``, which the compiler inlines, from twelve places
in eleven functions (twice in ``two``), most with constant arguments of several
shapes (a power of two, negative, named, zero, wider than 32 bits, a constant
``x``); each copy prints, as one JSON line, its
arguments and local as it computed them and the frames ``runtime.Callers`` sees
from inside it (``scale``, then its callers up to ``main.main``). A function probe
on ``scale`` and line probes on two of its lines must fire in every copy that has
code for them, each snapshot with ``scale`` as the top frame and that copy's
caller below it (as the runtime says), and that copy's own variables: each with
the value the program printed, or a reason it cannot be read (a constant the
compiler folded into the code), never silently absent, never a compiler
temporary. ``divide`` has named results, which the condition, the template and a
capture expression evaluated at the exit name directly.

The Go versions are ``scripts/go-versions.txt`` by default; ``make test-all-go``
(``GODI_GO_VERSIONS``) runs every supported one.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi

from stages.codegen.lines import line_pcs
from stages.ir import decode_program
from stages.irgen import generate_ir
from stages.irgen.dwarf import DwarfReader
from stages.irgen.elf import open_elf
from stages.irgen.inlining import FOLDED_IN_COPY, MISSING_IN_COPY

PROG = REPO / "tests" / "progs" / "inlined"
SOURCE = (PROG / "main.go").read_text().splitlines()
REPORT_LINE = next(i for i, t in enumerate(SOURCE, 1) if "the line probe's line" in t)
ASSIGN_LINE = next(i for i, t in enumerate(SOURCE, 1) if t.strip() == "y := x * factor")
SCALE_LINE = next(i for i, t in enumerate(SOURCE, 1) if t.startswith("func scale("))
EVERY_HIT = {"captureSnapshot": True, "sampling": {"snapshotsPerSecond": 0}}
SITES = [
    "one",
    "two",
    "two-b",
    "three",
    "four",
    "main",
    "shifted",
    "negative",
    "named",
    "zero",
    "wide",
    "constX",
]
# The arguments each site passes as constants (the source's knowledge, not godi's).
CONSTANT_ARGUMENTS = {
    "one": {"factor"},
    "two": {"factor"},
    "two-b": {"factor"},
    "four": {"x", "factor"},
    "main": {"x", "factor"},
    "shifted": {"factor"},
    "negative": {"factor"},
    "named": {"factor"},
    "zero": {"factor"},
    "wide": {"factor"},
    "constX": {"x"},
}

pytestmark = pytest.mark.live


def _line_probe(probe_id: str, line: int) -> dict[str, Any]:
    where = {"sourceFile": "inlined/main.go", "lines": [str(line)]}
    return {"id": probe_id, "where": where, **EVERY_HIT}


PROBES = [
    {"id": "scale", "where": {"methodName": "main.scale"}, **EVERY_HIT},
    _line_probe("report-line", REPORT_LINE),
    _line_probe("assign-line", ASSIGN_LINE),
    {
        "id": "divide",
        "where": {"methodName": "main.divide"},
        **EVERY_HIT,
        "evaluateAt": "EXIT",
        "when": {"dsl": "remainder >= 0 && quotient >= 0"},
        "segments": [
            {"str": "q="},
            {"dsl": "quotient", "json": {"ref": "quotient"}},
            {"str": " r="},
            {"dsl": "remainder", "json": {"ref": "remainder"}},
            {"str": " ok="},
            {"dsl": "err == null", "json": {"eq": [{"ref": "err"}, None]}},
        ],
        "captureExpressions": [{"name": "q", "expr": {"dsl": "quotient"}}],
    },
]


@pytest.fixture(scope="module", params=go_versions())
def inlined_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(the plain run's records, the godi run, its snapshots by probe id)."""
    binary = build_go(PROG, str(request.param))
    out = tmp_path_factory.mktemp(f"inlined-{request.param}")
    probes = out / "probes.json"
    probes.write_text(json.dumps(PROBES))
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    run = godi("run", "--probes", str(probes), "-o", str(out), "--", str(binary), timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout == plain.stdout
    by_probe: dict[str, list[dict[str, Any]]] = {}
    for s in json.loads((out / "snapshots.json").read_text()):
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
        snap = s["debugger"]["snapshot"]
        by_probe.setdefault(snap["probe"]["id"], []).append(s)
    records = [json.loads(line) for line in plain.stdout.splitlines()]
    return records, run, by_probe, binary, out / "ir.json"


def _sites(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The program's records of scale's copies, by the caller frame (function,
    line) that tells the copies apart."""
    out = {}
    for r in records:
        if "site" in r:
            assert r["frames"][0] == {"function": "main.scale", "line": REPORT_LINE}
            caller = r["frames"][1]
            out[(caller["function"], caller["line"])] = r
    assert sorted(r["site"] for r in out.values()) == sorted(SITES)
    return out


def _frames(snap: dict[str, Any]) -> list[tuple[str, int]]:
    """The snapshot's stack as (function, line), up to main.main as the program
    prints it."""
    out = []
    for f in snap["stack"]:
        out.append((f["function"], f["lineNumber"]))
        if f["function"] == "main.main":
            break
    return out


def _check_copy(
    snap: dict[str, Any], record: dict[str, Any], scope: dict[str, Any], top_line: int | None
) -> None:
    """The copy's stack is the runtime's, and each variable is there with the
    printed value or a reason."""
    frames = _frames(snap)
    expected = [(f["function"], f["line"]) for f in record["frames"]]
    assert frames[0][0] == "main.scale", frames
    if top_line is not None:
        assert frames[0][1] == top_line, frames
    assert frames[1:] == expected[1:], (frames, expected)
    arguments = scope["arguments"]
    assert list(arguments) == ["site", "x", "factor"], arguments
    for name, value in [("x", record["x"]), ("factor", record["factor"])]:
        got = arguments[name]
        assert got.get("value", str(value)) == str(value), (record["site"], name, got)
        assert "value" in got or got.get("notCapturedReason"), got
    site = arguments["site"]
    assert site.get("value", record["site"]) == record["site"], site
    assert "value" in site or site.get("notCapturedReason"), site


def test_function_probe_fires_in_every_copy(inlined_run: Any) -> None:
    records, _, by_probe, *_ = inlined_run
    sites = _sites(records)
    snaps = [s["debugger"]["snapshot"] for s in by_probe["scale"]]
    seen = {_frames(snap)[1] for snap in snaps}
    assert seen == set(sites), (seen, set(sites))
    assert len(snaps) == len(sites)
    for snap in snaps:
        record = sites[_frames(snap)[1]]
        assert "return" not in snap["captures"]  # an inlined call has no return
        _check_copy(snap, record, snap["captures"]["entry"], None)
        assert SCALE_LINE < _frames(snap)[0][1] <= REPORT_LINE
    # Values, not only reasons: the copy in three gets both arguments as variables.
    (three,) = [snap for snap in snaps if sites[_frames(snap)[1]]["site"] == "three"]
    arguments = three["captures"]["entry"]["arguments"]
    assert (arguments["x"]["value"], arguments["factor"]["value"]) == ("8", "9")


def test_line_probe_fires_in_every_copy_with_its_own_variables(inlined_run: Any) -> None:
    records, _, by_probe, *_ = inlined_run
    sites = _sites(records)
    snaps = [s["debugger"]["snapshot"] for s in by_probe["report-line"]]
    assert sorted(_frames(snap)[1] for snap in snaps) == sorted(sites)
    captured = 0
    for snap in snaps:
        record = sites[_frames(snap)[1]]
        scope = snap["captures"]["lines"][str(REPORT_LINE)]
        _check_copy(snap, record, scope, REPORT_LINE)
        # Source locals only (no ~r0 temporaries): y, with its value or a reason.
        assert list(scope.get("locals", {})) == ["y"], scope
        y = scope["locals"]["y"]
        assert y.get("value", str(record["y"])) == str(record["y"]), y
        assert "value" in y or y.get("notCapturedReason"), y
        captured += "value" in y
    assert captured >= 2  # the copies in one, two-b and three keep y in a register


def test_line_of_an_inlined_function_resolves_in_its_copies(inlined_run: Any) -> None:
    """The assignment's line has code in the copies that compute it at run time
    (not in those where both operands are constants): each fires there."""
    records, _, by_probe, *_ = inlined_run
    sites = _sites(records)
    snaps = [s["debugger"]["snapshot"] for s in by_probe["assign-line"]]
    assert snaps
    callers = [_frames(snap)[1] for snap in snaps]
    assert len(set(callers)) == len(callers)
    assert {sites[c]["site"] for c in callers} >= {"one", "three"}
    for snap in snaps:
        scope = snap["captures"]["lines"][str(ASSIGN_LINE)]
        _check_copy(snap, sites[_frames(snap)[1]], scope, ASSIGN_LINE)
        assert "locals" not in scope, scope  # y is declared on this line


def test_named_results_in_expressions_at_exit(inlined_run: Any) -> None:
    records, _, by_probe, *_ = inlined_run
    divides = [r["divide"] for r in records if "divide" in r]
    snapshots = by_probe["divide"]
    assert len(snapshots) == len(divides) == 2
    messages = sorted(s["message"] for s in snapshots)
    expected = sorted(f"q={q} r={r} ok={str(ok is True).lower()}" for _, _, q, r, ok in divides)
    assert messages == expected
    for s in snapshots:
        snap = s["debugger"]["snapshot"]
        assert "evaluationErrors" not in snap, snap
        returned = snap["captures"]["return"]
        q = returned["locals"]["@return"]["fields"]["quotient"]["value"]
        assert returned["captureExpressions"]["q"]["value"] == q


def test_every_line_with_code_resolves(inlined_run: Any) -> None:
    """Each line of main.go the binary's line table has code for, in whichever
    function (out of line or inlined into another), is a place for a line probe."""
    *_, binary, _ = inlined_run
    program = generate_ir(str(binary), symbols=False)  # the run's IR is scoped
    with open_elf(str(binary)) as image:
        reader = DwarfReader(image)
        lines = {
            line
            for unit in reader.units()
            for _, file, line, _ in reader.line_rows(unit)
            if reader.file_name(unit, file).endswith("inlined/main.go")
        }
    assert {SCALE_LINE + 1, REPORT_LINE} <= lines
    assert [line for line in sorted(lines) if not line_pcs(program, "inlined/main.go", line)] == []


def test_constant_arguments_have_the_printed_value_or_say_why(inlined_run: Any) -> None:
    """An argument a copy receives as a constant has no location (Go writes none and
    no DW_AT_const_value): it is never given a value other than the one the copy
    printed, and when it has none, the IR says why in the copy's own terms."""
    records, _, by_probe, _, ir_path = inlined_run
    sites = _sites(records)
    program = decode_program(ir_path.read_bytes())
    copies = {
        (inst.caller, inst.call_line): inst
        for inl in program.inlined
        if inl.name == "main.scale"
        for inst in inl.instances
    }
    assert set(copies) >= set(sites), set(sites) - set(copies)
    constant = folded = 0
    for snap in (s["debugger"]["snapshot"] for s in by_probe["scale"]):
        caller = _frames(snap)[1]
        record = sites[caller]
        arguments = snap["captures"]["entry"]["arguments"]
        variables = {v.name: v for v in copies[caller].variables if v.role == "param"}
        for name in CONSTANT_ARGUMENTS.get(record["site"], ()):
            constant += 1
            got = arguments[name]
            if "value" in got:
                assert got["value"] == str(record[name]), (record["site"], name, got)
                continue
            assert got["notCapturedReason"] == "unavailable", got
            reason = variables[name].unavailable
            assert reason in (FOLDED_IN_COPY, MISSING_IN_COPY), (record["site"], name, reason)
            folded += reason == FOLDED_IN_COPY
    assert constant == sum(len(v) for v in CONSTANT_ARGUMENTS.values())
    assert folded  # the case this checks occurs: Go keeps no location for them
