"""One raw event record, taken apart with every length checked.

The record format is ``bpf/godi_event.h``: a ``struct godi_event`` header, the root
area (padded to 8), ``stack_len`` program counters, then blocks until ``data_len``.
``parse_event`` never trusts a length: a record whose parts do not add up raises
``DecodeError`` naming its byte offset in the dump.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import DecodeError
from ..layout import (
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


def _pad8(n: int) -> int:
    return (n + 7) & ~7


class Block:
    """``count`` elements of capture type ``type`` copied from ``addr``.

    ``data`` is empty when ``read_failed``; ``short`` says the walker ran out of
    budget and copied fewer elements than it wanted. Read-only by convention (a
    plain slotted class: events hold thousands of these).
    """

    __slots__ = ("addr", "count", "data", "flags", "type")

    def __init__(self, addr: int, type: int, count: int, flags: int, data: memoryview) -> None:
        self.addr = addr
        self.type = type
        self.count = count
        self.flags = flags
        self.data = data

    @property
    def read_failed(self) -> bool:
        return bool(self.flags & BLOCK_FLAG_READ_FAILED)

    @property
    def short(self) -> bool:
        return bool(self.flags & BLOCK_FLAG_SHORT)


@dataclass(frozen=True, slots=True)
class RawEvent:
    """An event record taken apart: header fields, root bytes, stack, blocks.

    ``blocks`` maps ``(addr, capture type index)`` to the block for it; when the
    walker copied the same memory twice, the block with the most elements is kept.
    ``offset`` is the record's byte offset in the dump.
    """

    offset: int
    probe: int
    ktime_ns: int
    goid: int
    tgid: int
    tid: int
    flags: int
    fail_mask: int
    cfa: int
    stack_hi: int
    root: memoryview
    stack: tuple[int, ...]
    blocks: dict[tuple[int, int], Block]
    any_short: bool


def corrupt_event(offset: int, why: str) -> DecodeError:
    """The error for an inconsistent event record at byte ``offset`` of the dump."""
    return DecodeError(f"corrupt event record at byte {offset}: {why}")


def parse_event(payload: bytes, offset: int, type_sizes: list[int]) -> RawEvent:
    """Take apart the payload of one EVENT record found at ``offset`` in the dump.

    ``type_sizes`` is the element size of each capture type, by index. Raises
    ``DecodeError`` naming ``offset`` when the record is inconsistent (lengths that
    do not add up, unknown capture type). The probe index is not checked here.
    """

    def corrupt(why: str) -> DecodeError:
        return corrupt_event(offset, why)

    total = len(payload)
    if total < EVENT_HEADER_SIZE:
        raise corrupt(f"{total} bytes, shorter than the {EVENT_HEADER_SIZE}-byte header")
    (
        probe,
        data_len,
        ktime_ns,
        goid,
        tgid,
        tid,
        root_len,
        stack_len,
        flags,
        fail_mask,
        cfa,
        stack_hi,
    ) = _EVENT.unpack_from(payload, 0)
    if data_len != total - EVENT_HEADER_SIZE:
        raise corrupt(
            f"header says {data_len} data bytes, the record holds {total - EVENT_HEADER_SIZE}"
        )
    view = memoryview(payload)
    pos = EVENT_HEADER_SIZE
    root_end = pos + root_len
    stack_start = pos + _pad8(root_len)
    stack_end = stack_start + 8 * stack_len
    if stack_end > total:
        raise corrupt(
            f"root ({root_len} bytes) and stack ({stack_len} pcs) overrun the {data_len} data bytes"
        )
    root = view[pos:root_end]
    stack = struct.unpack_from(f"<{stack_len}Q", payload, stack_start)

    blocks: dict[tuple[int, int], Block] = {}
    any_short = 0
    pos = stack_end
    ntypes = len(type_sizes)
    unpack = _BLOCK.unpack_from
    while pos < total:
        if pos + BLOCK_HEADER_SIZE > total:
            raise corrupt(f"block header at event byte {pos} cut off")
        addr, type_index, count, length, bflags = unpack(payload, pos)
        if type_index >= ntypes:
            raise corrupt(
                f"block at event byte {pos}: capture type {type_index}, the layout has {ntypes}"
            )
        data_start = pos + BLOCK_HEADER_SIZE
        data_end = data_start + length
        if data_end > total:
            raise corrupt(f"block at event byte {pos}: {length} data bytes overrun the record")
        if bflags & BLOCK_FLAG_READ_FAILED:
            if length != 0:
                raise corrupt(f"block at event byte {pos}: read failed but holds {length} bytes")
        elif length != count * type_sizes[type_index]:
            raise corrupt(
                f"block at event byte {pos}: {count} elements of {type_sizes[type_index]} "
                f"bytes but {length} data bytes"
            )
        block = Block(addr, type_index, count, bflags, view[data_start:data_end])
        any_short |= bflags & BLOCK_FLAG_SHORT
        key = (addr, type_index)
        old = blocks.get(key)
        if old is None or _better(block, old):
            blocks[key] = block
        # The padding after the last block may be left out.
        pos = data_start + ((length + 7) & ~7)
        if pos > total:
            pos = total

    return RawEvent(
        offset=offset,
        probe=probe,
        ktime_ns=ktime_ns,
        goid=goid,
        tgid=tgid,
        tid=tid,
        flags=flags,
        fail_mask=fail_mask,
        cfa=cfa,
        stack_hi=stack_hi,
        root=root,
        stack=stack,
        blocks=blocks,
        any_short=bool(any_short),
    )


def _better(new: Block, old: Block) -> bool:
    """Whether ``new`` serves more lookups than ``old`` for the same memory."""
    old_failed = old.flags & BLOCK_FLAG_READ_FAILED
    if old_failed != new.flags & BLOCK_FLAG_READ_FAILED:
        return bool(old_failed)
    return new.count > old.count
