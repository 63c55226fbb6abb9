"""Conditions, templates, capture expressions and log probes on real Go values."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi
from golden import GOLDEN_DIR, check_golden

EXAMPLE = REPO / "tests" / "progs" / "example"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    version = str(request.param)
    binary = build_go(EXAMPLE, version)
    out = tmp_path_factory.mktemp(f"semantics-{version}")
    result = godi(
        "run",
        "--probes",
        str(EXAMPLE / "semantics.json"),
        "-o",
        str(out),
        "--service",
        "example",
        "--",
        str(binary),
    )
    assert result.returncode == 0, result.stderr
    snapshots = json.loads((out / "snapshots.json").read_text())
    for s in snapshots:
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
    return version, snapshots


def of(snapshots: list[dict[str, Any]], probe: str) -> list[dict[str, Any]]:
    return [s for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == probe]


def test_condition_false_emits_nothing(run: Any) -> None:
    _, snapshots = run
    # walk is called twice; only the call on the list has n.Val == 1.
    (s,) = of(snapshots, "walk-nonnil")
    assert s["message"] == "walk from one got 15"
    ret = s["debugger"]["snapshot"]["captures"]["return"]
    assert ret["captureExpressions"] == {"second": {"type": "string", "value": "two"}}


def test_nil_dereference_in_a_condition_is_reported(run: Any) -> None:
    _, snapshots = run
    ok, failed = of(snapshots, "walk-nil-deref")
    assert "evaluationErrors" not in ok["debugger"]["snapshot"]
    assert failed["debugger"]["snapshot"]["evaluationErrors"] == [
        {"expr": "n.Val > 0", "message": "nil pointer dereference"}
    ]
    assert "captures" not in failed["debugger"]["snapshot"]


def test_log_probe_has_a_message_and_no_captures(run: Any) -> None:
    _, snapshots = run
    (s,) = of(snapshots, "greet-log")
    assert s["message"] == "greeting gopher x2"
    assert "captures" not in s["debugger"]["snapshot"]
    assert "stack" not in s["debugger"]["snapshot"]


def test_messages_golden(run: Any, update_goldens: bool) -> None:
    version, snapshots = run
    messages = sorted((s["debugger"]["snapshot"]["probe"]["id"], s["message"]) for s in snapshots)
    path = GOLDEN_DIR / "semantics" / f"messages.go{version}.{platform.machine()}.json"
    check_golden(path, messages, update_goldens)


def test_log_probe_rate_limit_counts_what_it_suppresses(tmp_path: Path) -> None:
    binary = build_go(REPO / "tests" / "progs" / "bench", go_versions()[-1])
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {
                    "id": "log",
                    "where": {"methodName": "main.scalars"},
                    "template": "a={a}",
                    "segments": [{"str": "a="}, {"dsl": "a", "json": {"ref": "a"}}],
                },
            ]
        )
    )
    out = tmp_path / "out"
    # Every call trapped (--always-armed): what is suppressed is counted, so the
    # counts add up to the program's calls; disarmed, the calls made while the
    # probe was out would be in no count (tests/e2e/test_disarm_live.py).
    result = godi(
        "run",
        "--always-armed",
        "--probes",
        str(probes),
        "-o",
        str(out),
        "--",
        str(binary),
        "scalars",
        "20000",
    )
    assert result.returncode == 0, result.stderr
    emitted = len(json.loads((out / "snapshots.json").read_text()))
    line = next(x for x in result.stderr.splitlines() if "over the rate limit" in x)
    suppressed = int(line.split(", ")[-1].split()[0])
    assert emitted + suppressed == 20000
    # 5000/s with a 1 s burst, over however long the run took (every call traps:
    # seconds on a loaded machine); the snapshots' timestamps (ms) say how long.
    stamps = [
        s["debugger"]["snapshot"]["timestamp"]
        for s in json.loads((out / "snapshots.json").read_text())
    ]
    seconds = (max(stamps) - min(stamps)) / 1000
    assert 0 < emitted <= 5000 + 5000 * (seconds + 0.1), seconds
    assert suppressed > 0
