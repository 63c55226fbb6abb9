"""Rendering values backed by runtime structures: maps, channels, funcs,
interfaces, and ``time.Time``.

The BPF walker copied the runtime structures these values point at (a map's
header and buckets or swiss-table groups, a channel's ``hchan``, a func's code
pointer, an interface's itab and dynamic value) as blocks of capture types whose
``role`` names the structure; the offsets come from the IR's map and channel
layouts, which irgen read from the binary's DWARF.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import msgspec

from ..abi import direct_iface, direct_leaf
from ..ir import (
    BucketMapLayout,
    ChanType,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    StringType,
    StructType,
    SwissMapLayout,
    UnsafePointerType,
)
from ..layout import BLOCK_FLAG_PARTIAL, BLOCK_FLAG_READ_FAILED, KEY_REDACTED
from . import jsontext
from .events import Block
from .jsontext import UNAVAILABLE, quote

if TYPE_CHECKING:
    from .values import Buffer, Ranges, Render, RenderContext, ValueRenderer

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")
_NO_RANGES: tuple[tuple[int, int], ...] = ()

# time.Time's encoding (src/time/time.go): wall's top bit says a monotonic reading
# is present, and then bits 1..33 hold seconds since 1885; else ext holds seconds
# since year 1. The low 30 bits of wall are the nanoseconds.
_HAS_MONOTONIC = 1 << 63
_SECONDS_PER_DAY = 86400
_WALL_TO_INTERNAL = (1884 * 365 + 1884 // 4 - 1884 // 100 + 1884 // 400) * _SECONDS_PER_DAY
_UNIX_TO_INTERNAL = (1969 * 365 + 1969 // 4 - 1969 // 100 + 1969 // 400) * _SECONDS_PER_DAY
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _valid(block: Block | None) -> bool:
    """Whether ``block`` is there and holds at least one element."""
    return block is not None and not block[3] & BLOCK_FLAG_READ_FAILED and block[2] > 0


def _readable(block: Block | None) -> bool:
    """Whether ``block`` is there and holds at least part of an element."""
    return (
        block is not None
        and not block[3] & BLOCK_FLAG_READ_FAILED
        and (block[2] > 0 or bool(block[3] & BLOCK_FLAG_PARTIAL))
    )


def _elements(block: Block, n: int, size: int) -> range:
    """Where the first ``n`` elements of ``block`` start: its whole ones, and the
    one it holds only the head of (``PARTIAL``: its memory stopped being
    readable there); each is read up to the block's end at most."""
    start, _, count, flags = block
    shown = min(n, count + (1 if flags & BLOCK_FLAG_PARTIAL else 0))
    return range(start, start + shown * size, size)


def compile_map(r: ValueRenderer, name: str, t: MapType) -> Render:
    """``map[K]V``: ``size`` and ``entries`` read from buckets or swiss groups.

    The value of an entry whose key is a string naming a redacted identifier is
    not shown (``redactedIdent``); BPF's key guard marked such keys (``KEY_REDACTED``
    in the length word) and never copied their values."""
    head = jsontext.head(name)
    null = head + ',"isNull":true}'
    unavailable = head + UNAVAILABLE
    layout = t.layout
    header_ix = r.role_index("map_header", t.id)
    if layout is None or header_ix is None:
        return _word_constant(unavailable)
    key_r = r.renderer(t.key)
    string_key = isinstance(r.resolve(t.key), StringType)
    val_r = r.renderer(t.value)
    redacted = jsontext.value_text(r.name(t.value), "redactedIdent")
    redaction = r.redaction
    key_ix = r.value_indices(t.key)
    val_ix = r.value_indices(t.value)
    from .values import MAX_LEVELS, path_key  # values imports this module

    key_id = path_key(0, r.resolve(t.id).id)[1]
    add = 3 + max(r.levels(t.key), r.levels(t.value))  # entries, a pair, a value
    if isinstance(layout, BucketMapLayout):
        entries_of = _bucket_entries(r, t, layout, key_ix, val_ix)
        count_offset = layout.count_offset
        needed = max(
            layout.count_offset + 8,
            layout.log2_buckets_offset + 1,
            layout.buckets_offset + 8,
            layout.old_buckets_offset + 8,
        )
    else:
        entries_of = _swiss_entries(r, t, layout, key_ix, val_ix)
        count_offset = layout.used_offset
        needed = max(layout.used_offset + 8, layout.dir_ptr_offset + 8, layout.dir_len_offset + 8)

    def render_map(buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext) -> str:
        if holes and r.overlaps(holes, off, off + 8):
            return unavailable
        addr = _U64.unpack_from(buf, off)[0]
        if addr == 0:
            return null
        header = ctx.blocks.get((addr, header_ix))
        if not _readable(header):
            ctx.missing = True
            return unavailable
        assert header is not None
        read = header[1]  # a PARTIAL header is read up to a page never touched
        if header[0] + count_offset + 8 > read:
            ctx.missing = True  # read only up to a page never touched, before its count
            return unavailable
        count = _U64.unpack_from(ctx.payload, header[0] + count_offset)[0]
        if header[0] + needed > read:
            if count == 0:  # empty: its buckets or directory are not needed
                return f'{head},"entries":[],"size":"0"}}'
            ctx.missing = True  # read only up to a page never touched, before its words
            return unavailable
        # A map may hold itself (through an interface, or as its own value type).
        here = (addr, key_id)
        if here in ctx.path:
            return f'{head},"size":"{count}","notCapturedReason":"circular reference"}}'
        if ctx.levels + add > MAX_LEVELS:
            return f'{head},"size":"{count}","notCapturedReason":"depth"}}'
        limit = ctx.max_collection_size
        entries: list[str] = []
        ctx.path.add(here)
        ctx.levels += add
        try:
            for key_data, key_off, val_data, val_off in entries_of(header[0], ctx):
                if len(entries) >= limit:
                    break
                if string_key and _U64.unpack_from(key_data, key_off + 8)[0] & KEY_REDACTED:
                    key = key_r(_unmarked(key_data, key_off), 0, depth, _NO_RANGES, ctx)
                    entries.append(f"[{key},{redacted}]")
                    continue
                key = key_r(key_data, key_off, depth, _NO_RANGES, ctx)
                value = val_r(val_data, val_off, depth, _NO_RANGES, ctx)
                if string_key:
                    shown = shown_value(key)
                    if shown is not None and redaction.ident(shown):
                        value = redacted
                entries.append(f"[{key},{value}]")
        finally:
            ctx.path.discard(here)
            ctx.levels -= add
        want = min(count, limit)
        if len(entries) < want:
            ctx.missing = True
        text = f'{head},"entries":[{",".join(entries)}],"size":"{count}"'
        if count > len(entries):
            # Fewer entries than the limit allows: some of the map's memory was not
            # captured, and the value says so rather than look complete-but-cut.
            why = "collectionSize" if count > limit else "unavailable"
            return f'{text},"truncated":true,"notCapturedReason":"{why}"}}'
        return text + "}"

    return render_map


def _unmarked(data: Buffer, off: int) -> bytes:
    """The string header at ``off`` without the key guard's mark."""
    ptr, length = struct.unpack_from("<QQ", data, off)
    return struct.pack("<QQ", ptr, length & ~KEY_REDACTED)


class _Shown(msgspec.Struct):
    """The one member of a rendered value a map needs of its key."""

    value: str | None = None


_shown_decoder = msgspec.json.Decoder(_Shown)


def shown_value(text: str | bytes) -> str | None:
    """The ``value`` member of a rendered value: what a string key shows."""
    return _shown_decoder.decode(text).value


Slot = tuple["Buffer", int, "Buffer", int]
"""(key bytes, key offset, value bytes, value offset) of a full map slot."""


def _indirect(
    ctx: RenderContext, data: Buffer, off: int, indices: tuple[int, ...]
) -> tuple[Buffer, int] | None:
    """A key or value stored behind a pointer in its slot."""
    ptr = _U64.unpack_from(data, off)[0]
    for ix in indices:
        block = ctx.blocks.get((ptr, ix))
        if _valid(block):
            assert block is not None
            return ctx.payload, block[0]
    return None


def _bucket_entries(
    r: ValueRenderer,
    t: MapType,
    layout: BucketMapLayout,
    key_ix: tuple[int, ...],
    val_ix: tuple[int, ...],
) -> Callable[[int, RenderContext], Iterator[Slot]]:
    bucket_ix = r.role_index("map_bucket", t.id)
    size = layout.bucket_size
    slots = layout.bucket_slots

    def chain(ctx: RenderContext, addr: int, n: int) -> Iterator[tuple[Buffer, int, int]]:
        """(payload, start, end of what was read) of each bucket and overflow."""
        if bucket_ix is None or addr == 0:
            return
        block = ctx.blocks.get((addr, bucket_ix))
        if not _readable(block):
            return
        assert block is not None
        payload = ctx.payload
        for base in _elements(block, n, size):
            end = min(block[1], base + size)
            yield payload, base, end
            seen = 0
            at = base + layout.overflow_offset
            ovf = _U64.unpack_from(payload, at)[0] if at + 8 <= end else 0
            while ovf and seen < 64:  # overflow chains are short; bound them anyway
                nxt = ctx.blocks.get((ovf, bucket_ix))
                if not _readable(nxt):
                    break
                assert nxt is not None
                nxt_end = min(nxt[1], nxt[0] + size)
                yield payload, nxt[0], nxt_end
                at = nxt[0] + layout.overflow_offset
                ovf = _U64.unpack_from(payload, at)[0] if at + 8 <= nxt_end else 0
                seen += 1

    def entries(at: int, ctx: RenderContext) -> Iterator[Slot]:
        header = ctx.payload
        log2 = header[at + layout.log2_buckets_offset]
        buckets = _U64.unpack_from(header, at + layout.buckets_offset)[0]
        old = _U64.unpack_from(header, at + layout.old_buckets_offset)[0]
        sources = [(buckets, 1 << log2)]
        if old and log2 > 0:
            sources.append((old, 1 << (log2 - 1)))
        for addr, n in sources:
            for data, base, end in chain(ctx, addr, n):
                for j in range(slots):
                    if base + layout.tophash_offset + j >= end:
                        break  # the rest of a partly read bucket
                    if data[base + layout.tophash_offset + j] < layout.min_top_hash:
                        continue
                    k_off = base + layout.keys_offset + j * layout.key_size
                    v_off = base + layout.values_offset + j * layout.value_size
                    if k_off + layout.key_size > end or v_off + layout.value_size > end:
                        ctx.missing = True
                        continue
                    k = (
                        _indirect(ctx, data, k_off, key_ix)
                        if layout.key_indirect
                        else (data, k_off)
                    )
                    v = (
                        _indirect(ctx, data, v_off, val_ix)
                        if layout.value_indirect
                        else (data, v_off)
                    )
                    if k is None or v is None:
                        ctx.missing = True
                        continue
                    yield k[0], k[1], v[0], v[1]

    return entries


def _swiss_entries(
    r: ValueRenderer,
    t: MapType,
    layout: SwissMapLayout,
    key_ix: tuple[int, ...],
    val_ix: tuple[int, ...],
) -> Callable[[int, RenderContext], Iterator[Slot]]:
    group_ix = r.role_index("map_group", t.id)
    table_ix = r.role_index("map_table", t.id)
    dir_ix = r.role_index("map_directory", t.id)

    def groups(ctx: RenderContext, addr: int, n: int) -> Iterator[tuple[Buffer, int, int]]:
        if group_ix is None or addr == 0:
            return
        block = ctx.blocks.get((addr, group_ix))
        if not _readable(block):
            ctx.missing = True
            return
        assert block is not None
        for base in _elements(block, n, layout.group_size):
            yield ctx.payload, base, min(block[1], base + layout.group_size)

    def tables(at: int, ctx: RenderContext) -> Iterator[tuple[Buffer, int, int]]:
        payload = ctx.payload
        dir_ptr = _U64.unpack_from(payload, at + layout.dir_ptr_offset)[0]
        dir_len = _U64.unpack_from(payload, at + layout.dir_len_offset)[0]
        if dir_len == 0:
            yield from groups(ctx, dir_ptr, 1)
            return
        if dir_ix is None or table_ix is None:
            return
        directory = ctx.blocks.get((dir_ptr, dir_ix))
        if not _valid(directory):
            ctx.missing = True
            return
        assert directory is not None
        seen: set[int] = set()
        start, _, elements, _ = directory
        for i in range(elements):
            table = _U64.unpack_from(payload, start + i * 8)[0]
            if table in seen:
                continue  # several directory entries may share a table
            seen.add(table)
            tb = ctx.blocks.get((table, table_ix))
            if not _valid(tb):
                ctx.missing = True
                continue
            assert tb is not None
            data_ptr = _U64.unpack_from(payload, tb[0] + layout.groups_data_offset)[0]
            mask = _U64.unpack_from(payload, tb[0] + layout.groups_length_mask_offset)[0]
            yield from groups(ctx, data_ptr, mask + 1)

    def entries(at: int, ctx: RenderContext) -> Iterator[Slot]:
        for data, base, end in tables(at, ctx):
            ctrl_at = base + layout.ctrl_offset
            if ctrl_at + layout.group_slots > end:
                ctx.missing = True
                continue  # a partly read group without its control word
            ctrl = data[ctrl_at : ctrl_at + layout.group_slots]
            for j in range(layout.group_slots):
                if ctrl[j] & layout.ctrl_empty:
                    continue  # empty or deleted
                slot = base + layout.slots_offset + j * layout.slot_size
                k_off = slot + layout.key_offset
                v_off = slot + layout.elem_offset
                if k_off + layout.key_size > end or v_off + layout.elem_size > end:
                    ctx.missing = True
                    continue
                k = _indirect(ctx, data, k_off, key_ix) if layout.key_indirect else (data, k_off)
                v = _indirect(ctx, data, v_off, val_ix) if layout.elem_indirect else (data, v_off)
                if k is None or v is None:
                    ctx.missing = True
                    continue
                yield k[0], k[1], v[0], v[1]

    return entries


def compile_chan(r: ValueRenderer, name: str, t: ChanType) -> Render:
    """``chan T``: ``len`` and ``cap``, and whether it is closed."""
    head = jsontext.head(name)
    null = head + ',"isNull":true}'
    unavailable = head + UNAVAILABLE
    layout = t.layout
    ix = r.role_index("chan", t.id)
    if layout is None or ix is None:
        return _word_constant(unavailable)
    is_closed = head + ',"fields":{"closed":{"type":"bool","value":"true"}}'
    is_open = head + ',"fields":{"closed":{"type":"bool","value":"false"}}'
    needed = max(layout.closed_offset + 4, layout.qcount_offset + 8, layout.dataqsiz_offset + 8)

    def render_chan(buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext) -> str:
        if holes and r.overlaps(holes, off, off + 8):
            return unavailable
        addr = _U64.unpack_from(buf, off)[0]
        if addr == 0:
            return null
        block = ctx.blocks.get((addr, ix))
        if not _readable(block):
            ctx.missing = True
            return f'{head},"address":"{addr:#x}"{UNAVAILABLE}'
        assert block is not None
        data, at = ctx.payload, block[0]
        if at + needed > block[1]:
            # hchan's end ran into a page the program never touched, before the
            # fields shown (they come first: not seen so far)
            ctx.missing = True
            return f'{head},"address":"{addr:#x}"{UNAVAILABLE}'
        closed = _U32.unpack_from(data, at + layout.closed_offset)[0] != 0
        length = _U64.unpack_from(data, at + layout.qcount_offset)[0]
        cap = _U64.unpack_from(data, at + layout.dataqsiz_offset)[0]
        start = is_closed if closed else is_open
        return f'{start},"address":"{addr:#x}","len":"{length}","cap":"{cap}"}}'

    return render_chan


def compile_func(r: ValueRenderer, name: str, t: FuncType) -> Render:
    """A func value: the name of the function its closure runs."""
    head = jsontext.head(name)
    null = head + ',"isNull":true}'
    unavailable = head + UNAVAILABLE
    unknown = jsontext.value_text(name, "missing type information")
    ix = r.role_index("code", None)

    def render_func(buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext) -> str:
        if holes and r.overlaps(holes, off, off + 8):
            return unavailable
        addr = _U64.unpack_from(buf, off)[0]
        if addr == 0:
            return null
        block = ctx.blocks.get((addr, ix)) if ix is not None else None
        if not _valid(block):
            ctx.missing = ctx.missing or block is None
            return unavailable
        assert block is not None
        pc = _U64.unpack_from(ctx.payload, block[0])[0]
        function = r.function_name(pc)
        if function is None:
            return unknown
        return head + ',"value":' + quote(function) + "}"

    return render_func


def compile_interface(r: ValueRenderer, name: str, t: InterfaceType) -> Render:
    """An interface: ``fields.data`` is the value of its dynamic type."""
    head = jsontext.head(name)
    null = head + ',"isNull":true}'
    unavailable = head + UNAVAILABLE
    missing = jsontext.value_text(name, "missing type information")
    too_deep = jsontext.value_text(name, "depth")
    circular = jsontext.value_text(name, "circular reference")
    from .values import MAX_LEVELS  # values imports this module

    data_start = head + ',"fields":{"data":'
    itab_ix = None if t.empty else r.role_index("itab", None)

    def render_interface(
        buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
    ) -> str:
        if holes and r.overlaps(holes, off, off + 16):
            return unavailable
        word, data = struct.unpack_from("<QQ", buf, off)
        if word == 0:
            return null
        if t.empty:
            descriptor = word
        else:
            itab = ctx.blocks.get((word, itab_ix)) if itab_ix is not None else None
            if not _valid(itab):
                ctx.missing = True
                return unavailable
            assert itab is not None
            descriptor = _U64.unpack_from(ctx.payload, itab[0] + 8)[0]
        dyn = r.runtime_type(descriptor)
        if dyn is None:
            # a type reflect made on the heap (its fields, data and value: 3 levels)
            deep = depth >= ctx.max_reference_depth or ctx.levels + 3 > MAX_LEVELS
            made = r.heap_types.interface(descriptor, head, ctx.payload, ctx.blocks, deep)
            return missing if made is None else made
        add = 2 + r.levels(dyn)  # fields, data, the value
        if depth >= ctx.max_reference_depth or ctx.levels + add > MAX_LEVELS:
            return too_deep
        render = r.renderer(dyn)
        if r.resolve(dyn).size == 0:
            # A zero-size value (struct{}, [0]int): nothing to read, and its data
            # word points at runtime.zerobase, which the walker does not copy.
            ctx.levels += add
            try:
                value = render(b"", 0, depth + 1, _NO_RANGES, ctx)
            finally:
                ctx.levels -= add
        elif direct_iface(dyn, r.resolve):
            # The data word is the value: a pointer renders its pointee one level
            # down, which is the level the interface hop reaches. A map, channel or
            # func has no pointee of its own: the walker copied what it refers to at
            # the hop's level (godi_iface), so it is rendered there, and what it
            # holds says "depth" where the walker stopped, not "unavailable". A
            # struct (array) of one of them is as its one field (element).
            leaf = direct_leaf(dyn, r.resolve)
            hop = 0 if isinstance(leaf, PointerType | UnsafePointerType) else 1
            ctx.levels += add
            try:
                value = render(_U64.pack(data), 0, depth + hop, _NO_RANGES, ctx)
            finally:
                ctx.levels -= add
        else:
            indices = r.value_indices(dyn)
            block = None
            for ix in indices:
                block = ctx.blocks.get((data, ix))
                if _valid(block):
                    break
            if not _valid(block):
                ctx.missing = True
                value = jsontext.value_text(r.name(dyn), "unavailable")
            else:
                assert block is not None
                # The value at ``data``: what a pointer to it is keyed by.
                here = (data, r.resolve(dyn).id)
                if here in ctx.path:
                    return circular
                ctx.path.add(here)
                ctx.levels += add
                try:
                    value = render(ctx.payload, block[0], depth + 1, _NO_RANGES, ctx)
                finally:
                    ctx.path.discard(here)
                    ctx.levels -= add
        return data_start + value + "}}"

    return render_interface


def compile_time(r: ValueRenderer, name: str, t: StructType) -> Render | None:
    """``time.Time`` as RFC 3339 with nanoseconds, in UTC; None if the struct does
    not have the fields this encoding needs."""
    offsets = {f.name: f.offset for f in t.fields}
    if "wall" not in offsets or "ext" not in offsets:
        return None
    wall_off, ext_off = offsets["wall"], offsets["ext"]
    head = jsontext.head(name)
    unavailable = head + UNAVAILABLE

    def render_time(buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext) -> str:
        if holes and r.overlaps(holes, off, off + 16):
            return unavailable
        wall = _U64.unpack_from(buf, off + wall_off)[0]
        ext = _I64.unpack_from(buf, off + ext_off)[0]
        return head + ',"value":' + quote(format_time(wall, ext)) + "}"

    return render_time


def format_time(wall: int, ext: int) -> str:
    """RFC 3339 with nanoseconds (trailing zeros dropped), UTC, of a Go time.Time."""
    nsec = wall & ((1 << 30) - 1)
    monotonic = wall & _HAS_MONOTONIC
    sec = _WALL_TO_INTERNAL + ((wall << 1 & ((1 << 64) - 1)) >> 31) if monotonic else ext
    unix = sec - _UNIX_TO_INTERNAL
    try:
        when = _EPOCH + datetime.timedelta(seconds=unix)
    except OverflowError:
        return f"{unix}s+{nsec}ns since 1970"
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if nsec:
        text += "." + f"{nsec:09d}".rstrip("0")
    return text + "Z"


def _word_constant(text: str) -> Render:
    """A renderer that always gives ``text`` (a kind without its runtime layout)."""

    def render(buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext) -> str:
        return text

    return render
