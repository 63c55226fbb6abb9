"""``godi upload`` and ``godi intake`` as processes: killed mid-run, memory, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from upload_helpers import (
    StartIntake,
    make_snapshot,
    received_ids,
    snapshot_id,
    stats,
    wait_for,
    write_array,
    write_lines,
)

from stages.cli import main
from stages.upload.progress import progress_path

GODI = [sys.executable, "-m", "stages"]

# Runs a command and prints the peak RSS (KiB) of its process tree. The launcher is
# a fresh small interpreter: a child's peak includes the image it was forked from,
# so forking the uploader straight from pytest would count pytest's own memory.
LAUNCHER = """
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
"""


def peak_rss_mib(args: list[str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1]) / 1024


def test_killed_mid_run_and_restarted(tmp_path: Path, start_intake: StartIntake) -> None:
    n, per_batch = 20_000, 200
    inp = write_lines(tmp_path / "snaps.jsonl", (make_snapshot(i) for i in range(n)))
    intake = start_intake(latency=0.01)  # ~100 batches over a second or two
    args = [*GODI, "upload", str(inp), "--agent", intake.url, "--batch-items", str(per_batch)]
    reached = []
    for target in (15, 50):
        proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        wait_for(lambda t=target: intake.stats()["stored_requests"] >= t, what="batches")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reached.append(json.loads(progress_path(inp).read_text())["items"])
    assert 0 < reached[0] < reached[1] < n
    final = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr
    assert f"resumed from item {reached[1]}" in final.stderr
    ids = received_ids(intake.store.dir)
    assert set(ids) == {snapshot_id(i) for i in range(n)}
    # A kill can at most cost the one batch accepted but not yet recorded.
    assert intake.stats()["duplicates"] == sum(ids.values()) - n <= 2 * per_batch
    assert max(ids.values()) <= 2


@pytest.mark.parametrize(
    ("fmt", "n", "write"), [("jsonl", 200_000, write_lines), ("json", 100_000, write_array)]
)
def test_memory_stays_bounded(
    tmp_path: Path,
    start_intake: StartIntake,
    fmt: str,
    n: int,
    write: Callable[..., Path],
) -> None:
    small = write(tmp_path / f"small.{fmt}", (make_snapshot(i) for i in range(2000)))
    big = write(tmp_path / f"big.{fmt}", (make_snapshot(i) for i in range(n)))
    assert big.stat().st_size > 50 * 1024 * 1024
    intake = start_intake(validate=False)
    peaks = {
        p.name: peak_rss_mib([*GODI, "upload", str(p), "--agent", intake.url]) for p in (small, big)
    }
    assert intake.stats()["snapshots"] == n + 2000
    print(f"peak RSS of godi upload: {peaks}")
    assert peaks[big.name] < 100
    assert peaks[big.name] - peaks[small.name] < 20  # not growing with the input


def test_cli_against_the_intake_process(tmp_path: Path) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i) for i in range(1500)))
    status = tmp_path / "status.jsonl"
    status.write_text(
        json.dumps(
            {
                "service": "shop",
                "ddsource": "dd_debugger",
                "timestamp": 1,
                "debugger": {
                    "diagnostics": {
                        "probeId": "p1",
                        "probeVersion": 1,
                        "runtimeId": "r",
                        "status": "INSTALLED",
                    }
                },
            }
        )
        + "\n"
    )
    out, port_file = tmp_path / "received", tmp_path / "port"
    intake = subprocess.Popen(
        [*GODI, "intake", "--port", "0", "--port-file", str(port_file), "--out", str(out),
         "--fail", "okx1", "--fail", "500x1", "--lose-response", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_for(port_file.exists, what="the intake's port file")
        agent = f"http://127.0.0.1:{port_file.read_text().strip()}"
        up = subprocess.run(
            [*GODI, "upload", str(inp), "--statuses", str(status), "--agent", agent,
             "--backoff", "0.01"],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
    finally:
        intake.send_signal(signal.SIGTERM)
        _, err = intake.communicate(timeout=10)
    assert up.returncode == 0, up.stderr
    lines = up.stderr.splitlines()
    assert lines[0].startswith(f"godi: upload {status}: sent 1 status in 1 batch to ")
    assert "Server Error; retry 1/10" in lines[1] and "connection reset" in lines[2]
    assert lines[3].startswith(f"godi: upload {inp}: sent 1500 snapshots in 2 batches to ")
    assert "2 retries, 0 dead-lettered, 0 oversize" in lines[3]
    assert intake.returncode == 0
    assert "intake listening on http://127.0.0.1:" in err
    assert "intake stopped: 5 requests, 4 stored" in err
    s = stats(out)
    assert (s["statuses"], s["duplicates"], s["lost_response_snapshots"]) == (1, 1024, 1024)


def test_cli_errors_and_exit_statuses(tmp_path: Path, start_intake: StartIntake) -> None:
    runner = CliRunner()
    inp = write_lines(tmp_path / "snaps.jsonl", (make_snapshot(i) for i in range(10)))
    r = runner.invoke(main, ["upload"])
    assert r.exit_code == 2 and "give SNAPSHOTS" in r.stderr

    dead = "http://127.0.0.1:9"  # discard port: nobody listens
    r = runner.invoke(main, ["upload", str(inp), "--agent", dead, "--max-retries", "1"])
    assert r.exit_code == 1
    assert "giving up after 1 retries" in r.stderr and "rerun the same command" in r.stderr

    intake = start_intake()
    summary = tmp_path / "upload.json"
    r = runner.invoke(main, ["upload", str(inp), "--agent", intake.url, "--summary", str(summary)])
    assert r.exit_code == 0 and "sent 10 snapshots in 1 batch " in r.stderr
    (done,) = json.loads(summary.read_text())
    assert (done["sent"], done["batches"], done["oversize_file"]) == (10, 1, None)
    os.utime(inp, ns=(0, 0))
    r = runner.invoke(main, ["upload", str(inp), "--agent", intake.url])
    assert r.exit_code == 2
    assert r.stderr.startswith("godi: error: ") and "use --restart" in r.stderr

    r = runner.invoke(main, ["intake", "--out", str(tmp_path / "i"), "--fail", "700x1"])
    assert r.exit_code == 2 and "fault step '700x1'" in r.stderr

    for cmd in ("upload", "intake"):
        assert "Examples:" in runner.invoke(main, [cmd, "--help"]).output
