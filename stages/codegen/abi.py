"""Go's register ABI (ABIInternal, amd64): where results are at a return.

DWARF rarely describes results at the return instruction, so return probes read
them where the ABI puts them (``cmd/compile/abi-internal.md``): each value is
assigned to integer and floating-point registers if all of it fits in the
registers left, otherwise all of it goes to the stack area; results are assigned
after the arguments' stack area, with the register counters starting afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import (
    ArrayType,
    BaseType,
    CfaPiece,
    InterfaceType,
    Piece,
    RegisterPiece,
    SliceType,
    StringType,
    StructType,
    TypeIndex,
)

INT_REGISTERS = (0, 3, 2, 5, 4, 8, 9, 10, 11)
"""DWARF numbers of RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11, in assignment order."""
FLOAT_REGISTERS = tuple(17 + i for i in range(15))
"""DWARF numbers of X0..X14."""
POINTER_SIZE = 8


@dataclass(frozen=True)
class _Leaf:
    size: int
    is_float: bool


def _leaves(type_id: int, types: TypeIndex) -> list[_Leaf] | None:
    """The register-sized leaves of a value, or None if it cannot go in registers."""
    t = types.resolve(type_id)
    if isinstance(t, BaseType):
        if t.go_kind in ("float32", "float64"):
            return [_Leaf(t.size, True)]
        if t.go_kind in ("complex64", "complex128"):
            return [_Leaf(t.size // 2, True), _Leaf(t.size // 2, True)]
        return [_Leaf(t.size, False)]
    if isinstance(t, StringType | InterfaceType):
        return [_Leaf(8, False), _Leaf(8, False)]
    if isinstance(t, SliceType):
        return [_Leaf(8, False)] * 3
    if isinstance(t, StructType):
        out: list[_Leaf] = []
        for f in t.fields:
            sub = _leaves(f.type, types)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if isinstance(t, ArrayType):
        if t.count == 0:
            return []
        if t.count == 1:
            return _leaves(t.elem, types)
        return None
    if t.size == 0:
        return []
    if t.size <= POINTER_SIZE:
        return [_Leaf(t.size, False)]  # pointers, maps, chans, funcs, unsafe.Pointer
    return None


class Assigner:
    """Assigns a sequence of values (arguments, then results) per the ABI."""

    def __init__(self, types: TypeIndex) -> None:
        self._types = types
        self._stack = 0
        self._ints = 0
        self._floats = 0

    def start_results(self) -> None:
        """Results: registers start afresh; the stack area continues, pointer-aligned."""
        self._stack = _align(self._stack, POINTER_SIZE)
        self._ints = 0
        self._floats = 0

    def assign(self, type_id: int) -> list[Piece]:
        """The pieces of the next value; stack pieces are CFA-relative at entry/return."""
        leaves = _leaves(type_id, self._types)
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
        t = self._types.resolve(type_id)
        self._stack = _align(self._stack, max(t.align, 1))
        piece = CfaPiece(offset=self._stack, size=t.size)
        self._stack += t.size
        return [piece] if t.size else []


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def result_pieces(params: list[int], results: list[int], types: TypeIndex) -> list[list[Piece]]:
    """The pieces of each result at a return instruction, given the parameter and
    result types in order (receiver first)."""
    assigner = Assigner(types)
    for p in params:
        assigner.assign(p)
    assigner.start_results()
    return [assigner.assign(r) for r in results]
