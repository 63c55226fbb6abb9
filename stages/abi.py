"""Go's register ABI on amd64 (``src/cmd/compile/abi-internal.md``) over IR types.

Shared by irgen (where a generic shape function's hidden dictionary arrives),
codegen (where results are at a return instruction, which DWARF rarely says) and
capture/decode (which values an interface holds in its data word directly).

A value is broken down into register-sized leaves; it is assigned to the next
integer and floating-point registers if all of it fits in the registers left,
otherwise all of it goes to the stack area. Results are assigned after the
arguments' stack area, with the register counters starting afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .ir import (
    ArrayType,
    BaseType,
    CfaPiece,
    ChanType,
    FuncType,
    InterfaceType,
    MapType,
    Piece,
    PointerType,
    RegisterPiece,
    SliceType,
    StringType,
    StructType,
    Type,
    TypedefType,
    UnsafePointerType,
)

INT_REGISTERS = (0, 3, 2, 5, 4, 8, 9, 10, 11)
"""DWARF numbers of RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11, in assignment order."""
FLOAT_REGISTERS = tuple(range(17, 32))
"""DWARF numbers of X0..X14."""
POINTER_SIZE = 8
_MAX_DEPTH = 64

Lookup = Callable[[int], Type]
"""The IR type of a type id (typedefs may be returned as such: they are followed)."""


@dataclass(frozen=True)
class _Leaf:
    size: int
    is_float: bool


def _leaves(type_id: int, lookup: Lookup, depth: int = 0) -> list[_Leaf] | None:
    """The register-sized leaves of a value, or None if the ABI puts it on the stack
    whatever the registers left (an array longer than 1, a kind it cannot split)."""
    if depth > _MAX_DEPTH:
        return None
    t = lookup(type_id)
    if isinstance(t, TypedefType):
        return _leaves(t.target, lookup, depth + 1)
    if isinstance(t, BaseType):
        if t.go_kind in ("float32", "float64"):
            return [_Leaf(t.size, True)]
        if t.go_kind in ("complex64", "complex128"):
            return [_Leaf(t.size // 2, True), _Leaf(t.size // 2, True)]
        return [_Leaf(t.size, False)]
    if isinstance(t, PointerType | UnsafePointerType | MapType | ChanType | FuncType):
        return [_Leaf(POINTER_SIZE, False)]
    if isinstance(t, StringType | InterfaceType):
        return [_Leaf(8, False), _Leaf(8, False)]
    if isinstance(t, SliceType):
        return [_Leaf(8, False)] * 3
    if isinstance(t, StructType):
        out: list[_Leaf] = []
        for f in t.fields:
            sub = _leaves(f.type, lookup, depth + 1)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if isinstance(t, ArrayType):
        if t.count == 0:
            return []
        if t.count == 1:
            return _leaves(t.elem, lookup, depth + 1)
        return None
    return None


def register_needs(type_id: int, lookup: Lookup) -> tuple[int, int] | None:
    """(integer, floating-point) registers a value of type ``type_id`` takes; None
    when the ABI assigns it to the stack (zero-size, unsplittable, too many)."""
    if lookup(type_id).size == 0:
        return None
    leaves = _leaves(type_id, lookup)
    if leaves is None:
        return None
    floats = sum(1 for leaf in leaves if leaf.is_float)
    ints = len(leaves) - floats
    if ints > len(INT_REGISTERS) or floats > len(FLOAT_REGISTERS):
        return None
    return ints, floats


class Assigner:
    """Assigns a sequence of values (arguments, then results) per the ABI."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._stack = 0
        self._ints = 0
        self._floats = 0

    def start_results(self) -> None:
        """Results: registers start afresh; the stack area continues, pointer-aligned."""
        self._stack = _align(self._stack, POINTER_SIZE)
        self._ints = 0
        self._floats = 0

    def assign_word(self) -> list[Piece]:
        """The pieces of a pointer-sized integer argument (an undescribed dictionary)."""
        if self._ints < len(INT_REGISTERS):
            self._ints += 1
            return [RegisterPiece(register=INT_REGISTERS[self._ints - 1], size=POINTER_SIZE)]
        self._stack = _align(self._stack, POINTER_SIZE)
        self._stack += POINTER_SIZE
        return [CfaPiece(offset=self._stack - POINTER_SIZE, size=POINTER_SIZE)]

    def assign(self, type_id: int) -> list[Piece]:
        """The pieces of the next value; stack pieces are CFA-relative at entry/return.

        A zero-size value is stack-assigned (cmd/compile's assignParam): it takes no
        bytes, but the stack offset is aligned for it, which moves what follows
        (``f(a int16, z [0]float64, b uint8)`` on the stack: ``b`` at 8, not 2)."""
        leaves = (
            None if _resolve(type_id, self._lookup).size == 0 else _leaves(type_id, self._lookup)
        )
        if leaves is not None:
            ints = sum(1 for leaf in leaves if not leaf.is_float)
            floats = len(leaves) - ints
            if self._ints + ints <= len(INT_REGISTERS) and self._floats + floats <= len(
                FLOAT_REGISTERS
            ):
                pieces: list[Piece] = []
                for leaf in leaves:
                    if leaf.is_float:
                        reg = FLOAT_REGISTERS[self._floats]
                        self._floats += 1
                    else:
                        reg = INT_REGISTERS[self._ints]
                        self._ints += 1
                    pieces.append(RegisterPiece(register=reg, size=leaf.size))
                return pieces
        t = _resolve(type_id, self._lookup)
        self._stack = _align(self._stack, max(t.align, 1))
        piece = CfaPiece(offset=self._stack, size=t.size)
        self._stack += t.size
        return [piece] if t.size else []


def result_pieces(params: list[int], results: list[int], lookup: Lookup) -> list[list[Piece]]:
    """The pieces of each result at a return instruction, given the parameter and
    result types in order (receiver first)."""
    assigner = Assigner(lookup)
    for p in params:
        assigner.assign(p)
    assigner.start_results()
    return [assigner.assign(r) for r in results]


def direct_iface(type_id: int, lookup: Lookup) -> bool:
    """Whether an interface holds values of ``type_id`` in its data word itself
    (pointer-shaped types: the runtime's "direct interface" kind flag) rather than
    a pointer to a copy."""
    t = _resolve(type_id, lookup)
    if isinstance(t, PointerType | UnsafePointerType | MapType | ChanType | FuncType):
        return True
    if isinstance(t, StructType) and len(t.fields) == 1:
        return direct_iface(t.fields[0].type, lookup)
    if isinstance(t, ArrayType) and t.count == 1:
        return direct_iface(t.elem, lookup)
    return False


def direct_leaf(type_id: int, lookup: Lookup) -> Type:
    """The pointer-shaped type inside a direct-interface type: itself, or the one
    field of a struct (the one element of an array), recursively."""
    t = _resolve(type_id, lookup)
    for _ in range(_MAX_DEPTH):
        if isinstance(t, StructType) and len(t.fields) == 1:
            t = _resolve(t.fields[0].type, lookup)
        elif isinstance(t, ArrayType) and t.count == 1:
            t = _resolve(t.elem, lookup)
        else:
            break
    return t


def _resolve(type_id: int, lookup: Lookup) -> Type:
    t = lookup(type_id)
    for _ in range(_MAX_DEPTH):
        if not isinstance(t, TypedefType):
            break
        t = lookup(t.target)
    return t


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a
