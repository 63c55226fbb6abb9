"""A value's scalar leaves, in the order the Go register ABI assigns them.

DWARF describes a register-passed struct as one piece per register, and pieces
carry no padding: ``struct{a uint16; b bool; c float32}`` is pieces of 2, 1 and 4
bytes at offsets 0, 2 and 4 of an 8-byte value. Matching pieces to leaves in
order (not by adding up piece sizes) puts each piece at its field's offset.
"""

from __future__ import annotations

from ..ir import (
    ArrayType,
    BaseType,
    InterfaceType,
    SliceType,
    StringType,
    StructType,
    TypeIndex,
)

Leaf = tuple[int, int]
"""(byte offset within the value, byte size)."""


def abi_leaves(type_id: int, types: TypeIndex, base: int = 0) -> list[Leaf]:
    """The scalar leaves of a value of ``type_id``, in ABI order."""
    t = types.resolve(type_id)
    if isinstance(t, BaseType) and t.go_kind in ("complex64", "complex128"):
        half = t.size // 2
        return [(base, half), (base + half, half)]
    if isinstance(t, StringType | InterfaceType):
        return [(base, 8), (base + 8, 8)]
    if isinstance(t, SliceType):
        return [(base, 8), (base + 8, 8), (base + 16, 8)]
    if isinstance(t, StructType):
        out: list[Leaf] = []
        for f in t.fields:
            out.extend(abi_leaves(f.type, types, base + f.offset))
        return out
    if isinstance(t, ArrayType):
        elem = types.resolve(t.elem)
        out = []
        for i in range(t.count):
            out.extend(abi_leaves(t.elem, types, base + i * elem.size))
        return out
    if t.size == 0:
        return []
    return [(base, t.size)]


def place_pieces(sizes: list[int | None], leaves: list[Leaf], total: int) -> list[Leaf]:
    """Where each piece goes: (offset within the value, bytes to copy).

    ``sizes`` are the pieces' sizes (None: the whole value). A piece covering
    several leaves copies the span from its first leaf to the end of its last.
    Pieces that do not line up with leaves fall back to being laid end to end.
    """
    if len(sizes) == 1:
        if sizes[0] is not None:
            return [(0, sizes[0])]
        # The whole value, up to its last leaf: trailing padding (a struct ending
        # in a zero-size field) is in no register, so a value in one is 8 bytes.
        return [(0, max((at + n for at, n in leaves), default=total))]
    out: list[Leaf] = []
    i = 0
    for size in sizes:
        want = size if size is not None else total
        if i >= len(leaves):
            return _end_to_end(sizes, total)
        start = leaves[i][0]
        got = 0
        end = start
        while i < len(leaves) and got < want:
            got += leaves[i][1]
            end = leaves[i][0] + leaves[i][1]
            i += 1
        if got != want:
            return _end_to_end(sizes, total)
        out.append((start, end - start))
    return out


def _end_to_end(sizes: list[int | None], total: int) -> list[Leaf]:
    out: list[Leaf] = []
    at = 0
    for size in sizes:
        n = size if size is not None else total - at
        out.append((at, n))
        at += n
    return out
