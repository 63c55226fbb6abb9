"""The stacks godi captures are the ones the Go runtime sees, and probing does not
change what the program sees.

tests/progs/callers prints, at each call of ``capture(site)``, the stack that
``runtime.Callers`` and ``runtime.CallersFrames`` give: plain calls, inlined
callers, a generic function, a method through an interface, a closure, a deferred
function recovering a panic, another goroutine. Under godi, with probes on
``capture`` and on the functions around it (entries and returns), the program's
output and exit status are the same, and the snapshot of each ``capture`` call has
the runtime's stack: every caller's function and line, innermost first.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi

CALLERS = REPO / "tests" / "progs" / "callers"
AROUND = [
    "main.plain1",
    "main.plain2",
    "main.outer",
    "main.viaInterface",
    "main.square.Area",
    "main.closure",
    "main.recovered",
    "main.recovered.func1",
    "main.main.func1",
    "main.kindOf",
]

INLINED = ["main.closure.func1", "main.inner", "main.middle"]  # only inlined copies
INLINED_LINE = next(
    i
    for i, text in enumerate((CALLERS / "main.go").read_text().splitlines(), 1)
    if "if x > 0 {" in text
)  # in inner: inlined twice into outer, which runs it with x = 3 and x = -3
EVERY_HIT = {"captureSnapshot": True, "sampling": {"snapshotsPerSecond": 0}}

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def callers_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(plain run, godi run, snapshots) of the callers program."""
    binary = build_go(CALLERS, str(request.param))
    out = tmp_path_factory.mktemp(f"callers-{request.param}")
    probes = out / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {"id": name.removeprefix("main."), "where": {"methodName": name}, **EVERY_HIT}
                for name in ["main.capture", *AROUND, *INLINED]
            ]
            + [
                {
                    "id": "inlined-line",
                    "where": {"sourceFile": "callers/main.go", "lines": [str(INLINED_LINE)]},
                    **EVERY_HIT,
                }
            ]
        )
    )
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    run = godi(
        "run", "--no-live", "--probes", str(probes), "-o", str(out), "--", str(binary), timeout=600
    )
    snapshots = json.loads((out / "snapshots.json").read_text())
    return plain, run, snapshots


def _snapshots_of(callers_run: Any, probe_id: str) -> list[dict[str, Any]]:
    return [
        s["debugger"]["snapshot"]
        for s in callers_run[2]
        if s["debugger"]["snapshot"]["probe"]["id"] == probe_id
    ]


def test_output_and_status_unchanged(callers_run: Any) -> None:
    plain, run, _ = callers_run
    assert plain.returncode == run.returncode == 0, run.stderr
    assert run.stdout == plain.stdout
    assert len(plain.stdout.splitlines()) == 8


def test_every_probe_captured(callers_run: Any) -> None:
    _, _, snapshots = callers_run
    for s in snapshots:
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
    seen = {s["debugger"]["snapshot"]["probe"]["id"] for s in snapshots}
    names = ["main.capture", *AROUND, *INLINED]
    assert seen == {name.removeprefix("main.") for name in names} | {"inlined-line"}


def test_interface_argument_has_its_dynamic_type(callers_run: Any) -> None:
    """viaInterface gets a *square as a shape: only the itab of (*square, shape)
    tells the scoped IR that type (no probed function names it)."""
    (snap,) = _snapshots_of(callers_run, "viaInterface")
    s = snap["captures"]["entry"]["arguments"]["s"]
    assert s["type"] == "main.shape"
    data = s["fields"]["data"]
    assert data["type"] == "*main.square", s
    assert data["fields"] == {"side": {"type": "int", "value": "2"}}


def test_inlined_functions_are_captured_at_each_copy(callers_run: Any) -> None:
    """outer(3) calls middle(3) and middle(-3), both inlined into outer, each with
    inner inlined into it: a snapshot per call, with the argument as the copy has
    it and the stack showing the inlined frames; no return values (an inlined call
    has no return instruction)."""
    _, _, snapshots = callers_run
    by_probe: dict[str, list[dict[str, Any]]] = {}
    for s in snapshots:
        snap = s["debugger"]["snapshot"]
        by_probe.setdefault(snap["probe"]["id"], []).append(snap)
    for probe, chain in (
        ("inner", ["main.inner", "main.middle", "main.outer"]),
        ("middle", ["main.middle", "main.outer"]),
    ):
        snaps = by_probe[probe]
        assert sorted(s["captures"]["entry"]["arguments"]["x"]["value"] for s in snaps) == [
            "-3",
            "3",
        ]
        for snap in snaps:
            functions = [f["function"] for f in snap["stack"]]
            # middle's first instruction is inner's too: the stack there has inner
            # on top (it is what runtime.CallersFrames would say at that PC).
            if functions[0] != chain[0]:
                assert functions[0] == "main.inner", functions
                functions = functions[1:]
            assert functions[: len(chain)] == chain
            assert "return" not in snap["captures"]
    lines = by_probe["inlined-line"]
    xs = [s["captures"]["lines"][str(INLINED_LINE)]["arguments"]["x"]["value"] for s in lines]
    assert sorted(xs) == ["-3", "3"]  # each copy's own x (outer's x is 3 in both)
    for snap in lines:
        assert snap["stack"][0]["function"] == "main.inner"
        assert snap["stack"][0]["lineNumber"] == INLINED_LINE
    (closure,) = by_probe["closure.func1"]
    assert [f["function"] for f in closure["stack"][:2]] == ["main.closure.func1", "main.closure"]


def test_any_argument_has_its_dynamic_type(callers_run: Any) -> None:
    """kindOf(v any) gets a *token, which no probed function names: with an empty
    interface in scope, the IR holds every type that has a runtime descriptor."""
    (snap,) = _snapshots_of(callers_run, "kindOf")
    v = snap["captures"]["entry"]["arguments"]["v"]
    data = v["fields"]["data"]
    assert data["type"] == "*main.token", v
    assert data["fields"] == {"id": {"type": "int", "value": "7"}}


def test_stacks_are_the_runtime_s(callers_run: Any) -> None:
    plain, _, snapshots = callers_run
    by_site: dict[str, list[list[dict[str, Any]]]] = {}
    for s in snapshots:
        snap = s["debugger"]["snapshot"]
        if snap["probe"]["id"] == "capture":
            site = snap["captures"]["entry"]["arguments"]["site"]["value"]
            by_site.setdefault(site, []).append(snap["stack"])
    records = [json.loads(line) for line in plain.stdout.splitlines()]
    assert sorted(by_site) == sorted({r["site"] for r in records})
    for r in records:
        # runtime.Callers(0) starts with itself, then capture: godi's stack starts
        # at capture's entry, then its callers.
        expected = [(f["function"], f["line"], f["file"]) for f in r["frames"][2:]]
        stacks = [
            [(f["function"], f["lineNumber"], f["fileName"]) for f in st[1:]]
            for st in by_site[r["site"]]
            if st[0]["function"] == "main.capture"
        ]
        assert any(
            len(st) == len(expected)
            and all(
                (fn, line) == (efn, eline) and efile.endswith(file)
                for (fn, line, file), (efn, eline, efile) in zip(st, expected, strict=True)
            )
            for st in stacks
        ), (r["site"], expected, stacks)
