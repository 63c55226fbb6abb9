"""Disarming a rate-limited probe while its budget is spent (stages/capture/disarm.py),
against a program that says what it did: tests/progs/hot calls ``work(i, "hot")``
from 50 goroutines as fast as it can for a number of seconds, checks every result
(``wrong=`` counts the wrong ones) and prints how many calls it made.

A 1/s snapshot probe on ``work`` must still give one snapshot a second (at least
N-1 over N seconds), each with its return paired (``work`` returns 3*i+3 for its
argument i, and the snapshot has a duration), the program's results must all be
right, and almost none of its calls may trap. ``GODI_DISARM_SECONDS`` sets the
run's length: 5 in ``make test``, 30 in ``make test-disarm-long``.

The target may exit at any moment of a cycle (``GODI_DISARM_EXITS`` runs of random
length under a log probe re-armed twice a second: 3 in ``make test``), and a
captured call that never returns (tests/progs/panicky: its frame unwound by a
panic) must not keep its probe's returns, and a trap on every return, for ever.
A target gone at the moment of a re-arm is also set up on purpose (the random
exits may miss that moment).
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi

pytestmark = pytest.mark.live

PROG = REPO / "tests" / "progs" / "hot"
PANICKY = REPO / "tests" / "progs" / "panicky"
SECONDS = int(os.environ.get("GODI_DISARM_SECONDS", "5"))
EXITS = int(os.environ.get("GODI_DISARM_EXITS", "3"))
GOROUTINES = 50
LOG_PROBE = {
    "id": "log",
    "where": {"methodName": "main.work"},
    "template": "work {i}",
    "segments": [{"str": "work "}, {"dsl": "i", "json": {"ref": "i"}}],
}


def _row(stderr: str, probe: str) -> dict[str, int]:
    lines = stderr.splitlines()
    # The table is the last block (the live view's lines, before it, start with
    # the probe id too).
    start = max(i for i, line in enumerate(lines) if line.startswith("probe "))
    titles = re.split(r"\s{2,}", lines[start].strip())[1:]
    row = next(line for line in lines[start + 1 :] if line.split()[:1] == [probe])
    return dict(zip(titles, (int(v) for v in row.split()[1:]), strict=True))


def _check_snapshots(path: Path, at_least: int, cut: bool = False) -> list[dict[str, Any]]:
    """The snapshots, each paired; with ``cut`` (a capture that stopped while the
    target ran on), the last may have lost its return to the end of the capture."""
    snaps = json.loads(path.read_text())
    assert len(snaps) >= at_least, len(snaps)
    snaps.sort(key=lambda s: s["timestamp"])
    for n, s in enumerate(snaps):
        if cut and n == len(snaps) - 1 and "return" not in s["debugger"]["snapshot"]["captures"]:
            continue
        captures = s["debugger"]["snapshot"]["captures"]
        i = int(captures["entry"]["arguments"]["i"]["value"])
        ret = captures["return"]["locals"]["@return"]["fields"]
        assert int(ret["r0"]["value"]) == 3 * i + 3, s
        assert ret["r1"]["value"] == "hot"
        assert s["duration"] > 0
    return list(snaps)


@pytest.fixture(scope="module")
def hot() -> Path:
    return build_go(PROG, go_versions()[-1])


def test_hot_function_keeps_its_rate_and_pairs_its_returns(hot: Path, tmp_path: Path) -> None:
    result = godi(
        "run",
        "--probes",
        str(PROG / "probes.json"),
        "-o",
        str(tmp_path),
        "--",
        str(hot),
        str(SECONDS),
        str(GOROUTINES),
        timeout=120 + 4 * SECONDS,
    )
    assert result.returncode == 0, result.stderr
    assert "wrong=0" in result.stdout
    calls = int(re.search(r"calls=(\d+)", result.stdout)[1])  # type: ignore[index]
    snaps = _check_snapshots(tmp_path / "snapshots.json", SECONDS - 1)
    assert len(snaps) <= SECONDS + 1  # the rate: one a second, one second of burst
    row = _row(result.stderr, "work")
    assert row["snapshots"] == len(snaps)
    # Disarmed: a few trapped calls per snapshot, not every call.
    assert row["entry hits"] < calls / 1000, (row, calls)
    assert row["captured"] == 2 * len(snaps)
    # The calls never trapped are neither captured, dropped nor sampled out.
    assert row["entry hits"] == len(snaps) + row["sampled out"]
    assert row["dropped"] == 0


@pytest.mark.parametrize("mode", ["pid", "binary"])
def test_disarming_on_a_running_process(hot: Path, tmp_path: Path, mode: str) -> None:
    ir, prog = tmp_path / "ir.json", tmp_path / "prog"
    probes = str(PROG / "probes.json")
    assert godi("irgen", str(hot), "--probes", probes, "-o", str(ir)).returncode == 0
    assert godi("codegen", "--ir", str(ir), "--probes", probes, "-o", str(prog)).returncode == 0
    seconds = 4
    target = subprocess.Popen(
        [str(hot), "-", str(GOROUTINES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        where = ["--pid", str(target.pid)] if mode == "pid" else ["--binary", str(hot)]
        result = godi(
            "capture",
            "--program",
            str(prog),
            "-o",
            str(tmp_path / "events.dump"),
            *where,
            "--duration",
            str(seconds),
        )
        assert result.returncode == 0, result.stderr
        assert target.poll() is None  # still running, unharmed so far
    finally:
        out, _ = target.communicate("stop\n", timeout=60)
    assert target.returncode == 0
    assert "wrong=0" in out
    decode = godi(
        "decode",
        "--ir",
        str(ir),
        "--program",
        str(prog),
        str(tmp_path / "events.dump"),
        "-o",
        str(tmp_path / "snapshots.json"),
    )
    assert decode.returncode == 0, decode.stderr
    _check_snapshots(tmp_path / "snapshots.json", seconds - 1, cut=True)
    row = _row(decode.stderr, "work")
    calls = int(re.search(r"calls=(\d+)", out)[1])  # type: ignore[index]
    assert row["entry hits"] < calls / 1000, (row, calls)


def _build(binary: Path, probes: Path, d: Path) -> tuple[Path, Path]:
    ir, prog = d / "ir.json", d / "prog"
    r = godi("irgen", str(binary), "--probes", str(probes), "-o", str(ir))
    assert r.returncode == 0, r.stderr
    r = godi("codegen", "--ir", str(ir), "--probes", str(probes), "-o", str(prog))
    assert r.returncode == 0, r.stderr
    return ir, prog


def _decode(ir: Path, prog: Path, dump: Path) -> subprocess.CompletedProcess[str]:
    r = godi(
        "decode", "--ir", str(ir), "--program", str(prog), str(dump), "-o", str(dump) + ".json"
    )
    assert r.returncode == 0, r.stderr
    return r


def _check_honest(row: dict[str, int], goroutines: int) -> None:
    """Every trapped entry is a snapshot, sampled out or dropped (a call made while
    disarmed is none of them); every snapshot's return is captured but for the
    calls the exit cut short (at most one per goroutine)."""
    assert row["entry hits"] == row["snapshots"] + row["sampled out"] + row["dropped"], row
    assert 2 * row["snapshots"] - goroutines <= row["captured"] <= 2 * row["snapshots"], row


def test_target_exits_at_any_moment_of_a_cycle(hot: Path, tmp_path: Path) -> None:
    """Launched targets that end at random times, and processes of a binary that
    come and go, while a log probe at 5000/s is disarmed and re-armed twice a
    second: capture ends cleanly (no traceback), the program is unharmed and the
    counters add up."""
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([LOG_PROBE]))
    ir, prog = _build(hot, probes, tmp_path)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for n in range(EXITS):
        seconds = rng.uniform(0.2, 1.6)
        dump = tmp_path / f"launch{n}.dump"
        why = f"seed {seed}, run {n}: {seconds:.3f} s"
        r = godi(
            "capture",
            "--program",
            str(prog),
            "-o",
            str(dump),
            "--",
            str(hot),
            f"{seconds:.3f}",
            "4",
        )
        assert r.returncode == 0, (why, r.stderr)
        assert "Traceback" not in r.stderr, (why, r.stderr)
        assert "wrong=0" in r.stdout, why
        _check_honest(_row(_decode(ir, prog, dump).stderr, "log"), 4)
    # Every process of the binary: each ends at a random moment, the capture goes on.
    dump = tmp_path / "binary.dump"
    capture = subprocess.Popen(
        [
            *(sys.executable, "-m", "stages", "capture", "--program", str(prog)),
            *("-o", str(dump), "--binary", str(hot)),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert capture.stderr is not None
    try:
        for line in capture.stderr:
            if "uprobes attached" in line:
                break
        runs = [rng.uniform(0.2, 1.2) for _ in range(max(2, EXITS))]
        for seconds in runs:
            out = subprocess.run(
                [str(hot), f"{seconds:.3f}", "4"], capture_output=True, text=True, timeout=60
            )
            assert out.returncode == 0 and "wrong=0" in out.stdout, (seed, out)
    finally:
        capture.send_signal(signal.SIGINT)
        _, err = capture.communicate(timeout=120)
    assert capture.returncode == 0, err
    assert "Traceback" not in err, (seed, err)
    _check_honest(_row(_decode(ir, prog, dump).stderr, "log"), 4 * len(runs))


def test_a_call_that_never_returns_does_not_keep_the_returns(tmp_path: Path) -> None:
    """tests/progs/panicky: the first captured call of work panics (its caller
    recovers); calls after it return, and would all trap at their return if its
    probe waited for that call for ever. The call's return is given up (logged),
    its snapshot says so, the others are paired."""
    binary = build_go(PANICKY, go_versions()[-1])
    seconds = 4
    result = godi(
        "run",
        "--probes",
        str(PANICKY / "probes.json"),
        "-o",
        str(tmp_path),
        "--",
        str(binary),
        str(seconds),
        "300",
        "2",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "wrong=0" in result.stdout
    calls = int(re.search(r"calls=(\d+)", result.stdout)[1])  # type: ignore[index]
    assert "1 captured call(s) still in flight after 2 s" in result.stderr, result.stderr
    row = _row(result.stderr, "work")
    # Returns trapped for the 2 s of waiting at most, not for the whole run.
    assert row["return hits"] < calls / 100, (row, calls)
    snaps = json.loads((tmp_path / "snapshots.json").read_text())
    assert len(snaps) >= seconds - 1
    unreturned = []
    for s in snaps:
        captures = s["debugger"]["snapshot"]["captures"]
        i = int(captures["entry"]["arguments"]["i"]["value"])
        if "return" in captures:
            assert int(captures["return"]["locals"]["@return"]["value"]) == 3 * i + 3, s
        else:
            unreturned.append(s)
    assert len(unreturned) == 1, unreturned
    (error,) = unreturned[0]["debugger"]["snapshot"]["evaluationErrors"]
    assert "panic" in error["message"]


@pytest.mark.parametrize("gone", ["reaped", "zombie"])
def test_rearming_a_process_that_is_gone(hot: Path, tmp_path: Path, gone: str) -> None:
    """The moment the random exits above may miss: the target dies while its probe
    is disarmed, before the re-arm. A reaped process refuses the new links (ESRCH):
    the disarmer leaves the slot alone and says why; a zombie takes them. Either
    way nothing raises and the capture's links all close."""
    from stages.artifacts import load_c_source, load_layout
    from stages.capture.bpfload import Loaded
    from stages.capture.disarm import MIN_OFF_NS, Disarmer

    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([LOG_PROBE]))
    _, prog = _build(hot, probes, tmp_path)
    loaded = Loaded(load_c_source(prog), load_layout(prog))
    target = subprocess.Popen([str(hot), "-", "4"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        loaded.set_target(target.pid)
        assert loaded.attach(str(hot), target.pid, {}, disarm=True) == []
        (slot,) = loaded.disarmable
        disarmer = Disarmer(
            {slot: True},
            loaded._set_armed,
            loaded._spent_until,
            lambda s: int(loaded.bpf["godi_rates"][ctypes.c_int(s)].inflight),
            time.monotonic_ns(),
            loaded._wait_returns,
        )
        now = time.monotonic_ns()
        disarmer.spent(slot, now + 1, now)  # entries out
        assert (slot, "entry") not in loaded._links
        # Returns out once the captured calls in flight (microseconds) have returned.
        while (slot, "return") in loaded._links and time.monotonic_ns() < now + MIN_OFF_NS // 2:
            time.sleep(0.01)
            disarmer.tick(time.monotonic_ns())
        assert (slot, "return") not in loaded._links
        target.kill()
        if gone == "reaped":
            target.wait()
        else:
            time.sleep(0.3)
        disarmer.tick(now + MIN_OFF_NS)
        stats = disarmer.stats(time.monotonic_ns())[slot]
        if gone == "reaped":
            assert stats.errors == ["attaching its returns failed"], stats
        else:
            assert stats.errors == [] and stats.cycles == 1, stats
    finally:
        loaded.detach()
        loaded.close()
        target.kill()
        target.wait()
    assert loaded._links == {}


def test_a_panicked_call_is_not_paired_with_a_later_return(tmp_path: Path) -> None:
    """tests/progs/panicky "same": the captured call that panics is the main
    goroutine's, which then calls work again from the same place, so a later call
    sits where the panicked one did (same goroutine, same depth). Its entry, not
    captured (rate limit), forgets the panicked call in BPF: the later call's
    return is not taken for the panicked call's (which gave that snapshot the
    return value of another call and a duration of hundreds of ms)."""
    binary = build_go(PANICKY, go_versions()[-1])
    result = godi(
        "run",
        "--always-armed",
        "--probes",
        str(PANICKY / "probes.json"),
        "-o",
        str(tmp_path),
        "--",
        *(str(binary), "3", "300", "1", "same"),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "wrong=0" in result.stdout
    snaps = json.loads((tmp_path / "snapshots.json").read_text())
    unreturned = []
    for s in snaps:
        captures = s["debugger"]["snapshot"]["captures"]
        i = int(captures["entry"]["arguments"]["i"]["value"])
        if "return" in captures:
            assert int(captures["return"]["locals"]["@return"]["value"]) == 3 * i + 3, s
        else:
            unreturned.append(i)
    assert unreturned == [0], unreturned  # the first call, at the start: it panicked
