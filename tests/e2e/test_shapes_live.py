"""Output shapes as Datadog writes them, live from tests/progs/shapes, with a
golden (one for every Go version: none of these shapes depends on it).

- several results: ``@return`` is ``{"fields": {...}}``, without a ``type``;
- a pointer to a map carries the map's ``size`` and ``entries`` itself, as every
  pointer carries its pointee's members (not under ``fields."*"``);
- blank ``_`` struct fields are left out, of values and of messages;
- in a template, a pointer past the reference depth is
  ``{pointer: not captured at 0x...}``, and a zero-length array ``[]``.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi
from golden import GOLDEN_DIR, check_golden, normalise_snapshot

PROG = REPO / "tests" / "progs" / "shapes"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def shapes_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(the program's output, snapshots by probe id)."""
    binary = build_go(PROG, str(request.param))
    out = tmp_path_factory.mktemp(f"shapes-{request.param}")
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    probes = str(PROG / "probes.json")
    run = godi("run", "--probes", probes, "-o", str(out), "--", str(binary), timeout=600)
    assert run.returncode == plain.returncode == 0, run.stderr
    assert run.stdout == plain.stdout
    by: dict[str, dict[str, Any]] = {}
    for s in json.loads((out / "snapshots.json").read_text()):
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
        by[s["debugger"]["snapshot"]["probe"]["id"]] = s
    assert sorted(by) == ["shapes", "shapes-template"]
    return plain.stdout, by


def test_values_are_the_program_s(shapes_run: Any) -> None:
    stdout, by = shapes_run
    count, label, err = stdout.split()
    captures = by["shapes"]["debugger"]["snapshot"]["captures"]
    returned = captures["return"]["locals"]["@return"]
    assert "type" not in returned
    fields = returned["fields"]
    assert (fields["count"]["value"], fields["label"]["value"], err) == (count, label, "<nil>")
    pm = captures["entry"]["arguments"]["pm"]
    assert (pm["type"], pm["size"], "fields" in pm) == ("*map[string]int", "2", False)
    b = captures["entry"]["arguments"]["b"]
    assert list(b["fields"]) == ["A", "B"]
    message = by["shapes-template"]["message"]
    assert "{pointer: not captured at 0x" in message
    assert " empty=[] " in message


def test_golden(shapes_run: Any, update_goldens: bool) -> None:
    _, by = shapes_run
    shown = {
        probe: {
            "message": normalise_snapshot(s)["message"],
            "captures": normalise_snapshot(s)["debugger"]["snapshot"]["captures"],
        }
        for probe, s in sorted(by.items())
    }
    check_golden(GOLDEN_DIR / "shapes" / "shapes.json", shown, update_goldens)
