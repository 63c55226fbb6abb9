"""Every Go kind captured live from tests/progs/types, on every pinned Go: maps in
both runtime layouts, channels, funcs, interfaces, generics and methods."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi
from golden import GOLDEN_DIR, check_golden, normalise_snapshot

from stages.status import read_dump_summary

TYPES = REPO / "tests" / "progs" / "types"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def types_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The types program under every probe of its probe file: (Go version, output
    dir, snapshots by probe id)."""
    binary = build_go(TYPES, str(request.param))
    out = tmp_path_factory.mktemp(f"types-{request.param}")
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    run = godi(
        "run",
        "--no-live",  # stdout: the program's own, compared below
        "--probes",
        str(TYPES / "probes.json"),
        "-o",
        str(out),
        "--",
        str(binary),
        timeout=600,
    )
    assert run.returncode == plain.returncode == 0, run.stderr
    assert run.stdout == plain.stdout  # the program's output is unchanged
    by: dict[str, list[dict[str, Any]]] = {}
    for s in json.loads((out / "snapshots.json").read_text()):
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
        by.setdefault(s["debugger"]["snapshot"]["probe"]["id"], []).append(s)
    return str(request.param), out, by


@pytest.fixture(scope="module")
def snaps(types_run: Any) -> Any:
    return types_run[2]


def test_map_values_under_sensitive_string_keys_are_redacted(types_run: Any) -> None:
    """Decoding the same dump with ``two`` declared a redacted identifier hides the
    value of the map entry whose key is "two" (and only that one)."""
    _, out, _ = types_run
    decode = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages",
            "decode",
            "--ir",
            str(out / "ir.json"),
            "--program",
            str(out / "prog"),
            str(out / "events.dump"),
            "--service",
            "types",
            "-o",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DD_DYNAMIC_INSTRUMENTATION_REDACTED_IDENTIFIERS": "two"},
    )
    assert decode.returncode == 0, decode.stderr
    (maps,) = [
        s for s in json.loads(decode.stdout) if s["debugger"]["snapshot"]["probe"]["id"] == "maps"
    ]
    entries = {
        k["value"]: v
        for k, v in maps["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["m"]["entries"]
    }
    assert entries["two"] == {"type": "int", "notCapturedReason": "redactedIdent"}
    assert entries["one"] == v("int", "1")


def args(s: dict[str, Any]) -> dict[str, Any]:
    return s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]


def v(t: str, value: str) -> dict[str, str]:
    return {"type": t, "value": value}


def test_maps_in_either_runtime_layout(snaps: Any) -> None:
    a = args(snaps["maps"][0])
    m = a["m"]
    assert m["type"] == "map[string]int" and m["size"] == "2"
    assert sorted((k["value"], e["value"]) for k, e in m["entries"]) == [("one", "1"), ("two", "2")]
    ((k, p),) = a["mp"]["entries"]
    assert k == v("int", "1") and p["fields"]["Tag"] == v("string", "seven")
    ((key, val),) = a["big"]["entries"]
    assert [e["value"] for e in key["elements"]] == ["1", "2", "3"]
    assert val["fields"]["Small"] == v("int8", "-3")
    ((ik, iv),) = a["indirect"]["entries"]  # keys and values stored behind pointers
    assert ik["elements"][0] == v("int64", "1") and iv["elements"][0] == v("int64", "2")


def test_channels_funcs_interfaces(snaps: Any) -> None:
    ch = args(snaps["channels"][0])
    assert (ch["ch"]["len"], ch["ch"]["cap"]) == ("1", "4")
    assert (ch["recv"]["len"], ch["recv"]["cap"]) == ("0", "2")
    assert ch["ch"]["fields"]["closed"] == v("bool", "false")
    fn = args(snaps["funcs"][0])
    assert fn["fn"] == v("func(int) int", "main.makeAdder.func1")
    assert fn["cb"] == v("func()", "main.main.func1")
    it = args(snaps["interfaces"][0])
    data = it["e"]["fields"]["data"]
    assert data["type"] == "*main.Base" and data["fields"]["ID"] == v("int32", "7")
    assert it["s"]["fields"]["data"] == v("main.Celsius", "21.5")


def test_generics_and_methods(snaps: Any) -> None:
    largest = {s["logger"]["method"]: s for s in snaps["largest"]}
    ints = largest["Largest[go.shape.int]"]
    assert [e["value"] for e in args(ints)["xs"]["elements"]] == ["3", "9", "4"]
    ret = ints["debugger"]["snapshot"]["captures"]["return"]["locals"]["@return"]
    assert ret["value"] == "9"
    strs = largest["Largest[go.shape.string]"]
    assert strs["debugger"]["snapshot"]["captures"]["return"]["locals"]["@return"]["value"] == "zz"
    # Types are named from the dictionary, not go.shape.*; .dict itself is not shown.
    assert args(ints)["xs"]["type"] == "[]int"
    assert {e["type"] for e in args(ints)["xs"]["elements"]} == {"int"}
    assert ret["type"] == "int" and ".dict" not in args(ints)
    assert args(strs)["xs"]["type"] == "[]string"
    (pair,) = snaps["pair"]
    assert args(pair) == {"k": v("string", "answer"), "v": v("int", "42")}
    made = pair["debugger"]["snapshot"]["captures"]["return"]["locals"]["@return"]
    assert made["type"] == "main.Pair[string,int]"
    assert made["fields"] == {"Key": v("string", "answer"), "Val": v("int", "42")}
    assert pair["message"].startswith(
        'main.MakePair[go.shape.string,go.shape.int](k="answer", v=42)'
    )
    assert args(snaps["value-method"][0])["c"]["fields"]["N"] == v("int", "5")
    assert args(snaps["pointer-method"][0])["c"]["type"] == "*main.Counter"


def test_scalars_strings_and_pointers(snaps: Any) -> None:
    i = args(snaps["integers"][0])
    assert i["i8"] == v("int8", "-8") and i["up"] == v("uintptr", "0xbeef")
    t = args(snaps["text"][0])
    assert t["s"] == v("string", "héllo") and t["r"] == v("int32", "233")
    p = args(snaps["pointers"][0])
    assert p["pp"]["fields"]["*"]["fields"]["Tag"] == v("string", "seven")


def test_every_condition_operator_on_real_values(tmp_path: Any) -> None:
    """tests/progs/types/conditions.json: one probe per operator, named t_* when its
    condition holds on the program's values and f_* when it does not."""
    binary = build_go(TYPES, go_versions()[-1])
    conditions = TYPES / "conditions.json"
    run = godi(
        "run",
        "--probes",
        str(conditions),
        "-o",
        str(tmp_path),
        "--",
        str(binary),
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    ids = [p["id"] for p in json.loads(conditions.read_text())]
    emitted = []
    for s in json.loads((tmp_path / "snapshots.json").read_text()):
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
        assert "evaluationErrors" not in s["debugger"]["snapshot"], s
        emitted.append(s["debugger"]["snapshot"]["probe"]["id"])
    assert sorted(emitted) == sorted(i for i in ids if i.startswith("t_"))
    # The conditions on scalars in registers were decided in BPF: a false one
    # stops the hit there (counted), a true one goes on to decode.
    layout = json.loads((tmp_path / "prog" / "layout.json").read_text())
    decided = {p["probe_id"]: p["index"] for p in layout["probes"] if p.get("decided")}
    assert {"t_ge", "f_lt", "t_ne", "f_le", "t_or", "f_and", "t_not_null", "f_null"} <= set(decided)
    assert "t_len" not in decided and "t_startsWith" not in decided  # maps, string contents
    counters = read_dump_summary(tmp_path / "events.dump").counters
    assert counters is not None
    for probe_id, index in decided.items():
        c = counters.probes[str(index)]
        met = probe_id.startswith("t_")
        assert (c.emitted, c.condition_false) == ((1, 0) if met else (0, 1)), probe_id


def test_golden(types_run: Any, update_goldens: bool) -> None:
    """Every value kind, method and generic probe of the types program, per Go
    version (the order of snapshots is the program's call order)."""
    version, out, _ = types_run
    snapshots = json.loads((out / "snapshots.json").read_text())
    path = GOLDEN_DIR / "types" / f"all.go{version}.{platform.machine()}.json"
    check_golden(path, [normalise_snapshot(s) for s in snapshots], update_goldens)
