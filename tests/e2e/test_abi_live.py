"""Issue 16's register-ABI cases, live on the Go versions of the tests: tests/progs/abi
calls each function once and prints what it passed and got back; the snapshots must
show those values (expectations from the program's output, not godi's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, go_versions
from godi_cli import run_probed

ABI = REPO / "tests" / "progs" / "abi"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(the program's own output lines as key=value, snapshots by probe id)."""
    out: Path = tmp_path_factory.mktemp(f"abi-{request.param}")
    stdout, snapshots = run_probed(ABI, str(request.param), out)
    said: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        key, _, value = line.partition("=")
        said.setdefault(key, []).append(value)
    by: dict[str, list[dict[str, Any]]] = {}
    for s in snapshots:
        by.setdefault(s["debugger"]["snapshot"]["probe"]["id"], []).append(s)
    return said, by


def _args(s: dict[str, Any]) -> dict[str, Any]:
    return s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]


def _ret(s: dict[str, Any]) -> dict[str, Any]:
    return s["debugger"]["snapshot"]["captures"]["return"]["locals"]


def test_string_passed_on_the_stack(run: Any) -> None:
    said, by = run
    (s,) = by["stackString"]
    assert _args(s)["s"] == {"type": "string", "value": said["stackString.s"][0]}
    assert _args(s)["a12"] == {"type": "int", "value": "12"}


def test_slice_of_structs_on_the_stack_has_its_elements(run: Any) -> None:
    said, by = run
    (s,) = by["stackSlice"]
    elems = _args(s)["elems"]
    want = json.loads(said["stackSlice.elems"][0])
    assert elems["size"] == str(len(want))
    got = [
        {"A": int(e["fields"]["A"]["value"]), "B": e["fields"]["B"]["value"]}
        for e in elems["elements"]
    ]
    assert got == want
    assert [e["value"] for e in _args(s)["arr"]["elements"]] == ["1", "2", "3", "4"]


def test_unused_bool_on_the_stack(run: Any) -> None:
    said, by = run
    (s,) = by["unusedStackBool"]
    assert _args(s)["flag"] == {"type": "bool", "value": said["unusedStackBool.flag"][0]}


def test_unnamed_results_with_a_defer_once_each_and_right(run: Any) -> None:
    said, by = run
    (s,) = by["deferred"]
    r0, r1, r2 = said["deferred"][0].split(",")
    fields = _ret(s)["@return"]["fields"]
    assert fields == {
        "r0": {"type": "int", "value": r0},
        "r1": {"type": "string", "value": r1},
        "r2": {"type": "error", "isNull": True},
    }
    assert r2 == "<nil>"
    assert s["message"].count("r0=") == 1 and s["message"].endswith('-> (r0=42, r1="done", r2=nil)')


def test_zero_size_values(run: Any) -> None:
    said, by = run
    (s,) = by["zeroSize"]
    a = _args(s)
    assert a["w"]["fields"]["data"] == {"type": "io.discard", "fields": {}}
    assert a["empty"] == {"type": "[0]int", "elements": [], "size": "0"}
    assert a["n"] == {"type": "int", "value": said["zeroSize.n"][0]}


def test_bare_ret_body_pairs_each_call_with_its_result(run: Any) -> None:
    """``identity`` is one RET instruction: entry and return probes share it."""
    said, by = run
    got = [(_args(s)["x"]["value"], _ret(s)["@return"]["value"]) for s in by["identity"]]
    assert got == [(v, v) for v in said["identity"]]
    assert all("evaluationErrors" not in s["debugger"]["snapshot"] for s in by["identity"])


def test_type_names_without_linker_escapes(run: Any) -> None:
    said, by = run
    (s,) = by["escaped"]
    v = _args(s)["v"]
    assert v["type"] == "abi/lib.v2.V2Type"  # the import path; Go's %T prints the package name
    assert said["escaped"] == ["lib.V2Type"]
    assert v["fields"]["N"] == {"type": "int", "value": "4"}


def _strings(value: Any) -> Any:
    """A captured array/struct of strings as plain JSON (arrays as lists)."""
    if "elements" in value:
        return [_strings(e) for e in value["elements"]]
    if "fields" in value:
        return {k: _strings(v) for k, v in value["fields"].items()}
    assert "notCapturedReason" not in value, value
    return value["value"]


def test_more_references_than_one_entry_holds_are_all_captured(run: Any) -> None:
    """175 strings in the arguments: past the walker's 128 references per entry
    (they were unavailable), and in an array of 3 structs of 13 strings each."""
    said, by = run
    (s,) = by["manyStrings"]
    want = json.loads(said["manyStrings"][0])
    a = _args(s)
    assert "evaluationErrors" not in s["debugger"]["snapshot"]
    assert _strings(a["w"]) == want["w"]
    assert _strings(a["grid"]) == want["grid"]
    assert _strings(a["last"]) == want["last"]


def test_a_zero_size_argument_aligns_the_stack_arguments_after_it(run: Any) -> None:
    """The compiler stack-assigns a zero-size argument, aligned: ``b`` comes after
    ``z``'s alignment (8), where DWARF puts it at 2 (b read 92, 116: other bytes)."""
    said, by = run
    (s,) = by["zeroSizeGap"]
    h, b = said["zeroSizeGap"][0].split(",")
    a = _args(s)
    assert a["h"] == {"type": "int16", "value": h}
    assert a["z"] == {"type": "[0]float64", "elements": [], "size": "0"}
    assert a["b"] == {"type": "uint8", "value": b}


def test_forty_maps_with_string_keys_in_one_event(run: Any) -> None:
    """Each map's bucket or group is key-guarded, one walker step each, and the
    event holds all forty (when a guard took a round of its own, past 33 it was
    cut: capture budget exhausted)."""
    said, by = run
    (s,) = by["manyMaps"]
    assert "evaluationErrors" not in s["debugger"]["snapshot"]
    want = json.loads(said["manyMaps"][0])
    got = [
        {e[0]["value"]: int(e[1]["value"]) for e in m["entries"]}
        for m in _args(s)["ms"]["elements"]
    ]
    assert got == want


def test_an_argument_over_four_kib_on_the_stack(run: Any) -> None:
    """A [12][12]struct of 4,608 bytes: it did not fit the capture root (4 KiB) and
    was unavailable."""
    said, by = run
    (s,) = by["bigStack"]
    want = json.loads(said["bigStack"][0])
    got = [
        [
            {
                "A": e["fields"]["A"]["value"] == "true",
                "S": e["fields"]["S"]["value"],
                "N": int(e["fields"]["N"]["value"]),
            }
            for e in row["elements"]
        ]
        for row in _args(s)["grid"]["elements"]
    ]
    assert got == want
    assert _args(s)["n"] == {"type": "int", "value": "7"}


def test_a_value_several_times_the_old_walker_budget(run: Any) -> None:
    """80 records of seven strings and a map each: about three times the steps and
    the queued references and twice the bytes one event's walk had before bpf_loop
    (1,320, 256, 32 KiB; on Go 1.27: 4,100 steps, 640, 75 KiB), captured whole;
    "password" entries stay redacted. It was cut: capture budget exhausted."""
    said, by = run
    (s,) = by["bigGraph"]
    assert "evaluationErrors" not in s["debugger"]["snapshot"]
    want = json.loads(said["bigGraph"][0])
    recs = _args(s)["recs"]
    assert recs["size"] == str(len(want)) == "80"
    got = []
    for e in recs["elements"]:
        f = e["fields"]
        attrs = {}
        for k, v in f["Attrs"]["entries"]:
            if k["value"] == "password":
                assert v == {"type": "string", "notCapturedReason": "redactedIdent"}
                v = {"value": "redacted"}
            attrs[k["value"]] = v["value"]
        got.append(
            {
                "ID": int(f["ID"]["value"]),
                "Name": f["Name"]["value"],
                "Tags": [t["value"] for t in f["Tags"]["elements"]],
                "Attrs": attrs,
            }
        )
    for r in want:
        if "password" in r["Attrs"]:
            r["Attrs"]["password"] = "redacted"
    assert got == want
    assert sum("password" in r["Attrs"] for r in got) == 8


def _reasons(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["notCapturedReason"]] if "notCapturedReason" in value else []
        return own + [r for v in value.values() for r in _reasons(v)]
    if isinstance(value, list):
        return [r for v in value for r in _reasons(v)]
    return []


def test_values_cut_by_depth_say_depth(run: Any) -> None:
    """maxReferenceDepth 1: the map inside the interface is shown, the interfaces it
    holds are one hop deeper and say "depth" (they said "unavailable")."""
    _, by = run
    (s,) = by["nested"]
    v = _args(s)["v"]
    assert v["fields"]["data"]["type"] == "map[string]interface {}"
    reasons = _reasons(v)
    assert reasons and set(reasons) == {"depth"}
