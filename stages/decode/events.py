"""One raw event record, taken apart with every length checked.

The record format is ``bpf/godi_event.h``: a ``struct godi_event`` header, the root
area (padded to 8), ``stack_len`` program counters, then blocks until ``data_len``.
Nothing is copied out: values are read at offsets of the record's payload.
``parse_event`` never trusts a length: a record whose parts do not add up raises
``DecodeError`` naming its byte offset in the dump.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

from ..errors import DecodeError
from ..layout import (
    BLOCK_FLAG_PARTIAL,
    BLOCK_FLAG_READ_FAILED,
    BLOCK_FLAG_SHORT,
    BLOCK_HEADER_FORMAT,
    BLOCK_HEADER_SIZE,
    EVENT_HEADER_FORMAT,
    EVENT_HEADER_SIZE,
)

_EVENT = struct.Struct(EVENT_HEADER_FORMAT)
_BLOCK = struct.Struct(BLOCK_HEADER_FORMAT)
assert _EVENT.size == EVENT_HEADER_SIZE
assert _BLOCK.size == BLOCK_HEADER_SIZE


ROOT_AT = EVENT_HEADER_SIZE
"""Where the root area starts in an event's payload."""


Block = tuple[int, int, int, int]
"""``(start, end, elements, flags)``: ``elements`` values of one capture type copied
from one address, the bytes ``payload[start:end]`` of the event (none when the read
failed: ``flags & BLOCK_FLAG_READ_FAILED``). A plain tuple, unpacked where used, and
the data left in the payload: events hold thousands of blocks."""


class Blocks(Protocol):
    """An event's blocks by ``(address, capture type index)``: a dict, or the C
    block index (``native``)."""

    def get(self, key: tuple[int, int], /) -> Block | None: ...

    def __getitem__(self, key: tuple[int, int], /) -> Block: ...


class EventData(Protocol):
    """What values are rendered from: a ``RawEvent``, or ``fastpath.EventBytes``
    for an event decoded in C."""

    @property
    def payload(self) -> bytes: ...

    @property
    def blocks(self) -> Blocks: ...

    @property
    def fail_mask(self) -> int: ...


IndexBlocks = Callable[[bytes, int, list[int]], tuple[Blocks, int] | None]
"""``_parse_blocks`` in C: ``(payload, pos, type_sizes) -> (blocks, SHORT bit)``, or
None where ``_parse_blocks`` raises."""


class RawEvent:
    """An event record taken apart: header fields, stack, blocks.

    ``payload`` is the whole record; the root area is ``payload[ROOT_AT:ROOT_AT +
    root_len]`` and blocks point into it. ``blocks`` maps ``(addr, capture type
    index)`` to the block for it; when the walker copied the same memory twice, the
    block with the most elements is kept. ``offset`` is the record's byte offset in
    the dump. Read-only by convention (a plain slotted class: one per event).
    """

    __slots__ = (
        "any_short",
        "blocks",
        "cfa",
        "fail_mask",
        "flags",
        "goid",
        "ktime_ns",
        "offset",
        "payload",
        "probe",
        "root_len",
        "stack",
        "stack_hi",
        "tgid",
        "tid",
    )

    def __init__(
        self,
        payload: bytes,
        offset: int,
        header: tuple[int, ...],
        stack: bytes,
        blocks: Blocks,
        any_short: bool,
    ) -> None:
        self.payload = payload
        self.offset = offset
        (
            self.probe,
            _,
            self.ktime_ns,
            self.goid,
            self.tgid,
            self.tid,
            self.root_len,
            _,
            self.flags,
            self.fail_mask,
            self.cfa,
            self.stack_hi,
        ) = header
        self.stack = stack
        """The program counters, 8 bytes each, little-endian (see ``pcs``)."""
        self.blocks = blocks
        self.any_short = any_short

    @property
    def pcs(self) -> tuple[int, ...]:
        """The program counters of the stack."""
        return pcs_of(self.stack)


def pcs_of(stack: bytes) -> tuple[int, ...]:
    """The program counters of a stack as an event holds them."""
    return struct.unpack(f"<{len(stack) // 8}Q", stack)


def corrupt_event(offset: int, why: str) -> DecodeError:
    """The error for an inconsistent event record at byte ``offset`` of the dump."""
    return DecodeError(f"corrupt event record at byte {offset}: {why}")


def parse_event(
    payload: bytes, offset: int, type_sizes: list[int], index: IndexBlocks | None = None
) -> RawEvent:
    """Take apart the payload of one EVENT record found at ``offset`` in the dump.

    ``type_sizes`` is the element size of each capture type, by index; ``index``
    indexes the blocks in C (``native``), else ``_parse_blocks`` does. Raises
    ``DecodeError`` naming ``offset`` when the record is inconsistent (lengths that
    do not add up, unknown capture type). The probe index is not checked here.
    """
    total = len(payload)
    if total < EVENT_HEADER_SIZE:
        raise corrupt_event(
            offset, f"{total} bytes, shorter than the {EVENT_HEADER_SIZE}-byte header"
        )
    header = _EVENT.unpack_from(payload, 0)
    data_len, root_len, stack_len = header[1], header[6], header[7]
    if data_len != total - EVENT_HEADER_SIZE:
        raise corrupt_event(
            offset,
            f"header says {data_len} data bytes, the record holds {total - EVENT_HEADER_SIZE}",
        )
    stack_start = ROOT_AT + ((root_len + 7) & ~7)
    stack_end = stack_start + 8 * stack_len
    if stack_end > total:
        raise corrupt_event(
            offset,
            f"root ({root_len} bytes) and stack ({stack_len} pcs) overrun the "
            f"{data_len} data bytes",
        )
    blocks: Blocks = {}
    any_short = 0
    if stack_end < total:
        indexed = index(payload, stack_end, type_sizes) if index is not None else None
        if indexed is not None:
            blocks, any_short = indexed
        else:  # (raises where index gave None)
            found: dict[tuple[int, int], Block] = {}
            any_short = _parse_blocks(payload, stack_end, offset, type_sizes, found)
            blocks = found
    return RawEvent(
        payload, offset, header, payload[stack_start:stack_end], blocks, bool(any_short)
    )


def _parse_blocks(
    payload: bytes,
    pos: int,
    offset: int,
    type_sizes: list[int],
    blocks: dict[tuple[int, int], Block],
) -> int:
    """Index the blocks from ``pos`` to the end of ``payload`` into ``blocks``; return
    the OR of their flags' SHORT bits. Raises ``DecodeError`` as ``parse_event``.

    Per block, only what a valid one needs runs: a header cut off and an unknown
    capture type surface as exceptions of the unpacking and of the size lookup."""
    total = len(payload)
    unpack = _BLOCK.unpack_from
    keep = blocks.setdefault
    any_short = 0
    try:
        while pos < total:
            addr, type_index, count, length, flags = unpack(payload, pos)
            size = type_sizes[type_index]
            start = pos + BLOCK_HEADER_SIZE
            end = start + length
            if end > total or not _adds_up(count, size, length, flags):
                raise _BadBlock(_why(pos, count, size, length, flags, end > total))
            any_short |= flags
            block = (start, end, count, flags)
            old = keep((addr, type_index), block)
            if old is not block and _better(flags, count, old):
                blocks[addr, type_index] = block
            # The padding after the last block may be left out.
            pos = end + (-length & 7)
    except struct.error:
        raise corrupt_event(offset, f"block header at event byte {pos} cut off") from None
    except IndexError:
        raise corrupt_event(
            offset,
            f"block at event byte {pos}: capture type {type_index}, "
            f"the layout has {len(type_sizes)}",
        ) from None
    except _BadBlock as e:
        raise corrupt_event(offset, str(e)) from None
    return any_short & BLOCK_FLAG_SHORT


def _adds_up(count: int, size: int, length: int, flags: int) -> bool:
    """Whether a block of ``count`` elements of ``size`` bytes holds ``length``: none
    if its read failed; the head of one more element if ``PARTIAL``."""
    if flags & BLOCK_FLAG_READ_FAILED:
        return length == 0
    if flags & BLOCK_FLAG_PARTIAL:
        return count * size < length < (count + 1) * size
    return length == count * size


class _BadBlock(Exception):
    """A block whose lengths do not add up (the message says how)."""


def _why(pos: int, count: int, size: int, length: int, flags: int, overrun: bool) -> str:
    """What is wrong with the block at event byte ``pos``."""
    where = f"block at event byte {pos}"
    if overrun:
        return f"{where}: {length} data bytes overrun the record"
    if flags & BLOCK_FLAG_READ_FAILED:
        return f"{where}: read failed but holds {length} bytes"
    return f"{where}: {count} elements of {size} bytes but {length} data bytes"


def _better(flags: int, count: int, old: Block) -> bool:
    """Whether a block of ``flags`` and ``count`` serves more lookups than ``old``
    for the same memory."""
    _, _, old_count, old_flags = old
    old_failed = old_flags & BLOCK_FLAG_READ_FAILED
    if old_failed != flags & BLOCK_FLAG_READ_FAILED:
        return bool(old_failed)
    return count > old_count
