"""A string in a page of the binary's read-only data that the process never read.

A uprobe reads with page faults disabled, so such a page (not yet mapped in the
process) read as unavailable although its bytes are the file's. tests/progs/rodata
embeds 4 MiB of text and, per line of stdin, passes 32 bytes at the given offset
to ``main.show``, then prints them: godi, attached by PID before, must show the
string the program prints, for offsets far from anything the program touched.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions

pytestmark = pytest.mark.live

SIZE = 4 << 20


@pytest.mark.parametrize("go", [go_versions()[0], go_versions()[-1]])
def test_string_in_never_read_rodata_page(go: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO / "tests" / "progs" / "rodata", src)
    rng = random.Random(7)
    text = "".join(rng.choices(string.ascii_letters + string.digits, k=SIZE))
    (src / "data.txt").write_text(text)
    binary = build_go(src, go)
    prog = subprocess.Popen(
        [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert prog.stdin is not None and prog.stdout is not None
    out = tmp_path / "out"
    err = tmp_path / "godi.err"
    try:
        assert prog.stdout.readline() == f"ready {SIZE}\n"
        with open(err, "w") as errf:
            godi = subprocess.Popen(
                [
                    *(sys.executable, "-m", "stages", "run", "-f", "main.show", "--rate", "0"),
                    *("--pid", str(prog.pid), "-o", str(out)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=errf,
                cwd=REPO,
            )
        start = time.monotonic()
        while "uprobes attached" not in err.read_text():
            assert godi.poll() is None, err.read_text()
            assert time.monotonic() - start < 120, err.read_text()
            time.sleep(0.05)
        # Offsets 64 KiB apart (fault-around maps at most that much around a read)
        # in the last megabytes, which nothing read before.
        printed = []
        for k in range(8):
            off = SIZE - (1 << 20) - k * (80 << 10)
            prog.stdin.write(f"{off}\n")
            printed.append(prog.stdout.readline().rstrip("\n").split(" ", 1)[1])
        time.sleep(0.5)
        godi.send_signal(signal.SIGINT)
        assert godi.wait(60) == 0, err.read_text()
    finally:
        prog.kill()
        prog.wait()
    snaps = json.loads((out / "snapshots.json").read_text())
    got = [s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["s"] for s in snaps]
    assert [g.get("value") for g in got] == printed, got
