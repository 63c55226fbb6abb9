"""The raw dump (``events.dump``): what capture writes and decode reads.

Data and framing only. A dump is

    magic  b"GODIDUMP"                8 bytes
    u32    format version
    u32    header length N
    N      header, JSON (``DumpHeader``)
    records, each: u32 kind, u32 length L, L bytes of payload

Record kinds: ``EVENT`` (one raw ``struct godi_event`` from the ring buffer),
``COUNTERS`` (JSON ``Counters``, written when capture stops) and ``NOTICE`` (JSON
``Notice``: something the user should know, e.g. a probe that failed to attach).
A dump cut off mid-record still reads up to its last whole record; the reader then
reports the cut instead of failing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import msgspec

from ._base import Struct
from .errors import DecodeError

MAGIC = b"GODIDUMP"
DUMP_FORMAT_VERSION = 1

RECORD_EVENT = 1
RECORD_COUNTERS = 2
RECORD_NOTICE = 3

_PREFIX = struct.Struct("<8sII")
_RECORD = struct.Struct("<II")
MAX_RECORD = 1 << 24


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
        out.write(payload)

    def event(self, payload: bytes) -> None:
        """Append one raw event."""
        self._out.write(_RECORD.pack(RECORD_EVENT, len(payload)))
        self._out.write(payload)

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
        self._out.write(_RECORD.pack(kind, len(payload)))
        self._out.write(payload)

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
    if version != DUMP_FORMAT_VERSION:
        raise DecodeError(
            f"{name}: dump format version {version}, this godi reads {DUMP_FORMAT_VERSION}"
        )
    if hlen > MAX_RECORD:
        raise DecodeError(f"{name}: implausible header length {hlen}")
    raw = inp.read(hlen)
    if len(raw) < hlen:
        raise DecodeError(f"{name}: header cut off ({len(raw)} of {hlen} bytes)")
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
    """Iterates the records after the header; stops cleanly at a cut-off record.

    After iteration, ``truncated_at`` is the offset of an incomplete trailing record
    (None when the dump ended on a record boundary). The dump is read in chunks of
    at most ``CHUNK`` bytes, as they come (a pipe is not waited on to fill one).
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

    def __iter__(self) -> Iterator[Record]:
        while (record := self.next()) is not None:
            yield record

    @property
    def offset(self) -> int:
        """The dump offset of the next record."""
        return self._offset

    def next(self) -> Record | None:
        """The next record; None at the end of the dump, or at a cut-off record."""
        if not self._have(_RECORD.size):
            if len(self._buf) > self._pos:
                self.truncated_at = self._offset
            return None
        kind, length = _RECORD.unpack_from(self._buf, self._pos)
        if length > MAX_RECORD:
            raise DecodeError(f"record at byte {self._offset}: implausible length {length}")
        if not self._have(_RECORD.size + length):
            self.truncated_at = self._offset
            return None
        start = self._pos + _RECORD.size
        record = Record(kind, self._buf[start : start + length], self._offset)
        self._pos = start + length
        self._offset += _RECORD.size + length
        return record

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
        says it is too long to ever be)."""
        left = len(self._buf) - self._pos
        if left < _RECORD.size:
            return False
        length: int = _RECORD.unpack_from(self._buf, self._pos)[1]
        return length > MAX_RECORD or left >= _RECORD.size + length

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
