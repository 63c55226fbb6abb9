"""Interface values whose dynamic type has no DWARF entry (issue 16), live on the
Go versions of the tests: tests/progs/dyntypes passes to ``show(label, v any)`` a
``*T`` made by reflect.New, a func, anonymous structs, an array only used in an
``any``, maps only used in an ``any``, an ``iter.Seq[int]`` (Go 1.23+) and types
reflect makes at run time; the
program prints each value's ``%T`` and its JSON (or the func's name), which the
snapshots must show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, go_versions
from godi_cli import run_probed

PROG = REPO / "tests" / "progs" / "dyntypes"
INTS = {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64"}
# Made by reflect at run time: their descriptors are not in the binary but on the
# heap, copied into the event (godi_rtype_ref).
RUN_TIME_TYPES = {
    "slice",
    "ptrptr",
    "ptrOf",
    "structOf",
    "sliceOfStruct",
    "mapOf",
    "arrayOf",
    "arrayOfSlices",
    "nested",
    "chanOf",
}

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(label -> (%T, JSON or func name) as the program printed, label -> v)."""
    out: Path = tmp_path_factory.mktemp(f"dyntypes-{request.param}")
    stdout, snapshots = run_probed(PROG, str(request.param), out)
    said = {}
    for line in stdout.splitlines():
        label, _, rest = line.partition("=")
        said[label] = tuple(rest.split("|", 1))
    got = {}
    for s in snapshots:
        args = s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
        got[args["label"]["value"]] = args["v"]
    assert set(got) == set(said)
    return said, got


def plain(v: dict[str, Any]) -> Any:
    """A captured value as the JSON the program printed of it."""
    assert "notCapturedReason" not in v, v
    if v.get("isNull"):
        return None
    if "fields" in v:
        return {k: plain(f) for k, f in v["fields"].items()}
    if "entries" in v:
        assert v["size"] == str(len(v["entries"]))
        return {str(plain(k)): plain(x) for k, x in v["entries"]}  # JSON's keys
    if "elements" in v:
        assert v["size"] == str(len(v["elements"]))
        return [plain(e) for e in v["elements"]]
    if v["type"] in INTS:
        return int(v["value"])
    return v["value"]


def test_types_only_in_descriptors_are_shown(run: Any) -> None:
    said, got = run
    checked = 0
    for label, (type_name, shown) in said.items():
        if label in RUN_TIME_TYPES:
            continue
        data = got[label]["fields"]["data"]
        assert data["type"] == type_name, label
        if type_name.startswith(("func", "iter.Seq")):
            assert data["value"] == shown, label
        else:
            assert plain(data) == json.loads(shown), label
        checked += 1
    assert checked >= 7


def test_types_made_at_run_time_are_named(run: Any) -> None:
    """Their name is what %T printed (struct tags, embedded fields, nested heap
    types); their value is not captured, and says so."""
    said, got = run
    for label in RUN_TIME_TYPES:
        assert got[label] == {
            "type": "interface {}",
            "fields": {"data": {"type": said[label][0], "notCapturedReason": "unimplemented"}},
        }, label
