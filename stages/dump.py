"""The raw dump (``events.dump``): what capture writes and decode reads.

Data and framing only. A dump is

    magic  b"GODIDUMP"                8 bytes
    u32    format version
    u32    header length N
    N      header, JSON (``DumpHeader``)
    u32    CRC-32 of the header
    records, each: 4 bytes SYNC, u32 kind, u32 length L, u32 CRC-32, L bytes of payload

Record kinds: ``EVENT`` (one raw ``struct godi_event`` from the ring buffer),
``COUNTERS`` (JSON ``Counters``, written when capture stops: the trailer) and
``NOTICE`` (JSON ``Notice``: something the user should know, e.g. a probe that
failed to attach).

The CRC-32 (zlib's) covers kind, length and payload. A record whose sync marker,
length or CRC is wrong is corrupt: the reader skips to the next place where a
sync marker starts a record whose CRC holds, notes what it skipped (``corrupt``)
and goes on, so that every intact record is still read and no corrupted byte is
taken for data. A dump cut off mid-record still reads up to its last whole
record; the reader then reports the cut (``truncated_at``); one without the
COUNTERS trailer is unfinished: its capture was killed or failed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import msgspec

from ._base import Struct
from .errors import DecodeError

MAGIC = b"GODIDUMP"
DUMP_FORMAT_VERSION = 3
"""2: records carry a sync marker and a CRC-32. 3: blocks may be PARTIAL (a read
that ran into a page the program never touched: whole elements and the head of
one more), which a reader of 2 would take for whole elements."""
READABLE_VERSIONS = (2, 3)
"""A version 2 dump is a version 3 dump without PARTIAL blocks."""

RECORD_EVENT = 1
RECORD_COUNTERS = 2
RECORD_NOTICE = 3

_PREFIX = struct.Struct("<8sII")
SYNC = b"\xd7GDR"
"""Starts every record (mirrored by capture/_ringbuf.c and decode/_snapshots.c)."""
_RECORD = struct.Struct("<4sIII")
RECORD_PREFIX = _RECORD.size
HEADER_PREFIX, RECORD_HEAD = _PREFIX, _RECORD
"""The dump's first bytes (magic, version, header length) and a record's head (sync,
kind, length, CRC), for readers of a dump as it grows (liveview)."""
MAX_RECORD = 1 << 24


def record_crc(kind_length: bytes | memoryview, payload: bytes | memoryview) -> int:
    """The CRC-32 of a record: of its kind and length (8 bytes) and its payload."""
    return zlib.crc32(payload, zlib.crc32(kind_length))


def frame(kind: int, payload: bytes) -> bytes:
    """One framed record."""
    kl = struct.pack("<II", kind, len(payload))
    return SYNC + kl + struct.pack("<I", record_crc(kl, payload)) + payload


class DumpHeader(Struct, frozen=True, kw_only=True):
    """Provenance of a capture.

    ``program_hash`` is the hash of the generated C and layout the capture ran;
    ``clock_offset_ns`` is CLOCK_REALTIME - CLOCK_MONOTONIC when capture started, to
    turn BPF timestamps into wall-clock time.
    """

    tool_version: str
    build_id: str
    program_hash: str
    clock_offset_ns: int
    pid: int
    command: list[str]
    mode: str


class ProbeCounters(Struct, frozen=True, kw_only=True):
    """Per-probe counts kept by the BPF program."""

    hits: int = 0
    emitted: int = 0
    dropped: int = 0
    truncated: int = 0
    sampled_out: int = 0
    condition_false: int = 0
    """Hits whose condition BPF decided false (not captured)."""
    disarmed_ns: int = 0
    """Time the probe's uprobe was out of the process, its rate budget spent
    (capture.disarm): calls then were not observed at all."""
    not_observed: int = 0
    """An estimate of the calls made while disarmed (``DisarmStats.
    not_observed_estimate``: the hits scaled by disarmed over armed time, low for a
    hot function); never counted as captured, dropped or sampled out."""


class Counters(Struct, frozen=True, kw_only=True):
    """Counts at the end of a capture, keyed by probe index (as a string).

    Every event the BPF side emitted is in the dump or in ``lost_records``
    (consumed from the ring but not kept: beyond ``--max-events``)."""

    probes: dict[str, ProbeCounters]
    lost_records: int = 0
    stop_reason: str = ""


class Notice(Struct, frozen=True, kw_only=True):
    """A message for the user recorded in the dump (a probe that failed to attach...)."""

    probe_id: str | None
    kind: str
    message: str


_json = msgspec.json.Encoder(order="deterministic")


class DumpWriter:
    """Appends framed records to an open binary file."""

    def __init__(self, out: BinaryIO, header: DumpHeader) -> None:
        self._out = out
        payload = _json.encode(header)
        out.write(_PREFIX.pack(MAGIC, DUMP_FORMAT_VERSION, len(payload)))
        out.write(payload + struct.pack("<I", zlib.crc32(payload)))

    def event(self, payload: bytes) -> None:
        """Append one raw event."""
        self._out.write(frame(RECORD_EVENT, payload))

    def events(self, records: bytes) -> None:
        """Append EVENT records already framed (the capture reader frames them)."""
        self._out.write(records)

    def counters(self, counters: Counters) -> None:
        """Append the final counters."""
        self._record(RECORD_COUNTERS, _json.encode(counters))

    def notice(self, notice: Notice) -> None:
        """Append a notice."""
        self._record(RECORD_NOTICE, _json.encode(notice))

    def _record(self, kind: int, payload: bytes) -> None:
        self._out.write(frame(kind, payload))

    def flush(self) -> None:
        """Flush the underlying file."""
        self._out.flush()


@dataclass(slots=True)
class Record:
    """One record read back: its kind, payload and byte offset in the dump.
    Read-only by convention (a frozen dataclass costs twice as much to make, once
    per event)."""

    kind: int
    payload: bytes
    offset: int


def read_header(inp: BinaryIO, name: str = "dump") -> DumpHeader:
    """Read and check the dump prefix and header; raise DecodeError if it is not one."""
    prefix = inp.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        raise DecodeError(f"{name}: too short to be a godi dump ({len(prefix)} bytes)")
    magic, version, hlen = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise DecodeError(f"{name}: not a godi dump (bad magic {magic!r})")
    if version not in READABLE_VERSIONS:
        raise DecodeError(
            f"{name}: dump format version {version}, this godi reads"
            f" {', '.join(map(str, READABLE_VERSIONS))}"
        )
    if hlen > MAX_RECORD:
        raise DecodeError(f"{name}: implausible header length {hlen}")
    raw = inp.read(hlen + 4)
    if len(raw) < hlen + 4:
        raise DecodeError(f"{name}: header cut off ({len(raw)} of {hlen + 4} bytes)")
    raw, crc = raw[:hlen], struct.unpack("<I", raw[hlen:])[0]
    if zlib.crc32(raw) != crc:
        raise DecodeError(f"{name}: the dump header is corrupt (its CRC-32 does not match)")
    try:
        return msgspec.json.decode(raw, type=DumpHeader)
    except msgspec.ValidationError as e:
        raise DecodeError(f"{name}: bad dump header: {e}") from e
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise DecodeError(f"{name}: dump header is not JSON: {e}") from e


Scan = Callable[[bytes, int, int], tuple[list[bytes], int]]
"""Takes whole records from ``buf[pos:]``, the first at dump offset ``offset``:
``(what it made of them, where the first record it did not take starts)``."""


class RecordReader:
    """Iterates the records after the header; skips corrupt ones, stops cleanly at a
    cut-off record.

    After iteration, ``truncated_at`` is the offset of an incomplete trailing record
    (None when the dump ended on a record boundary), and ``corrupt`` lists the
    ``(offset, length)`` of each run of bytes skipped as corrupt. The dump is read
    in chunks of at most ``CHUNK`` bytes, as they come (a pipe is not waited on to
    fill one).
    """

    CHUNK = 1 << 20

    def __init__(self, inp: BinaryIO, start: int) -> None:
        self._read = getattr(inp, "read1", inp.read)
        self._offset = start
        """The dump offset of ``_buf[_pos]``."""
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.truncated_at: int | None = None
        self.corrupt: list[tuple[int, int]] = []

    def __iter__(self) -> Iterator[Record]:
        while (record := self.next()) is not None:
            yield record

    @property
    def offset(self) -> int:
        """The dump offset of the next record."""
        return self._offset

    def next(self) -> Record | None:
        """The next intact record; None at the end of the dump, or at a cut-off
        record. Corrupt bytes before it are skipped (and noted in ``corrupt``)."""
        while True:
            if not self._have(RECORD_PREFIX):
                if len(self._buf) > self._pos:
                    self.truncated_at = self._offset
                return None
            state = self._check()
            if state:
                break
            if not self._skip(state):
                return None
        _, kind, length, _ = _RECORD.unpack_from(self._buf, self._pos)
        start = self._pos + RECORD_PREFIX
        record = Record(kind, self._buf[start : start + length], self._offset)
        self._pos = start + length
        self._offset += RECORD_PREFIX + length
        return record

    def skip_corrupt(self) -> bool:
        """Skip the corrupt bytes at the position, if any (noting them); whether it
        did. Lets a caller hand the intact record after them back to a ``take``."""
        if not self._have(RECORD_PREFIX):
            return False
        state = self._check()
        return not state and self._skip(state)

    def _skip(self, state: bool | None) -> bool:
        """Skip from the record at the position, corrupt (``state`` False) or
        running past the end of the dump (None), to the next intact one. False when
        there is none and the record was only cut off (``truncated_at``)."""
        first = self._offset
        found = self._resync()
        if state is None and not found:
            self.truncated_at = first
            return False
        self.corrupt.append((first, self._offset - first))
        return True

    def _check(self) -> bool | None:
        """Whether the record at the position is intact (reading it in whole); None
        when the dump ends before its end. Its prefix is in the buffer."""
        sync, _, length, crc = _RECORD.unpack_from(self._buf, self._pos)
        if sync != SYNC or length > MAX_RECORD:
            return False
        if not self._have(RECORD_PREFIX + length):
            return None
        start = self._pos + RECORD_PREFIX
        view = memoryview(self._buf)
        kind_length = view[self._pos + 4 : self._pos + 12]
        return bool(record_crc(kind_length, view[start : start + length]) == crc)

    def _resync(self) -> bool:
        """Move to the next sync marker that starts an intact record (True), or to
        the last one, cut off by the end of the dump, or to the end (False)."""
        while True:
            at = self._buf.find(SYNC, self._pos + 1)
            if at < 0:
                # Keep the last bytes: a marker may straddle what is read next.
                keep = max(self._pos + 1, len(self._buf) - len(SYNC) + 1)
                self._offset += keep - self._pos
                self._pos = keep
                if not self._more():
                    self._offset += len(self._buf) - self._pos
                    self._pos = len(self._buf)
                    return False
                continue
            self._offset += at - self._pos
            self._pos = at
            if not self._have(RECORD_PREFIX):
                return False
            state = self._check()
            if state is not False:
                return bool(state)

    def take(self, scan: Scan) -> list[bytes] | None:
        """What ``scan`` makes of the records from here on, up to one it does not
        take (left for ``next``), the end of the dump, or the end of what was read
        at once; None when it took none."""
        while True:
            made, pos = scan(self._buf, self._pos, self._offset)
            if pos != self._pos:
                self._offset += pos - self._pos
                self._pos = pos
                return made
            if self._whole_record() or not self._more():
                return None

    def _whole_record(self) -> bool:
        """Whether a record starts at the position and is all in the buffer (or
        says it is too long to ever be, or does not start with a sync marker)."""
        left = len(self._buf) - self._pos
        if left < RECORD_PREFIX:
            return False
        sync, _, length, _ = _RECORD.unpack_from(self._buf, self._pos)
        return bool(sync != SYNC or length > MAX_RECORD or left >= RECORD_PREFIX + length)

    def _have(self, n: int) -> bool:
        """Whether ``n`` bytes from the position are in the buffer, reading more
        as needed; False at the end of the dump."""
        while len(self._buf) - self._pos < n:
            if not self._more(n):
                return False
        return True

    def _more(self, want: int = 0) -> bool:
        """Read more of the dump into the buffer (at least ``want`` bytes from the
        position in all, if the dump has them); False at its end."""
        if self._eof:
            return False
        kept = self._buf[self._pos :]
        data = self._read(max(self.CHUNK, want - len(kept)))
        if not data:
            self._eof = True
            return False
        self._buf = kept + data
        self._pos = 0
        return True


def decode_counters(payload: bytes) -> Counters:
    """Parse a COUNTERS record."""
    return msgspec.json.decode(payload, type=Counters)


def decode_notice(payload: bytes) -> Notice:
    """Parse a NOTICE record."""
    return msgspec.json.decode(payload, type=Notice)
