"""Floats in vector registers captured live (issue 22, ``stages.capture.floats``).

tests/progs/floats prints every call's arguments and results with %v; each
snapshot's values, written back in the same format, must be one of the lines the
program printed: the expected values come from the program, never from godi.
The program runs under async preemption load (GOMAXPROCS goroutines spinning),
a storm of signals it handles, and calls at growing stack depth, all at once;
its output and exit status must be those of a run without godi.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi, godi_env

FLOATS = REPO / "tests" / "progs" / "floats"

pytestmark = pytest.mark.live


def _probes(tmp: Path) -> Path:
    """The program's probes, every hit captured (no sampling in the way)."""
    tmp.mkdir(parents=True, exist_ok=True)
    probes = json.loads((FLOATS / "probes.json").read_text())
    for p in probes:
        p["sampling"] = {"snapshotsPerSecond": 100000}
    path = tmp / "probes.json"
    path.write_text(json.dumps(probes))
    return path


def _value(v: dict[str, Any]) -> Any:
    if "value" in v:
        return v["value"]
    if "fields" in v:
        return {k: _value(x) for k, x in v["fields"].items()}
    if "elements" in v:
        return [_value(x) for x in v["elements"]]
    return None  # unavailable (or anything else not a value)


def _line(probe: str, a: dict[str, Any], r: Any) -> str | None:
    """The line the program printed for this call, rebuilt from the snapshot (None
    when a value is missing)."""
    line = _format(probe, a, r)
    return None if line is None or "None" in line else line


def _format(probe: str, a: dict[str, Any], r: Any) -> str | None:

    def struct(d: dict[str, Any], names: str) -> str:
        return "{" + " ".join(str(d[n]) for n in names.split()) + "}"

    try:
        if probe == "double":
            return f"double({a['x']}) = {r}"
        if probe == "scale":
            return f"scale({a['a']}, {a['n']}, {a['b']}) = {r['r0']} {r['r1']}"
        if probe == "rotate":
            return f"rotate({a['c']}, {a['d']}) = {r}"
        if probe == "norm":
            return f"norm({struct(a['p'], 'X Y')}, {struct(a['m'], 'N F S G')}) = {r}"
        if probe == "spread":
            v, w = a["v"], a["w"]
            return f"spread([{v[0]} {v[1]}], [{w[0]}]) = {struct(r, 'X Y')}"
        if probe == "sign":
            return f"sign({a['x']}) = {r['r0']} {r['r1']}"
        if probe == "twice":
            return f"twice({a['x']}) = {r}"
        if probe == "many":
            args = " ".join(str(a[n]) for n in "abcdefghijklmno")
            return f"many({args}) = {r}"
    except (KeyError, TypeError, IndexError):
        return None
    raise AssertionError(probe)


def _calls(snapshots_path: Path) -> list[tuple[str, str | None, bool]]:
    """(probe id, rebuilt line or None, whether some value is missing)."""
    out = []
    for s in json.loads(snapshots_path.read_text()):
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
        snap = s["debugger"]["snapshot"]
        captures = snap["captures"]
        args = {k: _value(v) for k, v in captures["entry"]["arguments"].items()}
        ret = _value(captures["return"]["locals"]["@return"])
        text = json.dumps(captures)
        out.append(
            (snap["probe"]["id"], _line(snap["probe"]["id"], args, ret), "unavailable" in text)
        )
    return out


def _run(tmp: Path, binary: Path, mode: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    plain = subprocess.run([str(binary), mode], capture_output=True, text=True, timeout=120)
    out = tmp / f"run-{mode}"
    args = ("run", "--probes", str(_probes(tmp)), "-o", str(out), *extra, "--", str(binary), mode)
    run = godi_env(env, *args, timeout=300) if env else godi(*args, timeout=300)
    assert run.returncode == plain.returncode == 0, run.stderr
    assert run.stdout == plain.stdout  # the program's output is unchanged
    return run, out, set(plain.stdout.splitlines())


@pytest.fixture(scope="module", params=go_versions())
def floats_binary(request: pytest.FixtureRequest) -> Path:
    return build_go(FLOATS, str(request.param))


def test_floats_are_the_programs_own_under_load_signals_and_stack_growth(
    floats_binary: Path, tmp_path: Path
) -> None:
    run, out, printed = _run(tmp_path, floats_binary, "all")
    calls = _calls(out / "snapshots.json")
    assert len(calls) == 8 * 40
    wrong = [(p, line) for p, line, _ in calls if line is not None and line not in printed]
    assert not wrong  # never a wrong value
    missing = [p for p, line, _ in calls if line is None]
    # Every float of every call is read, but twice's argument: its first
    # instruction (ADDSD X0, X0) has written X0 when the frame is saved.
    assert missing == ["twice"] * 40, (missing, run.stderr)
    assert "xmm0: written by the probed instruction (addsd xmm0, xmm0)" in run.stderr
    for s in json.loads((out / "snapshots.json").read_text()):
        captures = s["debugger"]["snapshot"]["captures"]
        if s["debugger"]["snapshot"]["probe"]["id"] == "twice":
            assert captures["entry"]["arguments"]["x"]["notCapturedReason"] == "unavailable"
            result = float(captures["return"]["locals"]["@return"]["value"])
            assert f"= {captures['return']['locals']['@return']['value']}" in " ".join(
                line for line in printed if line.startswith("twice(")
            )
            assert result > 0
    # Per round, the XMM pieces: double 1+1, twice 0+1, scale 2+2, rotate 4+2, norm
    # 4+1, spread 1+2 (its [2]float64 goes in memory: the ABI assigns registers to
    # arrays of at most one element), sign 1+1 (one return site runs), many 15+1.
    per_round = 2 + 1 + 4 + 6 + 5 + 3 + 2 + 16
    assert f"floats in vector registers: {per_round * 40} read; 40 xmm0: written" in run.stderr


def test_a_program_handling_sigurg_is_not_signalled_unless_asked(
    floats_binary: Path, tmp_path: Path
) -> None:
    run, out, printed = _run(tmp_path, floats_binary, "notify")
    calls = _calls(out / "snapshots.json")
    assert calls and all(line is None and missing for _, line, missing in calls)
    assert "handles SIGURG itself" in run.stderr
    # Opting in reads them (the program then gets SIGURG notifications it asked for).
    run, out, printed = _run(tmp_path / "always", floats_binary, "notify", "--floats", "always")
    calls = _calls(out / "snapshots.json")
    assert calls and all(line in printed for p, line, _ in calls if p != "twice"), run.stderr


@pytest.fixture(scope="module")
def newest_binary() -> Path:
    return build_go(FLOATS, go_versions()[-1])


def test_a_frame_that_is_not_the_hits_leaves_the_floats_unavailable(
    newest_binary: Path, tmp_path: Path
) -> None:
    """Fault injection: BPF expects the PC after the probed instruction plus one,
    so no signal frame passes the check."""
    run, out, _ = _run(tmp_path, newest_binary, "plain", env={"GODI_FAULT_FLOATS_SKEW": "1"})
    calls = _calls(out / "snapshots.json")
    assert calls and all(line is None and missing for _, line, missing in calls)
    assert "the signal frame is not the hit's" in run.stderr
    assert "floats in vector registers: 0 read" in run.stderr


def test_only_captured_hits_are_signalled(newest_binary: Path, tmp_path: Path) -> None:
    """With the probes' default rate (one snapshot a second), most hits are not
    captured: only the captured ones are signalled, each once."""
    out = tmp_path / "run"
    probes = str(FLOATS / "probes.json")
    run = godi("run", "--probes", probes, "-o", str(out), "--", str(newest_binary), "load")
    assert run.returncode == 0, run.stderr
    snapshots = json.loads((out / "snapshots.json").read_text())
    hits = 2 * 8 * 40  # entry and return of 8 functions, 40 rounds
    line = next(ln for ln in run.stderr.splitlines() if "captured hits signalled" in ln)
    signalled, frames = (int(w) for w in line.split() if w.isdigit())
    # Each signalled hit's frame read; at most the captured hits (entries and
    # returns of the snapshots), a small part of all hits.
    assert 0 < signalled == frames <= 2 * len(snapshots) < hits // 4


def test_never_turns_floats_off(newest_binary: Path, tmp_path: Path) -> None:
    run, out, _ = _run(tmp_path, newest_binary, "plain", "--floats", "never")
    calls = _calls(out / "snapshots.json")
    assert calls and all(line is None for _, line, _ in calls)
    assert "--floats never" in run.stderr


CGO = REPO / "tests" / "progs" / "floatscgo"


@pytest.mark.parametrize("version", go_versions())
def test_floats_on_cgo_threads(version: str, tmp_path: Path) -> None:
    """scaled(x float64, k float32) called from goroutines and from threads C made,
    calling back into Go: every value is the program's own."""
    binary = build_go(CGO, version)
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    out = tmp_path / "run"
    run = godi("run", "--probes", str(CGO / "probes.json"), "-o", str(out), "--", str(binary))
    assert run.returncode == plain.returncode == 0, run.stderr
    # Threads interleave: the same lines, maybe in another order.
    assert sorted(run.stdout.splitlines()) == sorted(plain.stdout.splitlines())
    printed = set(plain.stdout.splitlines())
    snapshots = json.loads((out / "snapshots.json").read_text())
    assert len(snapshots) == 40
    for s in snapshots:
        captures = s["debugger"]["snapshot"]["captures"]
        a = {k: _value(v) for k, v in captures["entry"]["arguments"].items()}
        r = _value(captures["return"]["locals"]["@return"])
        assert f"scaled({a['x']}, {a['k']}) = {r}" in printed
    assert "floats in vector registers: 120 read\n" in run.stderr
