"""Instrumentation must never harm the target: recursion that moves the stack,
panics, 100 goroutines, cyclic and deep graphs, huge values, nil everywhere, and
targets that exit, are killed or vanish. Real uprobes on real Go programs."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi

from stages.dump import RECORD_EVENT, RecordReader, decode_counters, read_header
from stages.layout import EVENT_HEADER_FORMAT

ROBUST = REPO / "tests" / "progs" / "robust"
PROBES = ROBUST / "probes.json"

pytestmark = pytest.mark.live


def by_probe(snapshots: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in snapshots:
        out[s["debugger"]["snapshot"]["probe"]["id"]].append(s)
    return out


def args_of(s: dict[str, Any]) -> dict[str, Any]:
    return s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]


def ret_of(s: dict[str, Any]) -> Any:
    return s["debugger"]["snapshot"]["captures"]["return"]["locals"]["@return"]


@pytest.fixture(scope="module", params=go_versions())
def robust(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    version = str(request.param)
    binary = build_go(ROBUST, version)
    out = tmp_path_factory.mktemp(f"robust-{version}")
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    run = godi(
        "run",
        "--no-live",  # stdout: the program's own, compared below
        "--probes",
        str(PROBES),
        "-o",
        str(out),
        "--",
        str(binary),
    )
    assert run.returncode == 0, run.stderr
    snapshots = json.loads((out / "snapshots.json").read_text())
    return binary, out, plain, run, by_probe(snapshots), snapshots


def test_output_and_status_unchanged(robust: Any) -> None:
    _, _, plain, run, _, snapshots = robust
    assert plain.returncode == 0
    assert run.stdout == plain.stdout
    for s in snapshots:
        jsonschema.validate(s, SNAPSHOT_SCHEMA)


def test_every_goroutine_captured_once_with_its_id(robust: Any) -> None:
    _, _, _, run, probes, _ = robust
    goids = {int(w): int(g) for w, g in re.findall(r"worker (\d+) goid (\d+)", run.stderr)}
    assert len(goids) == 100
    work = probes["work"]
    assert len(work) == 100
    seen = {}
    for s in work:
        a = args_of(s)
        worker, goid = int(a["worker"]["value"]), int(a["goid"]["value"])
        assert goid == goids[worker]
        assert s["logger"]["thread_id"] == goid  # read from runtime.g in BPF
        assert ret_of(s)["value"] == str(worker * 1000 + goid)
        seen[worker] = goid
    assert len(set(seen.values())) == 100
    assert re.search(r"captured \d+ events \(target exited with status 0\); 0 dropped", run.stderr)


def test_recursion_across_stack_growth_pairs_each_call(robust: Any) -> None:
    *_, probes, _ = robust
    calls = probes["recurse"]
    assert len(calls) == 201
    depths = set()
    for s in calls:
        depth = int(args_of(s)["depth"]["value"])
        assert int(ret_of(s)["value"]) == 200 + depth
        assert s["duration"] > 0
        depths.add(depth)
        pad = args_of(s)["pad"]
        assert pad["size"] == "64" and len(pad["elements"]) == 2  # maxCollectionSize 2
        assert pad["notCapturedReason"] == "collectionSize" and pad["truncated"] is True
        # The frame-pointer walk goes on past the copied part of the stack (each
        # frame here is over 512 bytes): every recursive caller, at its call line.
        stack = [(f["function"], f["lineNumber"]) for f in s["debugger"]["snapshot"]["stack"]]
        callers = 200 - depth
        assert stack[0][0] == "main.recurse"
        shown = min(callers, len(stack) - 1)
        assert stack[1 : 1 + shown] == [("main.recurse", 52)] * shown, depth
        if 1 + callers < len(stack):
            assert stack[1 + callers][0] != "main.recurse", depth
        else:  # cut at the walk's bound (GODI_MAX_STACK)
            assert len(stack) >= 30, depth
    assert depths == set(range(201))


def test_panics_report_the_entry_with_the_reason(robust: Any) -> None:
    *_, probes, _ = robust
    calls = sorted(probes["mayPanic"], key=lambda s: int(args_of(s)["n"]["value"]))
    assert [args_of(s)["n"]["value"] for s in calls] == ["0", "1", "2", "3"]
    for s in calls:
        n = int(args_of(s)["n"]["value"])
        body = s["debugger"]["snapshot"]
        if n % 2:
            assert "return" not in body["captures"] and "duration" not in s
            assert body["evaluationErrors"][0]["expr"] == "@return"
            assert "panic" in body["evaluationErrors"][0]["message"]
        else:
            assert ret_of(s)["value"] == str(n * 10)


def test_cycles_depth_huge_values_and_nils(robust: Any) -> None:
    *_, probes, _ = robust
    r = args_of(probes["ring"][0])["r"]
    ids = []
    while "fields" in r:
        ids.append(r["fields"]["ID"]["value"])
        r = r["fields"]["Next"]
    assert ids == ["1", "3", "2"] and r["notCapturedReason"] == "circular reference"

    d = args_of(probes["deep"][0])["d"]
    levels = []
    while "fields" in d:
        levels.append(d["fields"]["Level"]["value"])
        d = d["fields"]["Child"]
    assert levels == ["1", "2", "3"] and d["notCapturedReason"] == "depth"

    big = args_of(probes["big"][0])
    assert big["s"]["size"] == "100000" and len(big["s"]["value"]) == 255
    assert big["s"]["truncated"] is True
    assert big["xs"]["size"] == "10000" and len(big["xs"]["elements"]) == 100
    assert big["xs"]["elements"][99] == {"type": "int", "value": "99"}

    n = args_of(probes["nils"][0])
    assert n["p"] == {"type": "*main.Holder", "isNull": True}
    assert n["s"] == {"type": "[]int", "isNull": True}
    assert n["h"]["fields"]["P"] == {"type": "*int", "isNull": True}
    assert n["h"]["fields"]["S"] == {"type": "[]string", "isNull": True}
    assert ret_of(probes["nils"][0]) == {"type": "bool", "value": "true"}


def _decode(out: Path, dump: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """The snapshots `godi decode` makes of ``dump``, with ``out``'s IR and program."""
    dec = godi(
        "decode",
        "--ir",
        str(out / "ir.json"),
        "--program",
        str(out / "prog"),
        str(dump),
        "-o",
        str(tmp_path / "s.json"),
        "--service",
        "robust",
    )
    assert dec.returncode == 0, dec.stderr
    snapshots: list[dict[str, Any]] = json.loads((tmp_path / "s.json").read_text())
    return snapshots


def _start_loop(binary: Path, n: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([str(binary), "loop", str(n)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("pid ")
    return proc


def test_attach_to_a_running_pid_leaves_it_running(robust: Any, tmp_path: Path) -> None:
    binary, out, *_ = robust
    proc = _start_loop(binary, 0)
    try:
        dump = tmp_path / "events.dump"
        cap = godi(
            "capture",
            "--program",
            str(out / "prog"),
            "-o",
            str(dump),
            "--pid",
            str(proc.pid),
            "--duration",
            "1",
        )
        assert cap.returncode == 0, cap.stderr
        assert proc.poll() is None  # still running, unharmed
        ticks = [
            s
            for s in _decode(out, dump, tmp_path)
            if s["debugger"]["snapshot"]["probe"]["id"] == "tick"
        ]
        assert len(ticks) >= 20
        values = [int(args_of(s)["n"]["value"]) for s in ticks]
        assert values == list(range(values[0], values[0] + len(values)))
    finally:
        proc.kill()
        proc.wait()


def test_target_killed_during_capture_leaves_a_complete_dump(robust: Any, tmp_path: Path) -> None:
    binary, out, *_ = robust
    dump = tmp_path / "events.dump"
    cap = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stages",
            "capture",
            "--program",
            str(out / "prog"),
            "-o",
            str(dump),
            "--",
            str(binary),
            "loop",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert cap.stdout is not None
    line = cap.stdout.readline()
    target = int(line.split()[1])
    time.sleep(0.5)
    os.kill(target, signal.SIGKILL)
    _, err = cap.communicate(timeout=60)
    assert cap.returncode == 128 + signal.SIGKILL, err
    assert "target exited with status -9" in err
    assert len(_decode(out, dump, tmp_path)) >= 10
    # Every event the BPF side emitted while the loop ran is in the dump.
    with open(dump, "rb") as f:
        read_header(f)
        records = list(RecordReader(f, f.tell()))
    counters = decode_counters(records[-1].payload)
    emitted = sum(c.emitted for c in counters.probes.values())
    assert emitted == [r.kind for r in records].count(RECORD_EVENT) > 10
    assert counters.lost_records == 0


def test_attach_to_a_pid_that_is_gone(robust: Any, tmp_path: Path) -> None:
    binary, out, *_ = robust
    proc = subprocess.Popen([str(binary), "loop", "1"], stdout=subprocess.DEVNULL)
    proc.wait()
    cap = godi(
        "capture",
        "--program",
        str(out / "prog"),
        "-o",
        str(tmp_path / "e.dump"),
        "--pid",
        str(proc.pid),
    )
    assert cap.returncode == 2
    assert f"no process with PID {proc.pid}" in cap.stderr


def test_target_that_exits_while_attached(robust: Any, tmp_path: Path) -> None:
    binary, out, *_ = robust
    proc = _start_loop(binary, 800)  # exits on its own after ~8 s
    cap = godi(
        "capture",
        "--program",
        str(out / "prog"),
        "-o",
        str(tmp_path / "e.dump"),
        "--pid",
        str(proc.pid),
        "--duration",
        "20",
    )
    proc.wait()
    assert cap.returncode == 0, cap.stderr
    assert "target exited" in cap.stderr


def test_binary_wide_capture_sees_every_process(robust: Any, tmp_path: Path) -> None:
    binary, out, *_ = robust
    dump = tmp_path / "e.dump"
    cap = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stages",
            "capture",
            "--program",
            str(out / "prog"),
            "-o",
            str(dump),
            "--binary",
            str(binary),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert cap.stderr is not None
    assert "uprobes attached" in cap.stderr.readline()
    procs = [_start_loop(binary, 20) for _ in range(2)]
    for p in procs:
        p.wait()
    time.sleep(0.3)
    cap.send_signal(signal.SIGINT)  # stops the capture, which still writes a whole dump
    _, err = cap.communicate(timeout=60)
    assert cap.returncode == 0, err
    assert "(interrupted)" in err
    assert len(_decode(out, dump, tmp_path)) >= 40
    with open(dump, "rb") as f:
        read_header(f)
        tgids = {
            struct.unpack_from(EVENT_HEADER_FORMAT, r.payload)[4]
            for r in RecordReader(f, f.tell())
            if r.kind == RECORD_EVENT
        }
    # Other processes running the same binary (another test run) may show up too.
    assert {p.pid for p in procs} <= tgids


def test_max_events_keeps_exactly_that_many(robust: Any, tmp_path: Path) -> None:
    binary, out, *_ = robust
    dump = tmp_path / "e.dump"
    cap = godi(
        "capture",
        "--program",
        str(out / "prog"),
        "-o",
        str(dump),
        "--max-events",
        "5",
        "--",
        str(binary),
        "loop",
        "150",
    )
    assert cap.returncode == 0, cap.stderr
    assert "captured 5 events (max-events)" in cap.stderr
    # godi never stops what it launched: the loop ran on to its end (godi's captured
    # output only ends when the target closes it) and printed every tick.
    assert "left running" in cap.stderr
    assert cap.stdout.rstrip().endswith("done")
    with open(dump, "rb") as f:
        read_header(f)
        records = list(RecordReader(f, f.tell()))
    assert [r.kind for r in records].count(RECORD_EVENT) == 5
    # Nothing emitted goes unaccounted: the events past the limit are counted.
    counters = decode_counters(records[-1].payload)
    emitted = sum(c.emitted for c in counters.probes.values())
    assert emitted == 5 + counters.lost_records


def test_dry_run_lists_uprobes_without_loading(robust: Any) -> None:
    binary, out, *_ = robust
    dry = godi("capture", "--program", str(out / "prog"), "--dry-run", "--binary", str(binary))
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert any("main.recurse (entry)" in ln and "probe recurse" in ln for ln in lines)
    assert any("main.recurse (return)" in ln for ln in lines)
    assert all(ln.startswith(("uprobe ", "skipped probe ")) for ln in lines)


def test_rate_limits_apply_before_capture(robust: Any, tmp_path: Path) -> None:
    binary, *_ = robust
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                # Snapshot probe: Datadog's default of one per second.
                {"id": "snap", "where": {"methodName": "main.tick"}, "captureSnapshot": True},
                # Log probe on the same function: 5000 per second by default, so all pass.
                {"id": "log", "where": {"methodName": "main.tick"}},
            ]
        )
    )
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages",
            "run",
            # Every call trapped: the snap probe's refused calls are all counted
            # over the rate limit (disarmed, the untrapped ones would be in no count).
            "--always-armed",
            "--probes",
            str(probes),
            "-o",
            str(out),
            "--",
            str(binary),
            "loop",
            "150",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    snaps = by_probe(json.loads((out / "snapshots.json").read_text()))
    assert len(snaps["log"]) == 150
    # 1/s over the run: 150 calls 10 ms apart take 1.5 s, longer on a loaded
    # machine; the log probe's timestamps (every call) say how long it took.
    stamps = [s["debugger"]["snapshot"]["timestamp"] for s in snaps["log"]]
    seconds = (max(stamps) - min(stamps)) / 1000
    assert 1 <= len(snaps["snap"]) <= int(seconds) + 2, seconds
    for s in snaps["snap"] + snaps["log"]:
        # Returns follow their entry's sampling decision: every snapshot is whole.
        assert "evaluationErrors" not in s["debugger"]["snapshot"], s
    assert all("captures" not in s["debugger"]["snapshot"] for s in snaps["log"])
    m = re.search(r"(\d+) over the rate limit", run.stderr)
    assert m and int(m.group(1)) >= 147
