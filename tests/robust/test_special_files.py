"""Output paths that are not regular files (/dev/null, a FIFO) are written to, never
replaced or chmod-ed: root renaming a temporary file over /dev/null replaces the
device for the whole machine. (Tested on FIFOs: a regression must not break the
machine's /dev/null.)"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from stages.artifacts import create_private, open_atomic, write_atomic


def _fifo(tmp_path: Path) -> tuple[Path, list[bytes], threading.Thread]:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return fifo, got, reader


def _still_fifo(fifo: Path) -> None:
    mode = os.stat(fifo).st_mode
    assert stat.S_ISFIFO(mode)
    assert stat.S_IMODE(mode) == 0o644
    assert [p.name for p in fifo.parent.iterdir()] == ["pipe"]  # no temporary left


def test_open_atomic_writes_through_a_fifo(tmp_path: Path) -> None:
    fifo, got, reader = _fifo(tmp_path)
    with open_atomic(fifo, private=True) as f:
        f.write(b"snapshots")
    reader.join(10)
    assert got == [b"snapshots"]
    _still_fifo(fifo)


def test_write_atomic_and_create_private_leave_a_fifo_as_it_was(tmp_path: Path) -> None:
    fifo, got, reader = _fifo(tmp_path)
    write_atomic(fifo, b"ir", private=True)
    reader.join(10)
    assert got == [b"ir"]
    _still_fifo(fifo)
    fifo.unlink()
    fifo, got, reader = _fifo(tmp_path)
    with create_private(fifo) as f:
        f.write(b"dump")
    reader.join(10)
    assert got == [b"dump"]
    _still_fifo(fifo)


def test_regular_files_still_private(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.json"
    write_atomic(path, b"[]", private=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with create_private(tmp_path / "events.dump") as f:
        f.write(b"x")
    assert stat.S_IMODE((tmp_path / "events.dump").stat().st_mode) == 0o600
