"""The Go register ABI on amd64 (``src/cmd/compile/abi-internal.md``), as far as irgen needs it.

DWARF describes where each declared parameter is; it says nothing about the
hidden dictionary argument of a generic shape function before Go 1.27, and
describes it by its spill slot from then on. Where that argument arrives is
derived here from the register-assignment algorithm: a value is broken down
into base values that take the next integer or floating-point registers, and
goes to the stack whole when it does not fit.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import (
    ArrayType,
    BaseType,
    ChanType,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    SliceType,
    StringType,
    StructType,
    Type,
    TypedefType,
    UnsafePointerType,
)

# Integer argument registers in assignment order, as DWARF numbers them:
# RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11.
INT_REGISTERS = (0, 3, 2, 5, 4, 8, 9, 10, 11)
# X0..X14 are DWARF registers 17..31.
FLOAT_REGISTERS = tuple(range(17, 32))
_MAX_DEPTH = 64

Lookup = Callable[[int], Type]


class _DoesNotFit(Exception):
    """The value cannot be register-assigned."""


def register_needs(type_id: int, lookup: Lookup) -> tuple[int, int] | None:
    """(integer, floating-point) registers a value of type ``type_id`` takes.

    None when the ABI assigns it to the stack: an array longer than 1, more
    registers than the ABI has, a zero-size value, or a type irgen cannot break
    down. ``lookup`` returns the IR type of an id.
    """
    if lookup(type_id).size == 0:
        return None
    counts = [0, 0]
    try:
        _assign(type_id, lookup, counts, 0)
    except _DoesNotFit:
        return None
    if counts[0] > len(INT_REGISTERS) or counts[1] > len(FLOAT_REGISTERS):
        return None
    return counts[0], counts[1]


def _assign(type_id: int, lookup: Lookup, counts: list[int], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _DoesNotFit
    t = lookup(type_id)
    if isinstance(t, TypedefType):
        _assign(t.target, lookup, counts, depth + 1)
    elif isinstance(t, BaseType):
        if t.go_kind in ("float32", "float64"):
            counts[1] += 1
        elif t.go_kind in ("complex64", "complex128"):
            counts[1] += 2
        else:
            counts[0] += 1
    elif isinstance(t, PointerType | UnsafePointerType | MapType | ChanType | FuncType):
        counts[0] += 1
    elif isinstance(t, StringType | InterfaceType):
        counts[0] += 2
    elif isinstance(t, SliceType):
        counts[0] += 3
    elif isinstance(t, StructType):
        for f in t.fields:
            _assign(f.type, lookup, counts, depth + 1)
    elif isinstance(t, ArrayType):
        if t.count > 1:
            raise _DoesNotFit
        if t.count == 1:
            _assign(t.elem, lookup, counts, depth + 1)
    else:
        raise _DoesNotFit
