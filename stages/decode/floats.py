"""Joining floats records to their hits (``stages.capture.floats``).

A probe whose variables have bytes in XMM registers has ``vector`` pieces: the
event's root holds zeros there. For a hit BPF signalled (``EVENT_FLAG_FLOATS_ASKED``)
a floats record follows in the dump with the hit's thread id and time (the
token); when its frame check passed, the registers it brings are the values.

``join_floats`` runs before decoding, on the records after the dump header: it
takes the floats records out, writes each joined register's low bytes into its
hit's root, and renumbers the hit to a *variant* of its probe: a copy of the
probe's layout (appended after the real ones, same probe id) whose vector pieces
are ``register`` where the value came, ``unavailable`` with the reason where it
did not. The decoder then needs to know nothing of floats. A hit without floats
(no record, a failed check, a register the probed instruction writes, a program
handling SIGURG) keeps its zeros as ``unavailable``, never as a value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import msgspec

from ..dump import (
    MAX_RECORD,
    RECORD_EVENT,
    RECORD_NOTICE,
    SYNC,
    decode_notice,
    frame,
    record_crc,
)
from ..layout import (
    EVENT_FLAG_FLOATS_ASKED,
    EVENT_FLAG_FLOATS_REFUSED,
    EVENT_HEADER_FORMAT,
    EVENT_HEADER_SIZE,
    FLOATS_OK,
    FLOATS_PC_MISMATCH,
    FLOATS_PROBE_BIT,
    FLOATS_RECORD_FORMAT,
    FLOATS_SP_MISMATCH,
    Layout,
    PieceLayout,
    ProbeLayout,
    VariableLayout,
)

__all__ = ["FloatsTally", "join_floats"]

_RECORD = struct.Struct("<4sIII")  # the dump's framing: sync, kind, length, CRC-32
_EVENT = struct.Struct(EVENT_HEADER_FORMAT)
_FLOATS = struct.Struct(FLOATS_RECORD_FORMAT)

REFUSED = (
    "not read: the program handles SIGURG itself (signal.Notify); "
    "godi capture --floats always reads them anyway"
)
NOT_ASKED = "not read: the hit was not signalled for its vector registers"
NO_FRAME = "no signal frame of the hit reached the runtime's signal handler"
READ_FAILED = "the signal frame could not be read"
FLOATS_AMBIGUOUS = -1
AMBIGUOUS = "two floats records claim the hit"
SP_MISMATCH = "the signal frame is not the hit's: its stack pointer is another"
NOT_ASKED_REGISTER = "written by the probed instruction before it could be read"


@dataclass
class FloatsTally:
    """Per XMM piece of the hits decoded: how many got their value, and why the
    others did not (reason -> count)."""

    captured: int = 0
    unavailable: dict[str, int] = field(default_factory=dict)
    records: int = 0
    """Floats records in the dump."""
    orphans: int = 0
    """Floats records whose hit is not in the dump."""
    signalled: int = 0
    """Hits in the dump that BPF signalled for their registers."""


def _outcome(
    probe: ProbeLayout,
    flags: int,
    record: tuple[int, int, int, int, tuple[int, ...]] | None,
    notes: dict[int, str],
) -> tuple[tuple[int, str | None], ...]:
    """For each XMM register of ``probe``: (register, None when its value came, else
    the reason it did not)."""
    regs = [n for n in range(16) if probe.vector_registers >> n & 1]
    note = notes.get(probe.index)
    if flags & EVENT_FLAG_FLOATS_REFUSED:
        return tuple((r, REFUSED) for r in regs)
    if record is None:
        why = NO_FRAME if flags & EVENT_FLAG_FLOATS_ASKED else (note or NOT_ASKED)
        return tuple((r, why) for r in regs)
    status, mask, rip, expected, _ = record
    if status == FLOATS_PC_MISMATCH:
        why = (
            f"the signal frame is not the hit's: interrupted at 0x{rip:x}, not at the "
            f"instruction after the probed one (0x{expected:x})"
        )
        return tuple((r, why) for r in regs)
    if status == FLOATS_AMBIGUOUS:
        return tuple((r, AMBIGUOUS) for r in regs)
    if status == FLOATS_SP_MISMATCH:
        return tuple((r, SP_MISMATCH) for r in regs)
    if status != FLOATS_OK:
        return tuple((r, READ_FAILED) for r in regs)
    return tuple((r, None if mask >> r & 1 else (note or NOT_ASKED_REGISTER)) for r in regs)


Outcome = tuple[tuple[int, str | None], ...]


def _variant(probe: ProbeLayout, index: int, outcome: Outcome) -> ProbeLayout:
    why = dict(outcome)

    def piece(p: PieceLayout) -> PieceLayout:
        if p.source != "vector" or p.register is None:
            return p
        reason = why.get(p.register)
        if reason is None:
            return msgspec.structs.replace(p, source="register")
        return msgspec.structs.replace(p, source="unavailable", reason=reason)

    variables: list[VariableLayout] = [
        msgspec.structs.replace(v, pieces=[piece(p) for p in v.pieces]) for v in probe.variables
    ]
    return msgspec.structs.replace(probe, index=index, variables=variables)


def join_floats(data: bytes, layout: Layout) -> tuple[bytes, Layout, FloatsTally]:
    """``data`` (the dump's records after its header) with the floats records taken
    out and joined (see the module docstring); the layout with the variants the
    hits were renumbered to; the tally. A cut-off last record is kept as it is."""
    tally = FloatsTally()
    records: dict[tuple[int, int], tuple[int, int, int, int, tuple[int, ...]]] = {}
    notes: dict[int, str] = {}
    spans: list[tuple[int, int, int]] = []  # (kind, start of payload, end)
    pos, end = 0, len(data)
    while pos + _RECORD.size <= end:
        sync, kind, length, crc = _RECORD.unpack_from(data, pos)
        if sync != SYNC or length > MAX_RECORD or pos + _RECORD.size + length > end:
            break  # the rest as it is: decode reports it
        start = pos + _RECORD.size
        pos = start + length
        if record_crc(data[start - 12 : start - 4], data[start:pos]) != crc:
            spans.append((-1, start, pos))  # damaged: kept as it is, for decode to report
            continue
        spans.append((kind, start, pos))
        if kind == RECORD_EVENT and length >= EVENT_HEADER_SIZE + _FLOATS.size:
            probe, _dl, ktime, _g, _tgid, tid = _EVENT.unpack_from(data, start)[:6]
            if probe & FLOATS_PROBE_BIT:
                f = _FLOATS.unpack_from(data, start + EVENT_HEADER_SIZE)
                key = (tid, ktime)
                # Two records claiming one hit (a damaged dump): believe neither.
                records[key] = (
                    (FLOATS_AMBIGUOUS, 0, 0, 0, ())
                    if key in records
                    else (f[0], f[1], f[2], f[3], f[4:])
                )
                tally.records += 1
        elif kind == RECORD_NOTICE:
            try:
                notice = decode_notice(data[start : start + length])
            except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
                continue  # decode reports it
            head, _, text = notice.message.partition(": ")
            if notice.kind == "floats" and head.isdigit():
                notes[int(head)] = text
    tail = data[pos:]
    by_index = {p.index: p for p in layout.probes}
    variants: dict[tuple[int, tuple[tuple[int, str | None], ...]], ProbeLayout] = {}
    out = bytearray()
    joined = 0
    for kind, start, stop in spans:
        if kind == RECORD_EVENT and stop - start >= EVENT_HEADER_SIZE:
            fields = _EVENT.unpack_from(data, start)
            probe_index, ktime, tid, flags = fields[0], fields[2], fields[5], fields[8]
            if probe_index & FLOATS_PROBE_BIT:
                continue
            probe = by_index.get(probe_index)
            if probe is not None and probe.vector_registers:
                record = records.get((tid, ktime))
                if flags & EVENT_FLAG_FLOATS_ASKED:
                    tally.signalled += 1
                if record is not None:
                    joined += 1
                outcome = _outcome(probe, flags, record, notes)
                key = (probe_index, outcome)
                variant = variants.get(key)
                if variant is None:
                    variant = _variant(probe, len(layout.probes) + len(variants), outcome)
                    variants[key] = variant
                payload = bytearray(data[start:stop])
                struct.pack_into("<I", payload, 0, variant.index)
                xmm = record[4] if record is not None else ()
                ok = {r for r, why in outcome if why is None}
                for var in probe.variables:
                    for p in var.pieces:
                        if p.source != "vector" or p.register is None or var.root_offset is None:
                            continue
                        if p.register in ok:
                            at = EVENT_HEADER_SIZE + var.root_offset + p.offset
                            if at + p.size <= len(payload):
                                value = xmm[p.register].to_bytes(8, "little")
                                payload[at : at + p.size] = value[: p.size]
                            tally.captured += 1
                        else:
                            why = dict(outcome)[p.register] or ""
                            tally.unavailable[why] = tally.unavailable.get(why, 0) + 1
                out += frame(kind, bytes(payload))
                continue
        out += data[start - _RECORD.size : stop]
    tally.orphans = tally.records - joined
    extended = msgspec.structs.replace(layout, probes=[*layout.probes, *variants.values()])
    return bytes(out + tail), extended, tally
