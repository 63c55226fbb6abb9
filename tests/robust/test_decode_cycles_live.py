"""Go's own cycles, live: encoding/json's ``TestUnsupportedValues`` marshals a map
holding itself through an ``any`` (``mapCycle["x"] = mapCycle``), a ``[]any``
holding itself, a ``[]RecursiveSlice`` and two pointer cycles. With a probe on
``encoding/json.Marshal`` decode used to die with RecursionError (no
snapshots.json at all). Every call must now give its snapshot, with each cycle
cut at its second visit as ``circular reference``; the C and the Python
renderers agree. The number of calls comes from the Go test itself (its
``-test.v`` lines, one per value, each of which it passes to Marshal once).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from gobuild import build_go_test, go_versions
from godi_cli import godi, godi_env

pytestmark = pytest.mark.live

CUT = '"notCapturedReason": "circular reference"'


def _argument(snapshot: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = snapshot["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["v"]
    return value


def _run(tmp_path: Path, capture: dict[str, int] | None = None) -> tuple[str, Path]:
    binary = build_go_test("encoding/json", go_versions()[-1])
    probe: dict[str, Any] = {
        "id": "marshal",
        "where": {"methodName": "encoding/json.Marshal"},
        "captureSnapshot": True,
        "sampling": {"snapshotsPerSecond": 0},  # every call
    }
    if capture:
        probe["capture"] = capture
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([probe]))
    out = tmp_path / "out"
    result = godi(
        "run",
        "--probes",
        str(probes),
        "-o",
        str(out),
        "--",
        str(binary),
        "-test.run",
        "^TestUnsupportedValues$",
        "-test.v",
        "-test.count=1",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    return result.stdout, out


def test_cycles_in_marshalled_values_are_cut(tmp_path: Path) -> None:
    stdout, out = _run(tmp_path)
    calls = re.findall(r"--- PASS: TestUnsupportedValues/#\d+", stdout)
    assert calls, stdout
    snaps = json.loads((out / "snapshots.json").read_text())
    assert len(snaps) == len(calls)
    texts = [json.dumps(_argument(s)) for s in snaps]
    maps = [
        _argument(s)["fields"]["data"]
        for s in snaps
        if _argument(s)["fields"]["data"]["type"] == "map[string]interface {}"
    ]
    # mapCycle: its one entry "x" holds the same map, cut there.
    assert len(maps) == 1, texts
    [(key, inner)] = maps[0]["entries"]
    assert key == {"type": "string", "value": "x"}
    assert inner["fields"]["data"] == {
        "type": "map[string]interface {}",
        "size": "1",
        "notCapturedReason": "circular reference",
    }
    # pointerCycle, pointerCycleIndirect, mapCycle, sliceCycle, recursiveSliceCycle.
    names = ["PointerCycle", "PointerCycleIndirect", "map[string]", "[]interface", "Recursive"]
    for name in names:
        assert any(name in t and CUT in t for t in texts), (name, texts)
    assert sum(CUT in t for t in texts) == len(names)
    # The Python renderers say the same as the C fast path.
    again = out / "python.json"
    dec = godi_env(
        {"GODI_DECODE_NATIVE": "0"},
        "decode",
        "--ir",
        str(out / "ir.json"),
        "--program",
        str(out / "prog"),
        str(out / "events.dump"),
        "-o",
        str(again),
    )
    assert dec.returncode == 0, dec.stderr
    assert json.loads(again.read_text()) == snaps


def test_a_depth_of_one_cuts_at_the_first_hop(tmp_path: Path) -> None:
    _, out = _run(tmp_path, {"maxReferenceDepth": 1})
    snaps = json.loads((out / "snapshots.json").read_text())
    for s in snaps:
        data = _argument(s)["fields"]["data"]
        if data["type"] == "map[string]interface {}":
            [(_, inner)] = data["entries"]
            assert inner == {"type": "interface {}", "notCapturedReason": "depth"}
