"""The bundled example, end to end on a real kernel: build it with each pinned Go,
run ``godi run`` on it (real uprobes), and check the snapshots value by value."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi
from golden import GOLDEN_DIR, check_golden, normalise_snapshot

EXAMPLE = REPO / "tests" / "progs" / "example"
PROBES = EXAMPLE / "probes.json"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    version = str(request.param)
    binary = build_go(EXAMPLE, version)
    out = tmp_path_factory.mktemp(f"example-{version}")
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    run = godi(
        "run",
        "--no-live",  # stdout: the program's own, compared below
        "--probes",
        str(PROBES),
        "-o",
        str(out),
        "--service",
        "example",
        "--tags",
        "env:test",
        "--",
        str(binary),
    )
    snapshots = json.loads((out / "snapshots.json").read_text()) if run.returncode == 0 else []
    return version, plain, run, snapshots


def by_probe(snapshots: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in snapshots:
        out.setdefault(s["debugger"]["snapshot"]["probe"]["id"], []).append(s)
    return out


def args_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    return snapshot["debugger"]["snapshot"]["captures"]["entry"]["arguments"]


def val(type_: str, value: str) -> dict[str, str]:
    return {"type": type_, "value": value}


def test_run_succeeds_and_target_output_unchanged(captured: Any) -> None:
    _, plain, run, _ = captured
    assert run.returncode == 0, run.stderr
    assert run.stdout == plain.stdout
    assert "probe missing: function_not_found: no function main.doesNotExist" in run.stderr


def test_every_snapshot_validates(captured: Any) -> None:
    *_, snapshots = captured
    assert len(snapshots) == 9
    for s in snapshots:
        jsonschema.validate(s, SNAPSHOT_SCHEMA)


def test_envelope(captured: Any) -> None:
    *_, snapshots = captured
    s = by_probe(snapshots)["greet"][0]
    assert s["service"] == "example"
    assert s["ddsource"] == "dd_debugger"
    assert s["ddtags"] == "env:test"
    assert s["logger"] == {
        "name": "main",
        "method": "greet",
        "version": 1,
        "thread_id": s["logger"]["thread_id"],
        "thread_name": "",
    }
    assert s["logger"]["thread_id"] >= 1  # the main goroutine
    body = s["debugger"]["snapshot"]
    assert body["language"] == "go"
    assert body["probe"]["id"] == "greet" and body["probe"]["version"] == 1
    assert body["probe"]["location"]["method"] == "main.greet"
    assert body["timestamp"] == s["timestamp"] > 1_700_000_000_000
    assert s["message"].startswith('main.greet(name="gopher", times=2)')


def test_integer_and_bool_arguments(captured: Any) -> None:
    *_, snapshots = captured
    a = args_of(by_probe(snapshots)["scalars"][0])
    assert a["i8"] == val("int8", "-8")
    assert a["i16"] == val("int16", "-16")
    assert a["i32"] == val("int32", "-32")
    assert a["i64"] == val("int64", "-64")
    assert a["i"] == val("int", "-1")
    assert a["u8"] == val("uint8", "8")
    assert a["u16"] == val("uint16", "16")
    assert a["u32"] == val("uint32", "32")
    assert a["u64"] == val("uint64", "64")
    # u, b and up do not fit the nine integer registers: passed on the stack.
    assert a["u"] == val("uint", "1")
    assert a["b"] == val("bool", "true")
    assert a["up"] == val("uintptr", "0xdead")
    # Floats in XMM registers: read from the signal frame of the hit (capture.floats),
    # the literals main passes.
    assert a["f32"] == val("float32", "1.5")
    assert a["f64"] == val("float64", "-2.25")


def test_strings_and_register_split_structs(captured: Any) -> None:
    *_, snapshots = captured
    probes = by_probe(snapshots)
    assert args_of(probes["greet"][0]) == {
        "name": val("string", "gopher"),
        "times": val("int", "2"),
    }
    assert args_of(probes["move"][0]) == {
        "p": {"type": "main.Point", "fields": {"X": val("int32", "3"), "Y": val("int32", "-4")}},
        "dx": val("int32", "10"),
    }
    m = args_of(probes["weigh"][0])["m"]
    assert m["type"] == "main.Mixed"
    assert m["fields"]["ID"] == val("uint16", "7")
    assert m["fields"]["Ok"] == val("bool", "true")
    assert m["fields"]["Label"] == val("string", "crate")
    # Weight is in X0, which weigh's first instruction overwrites with Go 1.27
    # (CVTSS2SD X0, X0): there it is unavailable, never the converted value.
    assert m["fields"]["Weight"] in (
        val("float32", "2.5"),
        {"type": "float32", "notCapturedReason": "unavailable"},
    )
    assert m["fields"]["Scale"] == val("float64", "0.5")
    assert args_of(probes["weigh"][0])["factor"] == val("float64", "4")
    assert list(m["fields"]) == ["ID", "Ok", "Weight", "Label", "Scale"]


def test_stack_passed_struct_with_array_and_pointer(captured: Any) -> None:
    *_, snapshots = captured
    s = args_of(by_probe(snapshots)["describe"][0])["s"]
    assert s["type"] == "main.Shape"
    assert s["fields"]["Name"] == val("string", "square")
    corners = s["fields"]["Corners"]
    assert corners["type"] == "[4]main.Point" and corners["size"] == "4"
    assert [
        (c["fields"]["X"]["value"], c["fields"]["Y"]["value"]) for c in corners["elements"]
    ] == [("0", "0"), ("0", "2"), ("2", "2"), ("2", "0")]
    origin = s["fields"]["Origin"]
    assert origin["type"] == "*main.Point"
    assert origin["address"].startswith("0x")
    assert origin["fields"] == {"X": val("int32", "1"), "Y": val("int32", "1")}


def test_array_argument(captured: Any) -> None:
    *_, snapshots = captured
    xs = args_of(by_probe(snapshots)["sum"][0])["xs"]
    assert xs == {
        "type": "[3]int",
        "size": "3",
        "elements": [val("int", "10"), val("int", "20"), val("int", "30")],
    }


def test_pointer_chain_stops_at_max_reference_depth(captured: Any) -> None:
    *_, snapshots = captured
    walks = by_probe(snapshots)["walk"]
    n = args_of(walks[0])["n"]
    names = []
    while "fields" in n:
        names.append(n["fields"]["Name"]["value"])
        n = n["fields"]["Next"]
    assert names == ["one", "two", "three"]  # maxReferenceDepth 3
    assert n["type"] == "*main.Node"
    assert n["notCapturedReason"] == "depth"
    assert n["address"].startswith("0x")
    assert args_of(walks[1]) == {"n": {"type": "*main.Node", "isNull": True}}


def test_method_on_pointer_receiver(captured: Any) -> None:
    *_, snapshots = captured
    s = by_probe(snapshots)["checkout"][0]
    assert s["logger"]["method"] == "(*Cart).Checkout"
    c = args_of(s)["c"]
    assert c["type"] == "*main.Cart"
    assert c["fields"]["Owner"] == val("string", "ada")
    items = c["fields"]["Items"]["elements"]
    assert [i["fields"]["SKU"]["value"] for i in items] == ["apple", "pear"]
    assert items[0]["fields"]["Qty"] == val("int", "3")
    assert items[1]["fields"]["PriceEUR"] == val("float64", "1.25")  # a float in memory
    assert c["fields"]["Coupon"]["type"] == "*string"
    assert c["fields"]["Coupon"]["value"] == "SPRING"


def test_golden(captured: Any, update_goldens: bool) -> None:
    version, _, _, snapshots = captured
    path = GOLDEN_DIR / "example" / f"entry.go{version}.{platform.machine()}.json"
    check_golden(path, [normalise_snapshot(s) for s in snapshots], update_goldens)


def returned(snapshot: dict[str, Any]) -> Any:
    return snapshot["debugger"]["snapshot"]["captures"]["return"]["locals"]["@return"]


def test_return_values_and_duration(captured: Any) -> None:
    *_, snapshots = captured
    probes = by_probe(snapshots)
    assert returned(probes["scalars"][0]) == val("int64", "57004")
    assert returned(probes["greet"][0]) == val("string", "hello gopher! hello gopher! ")
    assert returned(probes["move"][0]) == {
        "type": "main.Point",
        "fields": {"X": val("int32", "13"), "Y": val("int32", "-4")},
    }
    assert returned(probes["sum"][0]) == val("int", "60")
    assert [returned(w) for w in probes["walk"]] == [val("int", "15"), val("int", "0")]
    # A float result is in X0: read at the RET from the signal frame; main prints it.
    assert returned(probes["weigh"][0]) == val("float64", "5")
    assert "weigh: 5\n" in captured[1].stdout
    for s in snapshots:
        assert 0 < s["duration"] < 1_000_000_000
        assert "evaluationErrors" not in s["debugger"]["snapshot"]
    assert probes["greet"][0]["message"] == (
        'main.greet(name="gopher", times=2) -> "hello gopher! hello gopher! "'
    )


def test_line_probe_captures_the_locals_live_there(tmp_path: Path) -> None:
    binary = build_go(EXAMPLE, go_versions()[-1])
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {
                    "id": "walkloop",
                    "where": {"sourceFile": "example/main.go", "lines": ["104"]},
                    "captureSnapshot": True,
                    "sampling": {"snapshotsPerSecond": 1000},
                },
                {"id": "nowhere", "where": {"sourceFile": "main.go", "lines": ["9999"]}},
            ]
        )
    )
    out = tmp_path / "out"
    run = godi("run", "--probes", str(probes), "-o", str(out), "--", str(binary))
    assert run.returncode == 0, run.stderr
    assert "probe nowhere: line_not_found" in run.stderr
    snapshots = json.loads((out / "snapshots.json").read_text())
    vals = []
    for s in snapshots:
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
        scope = s["debugger"]["snapshot"]["captures"]["lines"]["104"]
        vals.append(scope["arguments"]["n"]["fields"]["Val"]["value"])
        assert s["message"].startswith("main.walk:104(")
    assert vals == ["1", "2", "3", "4", "5"]  # once per loop iteration
