"""The live view of ``godi run``: each snapshot's one-line message as it happens.

Decoding runs beside the capture, in a process of its own (``godi _live-view``,
started by ``run`` once the uprobes are attached), so it takes nothing from the
capture loop: it reads the dump while capture writes it (``Follower``), through
the same decoder as ``godi decode``, and prints a line per snapshot (probe id,
goroutine, time, message), or a JSON object per line. When it falls behind by
more than ``MAX_LAG`` bytes of events, it skips whole event records (counted) to
catch up: the dump keeps everything, and the decode after the capture reads it all.
(A call whose entry was skipped and whose return was not shows as a return without
its entry, as at the start of any capture.)
It starts before the capture (its IR and plans are ready by the time the uprobes
are), waits for the dump to appear, and learns that the dump is complete when the
capture closes its standard input.
"""

from __future__ import annotations

import os
import select
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TextIO, cast

import msgspec

from .dump import RECORD_EVENT

__all__ = ["MAX_LAG", "Follower", "LiveStats", "NoDump", "format_line", "live_view"]

MAX_LAG = 32 << 20
"""Bytes of events the view may be behind the capture before it skips: about a
second of decoding (some 300 000 small events)."""
_PREFIX = struct.Struct("<8sII")
_RECORD = struct.Struct("<II")
_CHUNK = 1 << 20
_WAIT_S = 0.05


class NoDump(Exception):
    """The capture ended without writing a dump (it failed before attaching)."""


class Follower:
    """A dump being written, read as it grows: ``read``/``read1`` wait for more
    until ``done()`` says the writer has finished, then end at the file's end.

    It hands out the prefix and header as they are, then whole records only (a
    record is written in pieces), so that it can skip event records at a record
    boundary when more than ``max_lag`` bytes wait: ``skipped`` counts them.
    ``wait`` blocks for up to a short while (default: sleep); ``on_idle`` is called
    before each wait (the view flushes its lines then)."""

    def __init__(
        self,
        path: str,
        done: Callable[[], bool],
        *,
        max_lag: int = MAX_LAG,
        wait: Callable[[float], None] = time.sleep,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._path = path
        self._on_idle = on_idle
        self._fd = -1
        self._done = done
        self._max_lag = max_lag
        self._wait = wait
        self._pos = 0
        self._header_end: int | None = None
        self._finished = False
        self.skipped = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _open(self) -> bool:
        """Whether the dump is open (it may not exist yet)."""
        if self._fd < 0:
            try:
                self._fd = os.open(self._path, os.O_RDONLY)
            except FileNotFoundError:
                if self._finished:
                    raise NoDump(self._path) from None
                return False  # capture has not created it yet
        return True

    def _take(self, n: int) -> bytes:
        """What may be handed out from the position, at most ``n`` bytes but at
        least a whole record (b"": wait for more)."""
        if not self._open():
            return b""
        size = os.fstat(self._fd).st_size
        if self._header_end is None:
            if size < _PREFIX.size:
                return self._read(size - self._pos) if self._finished else b""
            hlen = _PREFIX.unpack(os.pread(self._fd, _PREFIX.size, 0))[2]
            self._header_end = _PREFIX.size + hlen
        if self._pos < self._header_end:
            return self._read(min(n, min(size, self._header_end) - self._pos))
        if size - self._pos > self._max_lag:
            self._skip(size)
        data = os.pread(self._fd, min(n, size - self._pos), self._pos)
        # Up to the last whole record in it.
        end = 0
        while end + _RECORD.size <= len(data):
            nxt = end + _RECORD.size + _RECORD.unpack_from(data, end)[1]
            if nxt > len(data):
                break
            end = nxt
        if end == 0 and len(data) >= _RECORD.size:
            whole = _RECORD.size + _RECORD.unpack_from(data, 0)[1]
            if whole <= size - self._pos:  # one record longer than ``n``
                return self._read(whole)
        if end == 0 and self._finished:
            return self._read(size - self._pos)  # a record cut off for good: the reader says so
        self._pos += end
        return data[:end] if end < len(data) else data

    def _read(self, n: int) -> bytes:
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data

    def _skip(self, size: int) -> None:
        """Pass over whole event records until half ``max_lag`` is left."""
        while size - self._pos > self._max_lag // 2 and self._pos + _RECORD.size <= size:
            kind, length = _RECORD.unpack(os.pread(self._fd, _RECORD.size, self._pos))
            nxt = self._pos + _RECORD.size + length
            if kind != RECORD_EVENT or nxt > size:
                return
            self._pos = nxt
            self.skipped += 1

    def read1(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (at least a whole record): whatever is there, waiting
        until something is (b"": the end, once the writer is done)."""
        limit = _CHUNK if n is None or n < 0 else max(n, 1)
        while True:
            data = self._take(limit)
            if data:
                return data
            if self._finished:
                return b""
            if self._done():
                self._finished = True  # read what was written before the end, then stop
                continue
            if self._on_idle is not None:
                self._on_idle()
            self._wait(_WAIT_S)

    read = read1


class _Probe(msgspec.Struct):
    id: str


class _Body(msgspec.Struct):
    probe: _Probe


class _Debugger(msgspec.Struct):
    snapshot: _Body


class _Logger(msgspec.Struct):
    thread_id: int


class _Line(msgspec.Struct):
    """The members of a snapshot the live view shows."""

    message: str
    timestamp: int
    logger: _Logger
    debugger: _Debugger


_line_decoder = msgspec.json.Decoder(_Line)
_json_line = msgspec.json.Encoder()


def format_line(raw: bytes, json_lines: bool) -> str:
    """One snapshot (its JSON) as the live view prints it."""
    s = _line_decoder.decode(raw)
    probe = s.debugger.snapshot.probe.id
    goroutine = s.logger.thread_id
    if json_lines:
        return _json_line.encode(
            {"probe": probe, "goroutine": goroutine, "timestamp": s.timestamp, "message": s.message}
        ).decode()
    stamp = time.strftime("%H:%M:%S", time.localtime(s.timestamp / 1000))
    return f"{probe}  g{goroutine}  {stamp}.{s.timestamp % 1000:03d}  {s.message}"


@dataclass
class LiveStats:
    """What the live view did."""

    shown: int = 0
    skipped: int = 0


def stdin_closed() -> bool:
    """Whether the standard input (a pipe from the capture) is at its end: the
    capture has finished the dump."""
    ready, _, _ = select.select([sys.stdin.fileno()], [], [], 0)
    return bool(ready) and os.read(sys.stdin.fileno(), 1) == b""


def wait_stdin(timeout: float) -> None:
    """Wait up to ``timeout`` seconds, less if the standard input closes."""
    select.select([sys.stdin.fileno()], [], [], timeout)


def live_view(
    ir_path: str,
    program_dir: str,
    dump_path: str,
    *,
    service: str,
    json_lines: bool,
    out: TextIO,
    done: Callable[[], bool],
    wait: Callable[[float], None] = time.sleep,
    max_lag: int = MAX_LAG,
) -> LiveStats:
    """Print the snapshots of the dump at ``dump_path`` to ``out`` as capture
    writes them, until ``done()`` and the dump's end. Raises what ``decode`` raises
    for mismatched inputs."""
    import hashlib

    from .artifacts import load_layout, load_program, program_hash
    from .decode import decode

    follower = Follower(dump_path, done, max_lag=max_lag, wait=wait, on_idle=out.flush)
    stats = LiveStats()
    try:
        with open(ir_path, "rb") as f:
            ir_hash = hashlib.sha256(f.read()).hexdigest()
        run = decode(
            cast(BinaryIO, follower),
            load_program(ir_path),
            load_layout(program_dir),
            program_hash=program_hash(program_dir),
            ir_hash=ir_hash,
            service=service,
            name=dump_path,
        )
        for raw in run.encoded():
            out.write(format_line(raw, json_lines) + "\n")
            stats.shown += 1
    except NoDump:
        pass  # the capture failed and says why
    finally:
        out.flush()
        stats.skipped = follower.skipped
        follower.close()
    return stats
