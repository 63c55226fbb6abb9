"""A target godi launched runs on, whatever happens to godi while it attaches.

godi is killed (SIGKILL, SIGTERM) at random moments around the attach, twenty
times; each time the target must run to its end, print everything, exit 0, and
never be seen stopped (state T). The test process is made a child subreaper, so
that a target orphaned by a killed godi becomes its child and its exit status can
be read. Moments are random but seeded, so a failure can be replayed.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi, irgen_codegen

pytestmark = pytest.mark.live

RUNS = 20
WINDOW_S = 0.04
"""Kills land up to this long after the target's process appears: the attach
takes 1-25 ms on this machine, so some land before it, some during, some after."""
LOOP = "25"  # the target calls tick 25 times, 10 ms apart, then prints "done"
PR_SET_CHILD_SUBREAPER = 36


@contextmanager
def _subreaper() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The robust program and a probe program on its tick (built once)."""
    binary = build_go(REPO / "tests" / "progs" / "robust", go_versions()[-1])
    out = tmp_path_factory.mktemp("gate")
    probes = out / "probes.json"
    probes.write_text(
        '[{"id": "tick", "version": 1, "where": {"methodName": "main.tick"},'
        ' "captureSnapshot": true, "sampling": {"snapshotsPerSecond": 0}}]'
    )
    irgen_codegen(binary, probes, out / "ir.json", out)
    return binary, out


@dataclass
class Outcome:
    run: int
    sig: str
    delay: float
    target: int
    states: set[str]
    status: int | None
    output: str
    godi_status: int
    godi_stderr: str


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or the read
        return None
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()


def _one(run: int, binary: Path, program: Path, tmp: Path) -> Outcome:
    rng = random.Random(run)
    sig = signal.SIGKILL if run % 2 == 0 else signal.SIGTERM
    delay = rng.uniform(0, WINDOW_S)
    out_file, err_file = tmp / f"out{run}", tmp / f"err{run}"
    with open(out_file, "w") as out, open(err_file, "w") as err:
        cap = subprocess.Popen(
            [
                *(sys.executable, "-m", "stages", "capture", "--program", str(program)),
                *("-o", str(tmp / f"e{run}.dump"), "--", str(binary), "loop", LOOP),
            ],
            stdout=out,
            stderr=err,
        )
    deadline = time.monotonic() + 60
    while not (kids := _children(cap.pid)):
        assert cap.poll() is None and time.monotonic() < deadline, err_file.read_text()
        time.sleep(0.0005)
    target = kids[0]
    time.sleep(delay)
    cap.send_signal(sig)
    states: set[str] = set()
    status: int | None = None
    deadline = time.monotonic() + 15
    while True:
        state = _state(target)
        if state is None:  # reaped by godi (SIGTERM: godi waits for it a moment)
            break
        states.add(state)
        if state == "Z":
            try:
                _, raw = os.waitpid(target, os.WNOHANG)
            except ChildProcessError:
                pass  # godi's child, reaped by godi
            else:
                if raw:
                    status = os.waitstatus_to_exitcode(raw)
            time.sleep(0.002)
            continue
        if time.monotonic() > deadline:
            os.kill(target, signal.SIGKILL)  # the test's own clean-up of a stuck target
            break
        time.sleep(0.002)
    godi_status = cap.wait(60)
    return Outcome(
        run=run,
        sig=sig.name,
        delay=delay,
        target=target,
        states=states,
        status=status,
        output=out_file.read_text(),
        godi_status=godi_status,
        godi_stderr=err_file.read_text(),
    )


def test_killing_godi_during_attach_never_harms_the_target(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    binary, program = prepared
    with _subreaper(), ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda r: _one(r, binary, program, tmp_path), range(RUNS)))
    for o in outcomes:
        where = f"run {o.run} ({o.sig} {o.delay * 1000:.1f} ms after the launch): {o}"
        assert not o.states & {"T", "t"}, where  # never stopped
        assert o.output == f"pid {o.target}\ndone\n", where  # ran to its end
        assert o.status in (None, 0), where  # exited on its own terms
        assert "Traceback" not in o.godi_stderr, where
        if o.sig == "SIGKILL":
            assert o.godi_status == -signal.SIGKILL, where
        else:
            # godi finishes its dump and exits; the target has ended or runs on.
            assert o.godi_status == 0, where
            assert "(interrupted)" in o.godi_stderr or "target exited" in o.godi_stderr, where


def _capture(program: Path, binary: Path, tmp: Path, *args: str, **kw: Any) -> Any:
    """godi capture of the endless loop, its stdout and stderr to files (which the
    target inherits: a pipe would stay open as long as the target runs)."""
    with open(tmp / "out", "w") as out, open(tmp / "err", "w") as err:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "stages", "capture", "--program", str(program)),
                *("-o", str(tmp / "e.dump"), *args, "--", str(binary), "loop", "0"),
            ],
            stdout=out,
            stderr=err,
            **kw,
        )


def _attached(tmp: Path) -> int:
    """The target's PID, once godi says the probes are attached and it printed it."""
    deadline = time.monotonic() + 60
    while True:
        out = (tmp / "out").read_text()
        if "uprobes attached" in (tmp / "err").read_text() and out.endswith("\n"):
            return int(out.split()[1])  # the target prints "pid N" first
        assert time.monotonic() < deadline, (tmp / "err").read_text()
        time.sleep(0.01)


def _decodes(program: Path, tmp: Path) -> list[Any]:
    dec = godi(
        "decode", "--ir", str(program / "ir.json"), "--program", str(program),
        str(tmp / "e.dump"), "-o", str(tmp / "s.json"),
    )  # fmt: skip
    assert dec.returncode == 0, dec.stderr
    snapshots: list[Any] = json.loads((tmp / "s.json").read_text())
    return snapshots


def test_a_launched_target_outlives_duration_and_sigterm(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    """--duration, or SIGTERM to godi alone: godi completes its dump and exits 0, the
    target (which would loop forever) runs on, not stopped; the test ends it."""
    binary, program = prepared
    for how in ("duration", "sigterm"):
        tmp = tmp_path / how
        tmp.mkdir()
        cap = _capture(program, binary, tmp, *(("--duration", "0.5") if how == "duration" else ()))
        target = _attached(tmp)
        try:
            if how == "sigterm":
                cap.send_signal(signal.SIGTERM)
            assert cap.wait(60) == 0, (tmp / "err").read_text()
            err = (tmp / "err").read_text()
            assert f"the target (PID {target}) still runs: left running" in err
            time.sleep(0.2)
            assert _state(target) in ("S", "R"), err  # running (or sleeping between ticks)
            assert _decodes(program, tmp)
        finally:
            os.kill(target, signal.SIGKILL)  # the test's own clean-up


def test_ctrl_c_reaches_the_target_as_it_would_without_godi(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    """A terminal's Ctrl-C goes to the whole foreground process group: the Go target
    dies of its SIGINT, and godi passes that on (exit 130) with a complete dump."""
    binary, program = prepared
    cap = _capture(program, binary, tmp_path, start_new_session=True)
    target = _attached(tmp_path)
    try:
        time.sleep(0.2)
        os.killpg(cap.pid, signal.SIGINT)
        assert cap.wait(60) == 128 + signal.SIGINT, (tmp_path / "err").read_text()
    finally:
        if _state(target) not in (None, "Z"):
            os.kill(target, signal.SIGKILL)
    err = (tmp_path / "err").read_text()
    assert "(interrupted)" in err and "left running" not in err
    assert _decodes(program, tmp_path)
