"""`godi run` as a one-liner on tests/progs/server (newest pinned Go only): probes
from each flag form, glob expansion, attaching to a running server (--pid,
--binary) with the live view, and Ctrl-C in the middle.

The server prints what each request called with which values; the expected
live lines and snapshots come from that output, or from the requests the test
makes itself. The server only listens on 127.0.0.1."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi

from stages.probecounts import COLUMNS
from stages.schemas import snapshot_check

SERVER = REPO / "tests" / "progs" / "server"

pytestmark = pytest.mark.live

GODI_RUN = [sys.executable, "-m", "stages", "run", "-f", "main.greet", "--rate", "0"]


@pytest.fixture(scope="module")
def binary() -> Path:
    return build_go(SERVER, go_versions()[-1])


def live_lines(stdout: str) -> list[list[str]]:
    """The live view's lines of ``stdout`` (probe, goroutine, time, message), without
    the program's own lines."""
    out = []
    for line in stdout.splitlines():
        parts = line.split("  ", 3)
        if len(parts) == 4 and re.fullmatch(r"g\d+", parts[1]):
            out.append(parts)
    return out


def column(title: str) -> int:
    """Where ``title`` is in a row of ``table`` (the probe id left out)."""
    return [t for t, _ in COLUMNS].index(title)


def table(stderr: str) -> dict[str, list[str]]:
    lines = stderr.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("probe "))
    return {ln.split()[0]: ln.split()[1:] for ln in lines[start + 1 :] if ln.strip()}


def snapshots(out: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads((out / "snapshots.json").read_text())
    check = snapshot_check()
    for s in found:
        assert check(json.dumps(s).encode()) is None
    return found


def test_functions_and_a_glob_on_a_launched_program(binary: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    flags = ["-f", "main.greet", "-f", "main.(*Cart).*", "--rate", "0"]
    result = godi("run", *flags, "-o", str(out), "--", str(binary), "-self", "3")
    assert result.returncode == 0, result.stderr
    assert "-f 'main.(*Cart).*': 2 functions" in result.stderr
    said = re.findall(r"^greet name=(\S+) times=(\d+)$", result.stdout, re.M)
    carts = re.findall(r"^cart sku=(\S+) qty=(\d+) total=(\d+)$", result.stdout, re.M)
    assert len(said) == len(carts) == 3
    # A launched program's stdout is its own: the view goes to stderr.
    assert not live_lines(result.stdout)
    lines = live_lines(result.stderr)
    by_probe: dict[str, list[str]] = {}
    for probe, _g, _t, message in lines:
        by_probe.setdefault(probe, []).append(message)
    assert sorted(by_probe["main.greet"]) == sorted(
        f'main.greet(name="{n}", times={t}) -> "{" ".join([f"hello {n}!"] * int(t))}"'
        for n, t in said
    )
    assert sorted(m.split("Items: nil}, ")[1] for m in by_probe["main.Cart.Add"]) == sorted(
        f'sku="{s}", qty={q})' for s, q, _ in carts
    )
    assert sorted(m.rsplit(" -> ", 1)[1] for m in by_probe["main.Cart.Total"]) == sorted(
        total for _, _, total in carts
    )
    # the per-probe table after the view; the files complete and reproducible
    rows = table(result.stderr)
    assert {p: r[column("snapshots")] for p, r in rows.items()} == {
        "main.Cart.Add": "3",
        "main.Cart.Total": "3",
        "main.greet": "3",
    }
    assert len(snapshots(out)) == len(lines) == 9
    made = godi("probes", str(binary), *flags)
    assert json.loads(made.stdout) == json.loads((out / "probes.json").read_text())
    assert "files kept in" not in result.stderr  # -o given


def test_line_when_template_as_json_lines(binary: Path, tmp_path: Path) -> None:
    result = godi(
        "run",
        "--line",
        "main.go:38",
        "--when",
        "times >= 2",
        "--template",
        "hi {name} x{times}",
        "--rate",
        "0",
        "--json",
        "-o",
        str(tmp_path),
        "--",
        str(binary),
        "-self",
        "4",
    )
    assert result.returncode == 0, result.stderr
    said = re.findall(r"^greet name=(\S+) times=(\d+)$", result.stdout, re.M)
    assert not [ln for ln in result.stdout.splitlines() if ln.startswith("{")]
    views = [json.loads(ln) for ln in result.stderr.splitlines() if ln.startswith("{")]
    assert [v["message"] for v in views] == [f"hi {n} x{t}" for n, t in said if int(t) >= 2]
    assert {v["probe"] for v in views} == {"main.go_38"}
    assert all(isinstance(v["goroutine"], int) and v["timestamp"] > 0 for v in views)
    unmet = sum(1 for _, t in said if int(t) < 2)
    assert table(result.stderr)["main.go_38"][column("condition false")] == str(unmet)
    assert len(snapshots(tmp_path)) == len(views)


def test_rate_and_depth(binary: Path, tmp_path: Path) -> None:
    calls = 10
    result = godi(
        "run",
        "-f",
        "main.(*Cart).Total",
        "--rate",
        "1",
        "--depth",
        "0",
        "--always-armed",  # every call trapped: the sampled-out ones counted
        "-o",
        str(tmp_path),
        "--",
        str(binary),
        "-self",
        str(calls),
    )
    assert result.returncode == 0, result.stderr
    row = table(result.stderr)["main.Cart.Total"]
    entry_hits, sampled_out, shown = (
        int(row[column(t)]) for t in ("entry hits", "sampled out", "snapshots")
    )
    assert entry_hits == calls
    assert 1 <= shown < calls and shown + sampled_out == calls  # one a second
    found = snapshots(tmp_path)
    receiver = found[0]["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["c"]
    assert receiver["notCapturedReason"] == "depth"  # depth 0: not even the pointee


class Server:
    """tests/progs/server, running on its own, and what it printed."""

    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        m = re.fullmatch(r"listening on (127\.0\.0\.1:\d+)\n", first)
        assert m, first
        self.base = f"http://{m[1]}"
        self.said: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.said.put(line.strip())

    def greet(self, name: str, times: int) -> str:
        with urllib.request.urlopen(f"{self.base}/greet?name={name}&times={times}") as r:
            return str(r.read().decode())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server(binary: Path) -> Iterator[Server]:
    s = Server(binary)
    yield s
    s.stop()


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def _wait_for(q: queue.Queue[str], pattern: str, timeout: float = 60) -> list[str]:
    """Lines of ``q`` up to one matching ``pattern`` (included)."""
    seen = []
    end = time.monotonic() + timeout
    while True:
        line = q.get(timeout=max(0.1, end - time.monotonic()))
        seen.append(line)
        if re.search(pattern, line):
            return seen


def test_pid_attach_live_view_and_ctrl_c(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "out"
    godi_run = subprocess.Popen(
        [*GODI_RUN, "--pid", str(server.proc.pid), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group, as at a terminal
    )
    assert godi_run.stdout is not None and godi_run.stderr is not None
    shown: queue.Queue[str] = queue.Queue()
    said: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(godi_run.stdout, shown), daemon=True).start()
    threading.Thread(target=_lines, args=(godi_run.stderr, said), daemon=True).start()
    try:
        _wait_for(said, r"uprobes attached, capturing")
        # The live view shows each call as it happens, while the capture goes on.
        for i in (1, 2, 3):
            assert server.greet(f"live{i}", i).startswith(f"hello live{i}!")
            line = _wait_for(shown, r"^main\.greet  g\d+  ")[-1]
            assert f'main.greet(name="live{i}", times={i})' in line
            assert server.said.get(timeout=10) == f"greet name=live{i} times={i}"
        # Ctrl-C in the middle: the terminal signals the whole process group
        # (godi and its live view).
        os.killpg(godi_run.pid, signal.SIGINT)
        assert godi_run.wait(timeout=60) == 0
    finally:
        if godi_run.poll() is None:
            godi_run.kill()
    stderr = "\n".join(iter_queue(said))
    assert "(interrupted)" in stderr
    assert "live view: 3 snapshots shown" in stderr
    # The files are complete: the dump ends with its counters, the snapshots parse.
    assert table(stderr)["main.greet"][:2] == ["3", "3"]
    assert "no counters" not in stderr
    assert len(snapshots(out)) == 3
    # godi never stops the target: the server still answers.
    assert server.proc.poll() is None
    assert server.greet("after", 1) == "hello after!\n"


def iter_queue(q: queue.Queue[str]) -> Iterator[str]:
    while True:
        try:
            yield q.get_nowait()
        except queue.Empty:
            return


def test_binary_attach_to_a_temporary_directory(server: Server, binary: Path) -> None:
    godi_run = subprocess.Popen(
        [*GODI_RUN, "--binary", str(binary), "--max-events", "2", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert godi_run.stdout is not None and godi_run.stderr is not None
    said: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(godi_run.stderr, said), daemon=True).start()
    try:
        _wait_for(said, r"uprobes attached, capturing")
        server.greet("bin", 2)
        stdout = godi_run.stdout.read()
        assert godi_run.wait(timeout=60) == 0
    finally:
        if godi_run.poll() is None:
            godi_run.kill()
    assert [m for *_, m in live_lines(stdout)] == [
        'main.greet(name="bin", times=2) -> "hello bin! hello bin!"'
    ]
    stderr = "\n".join(iter_queue(said))
    kept = re.search(r"files kept in (\S+)", stderr)
    assert kept, stderr
    out = Path(kept[1])
    try:
        assert len(snapshots(out)) == 1
        assert (out / "probes.json").is_file() and (out / "events.dump").is_file()
    finally:
        import shutil

        shutil.rmtree(out)
