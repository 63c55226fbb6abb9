"""Generic shape functions: recognising them and locating their dictionary argument.

Go compiles a generic function once per GC shape (``pkg.F[go.shape.int]``,
methods ``pkg.(*T[go.shape.int]).M`` or ``pkg.T[go.shape.int].M``) and passes a
dictionary pointer as the first argument after the receiver. Closures created
inside such a function (``pkg.F[go.shape.int].func1``) reach the dictionary
through their closure context and take none, and neither do the wrappers that
call a shape function with a concrete type's dictionary (``pkg.F[int]``).

From Go 1.27 the compiler describes the argument in DWARF (``.dict``), which says
both that there is one and where it falls among the parameters; before, the
function name says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..abi import INT_REGISTERS, register_needs
from ..ir import CfaPiece, DictionaryParam, Piece, RegisterPiece, Type, Variable

DICT_NAME = ".dict"
_SHAPE = "go.shape."
# Compiler-generated function literals and wrappers nested in a function.
_NESTED = re.compile(r"(?:func|gowrap|deferwrap)\d+")
_POINTER_SIZE = 8


def _type_arguments_end(name: str) -> tuple[int, int] | None:
    """The span of the first bracketed type-argument list of a function name."""
    start = name.find("[")
    if start < 0:
        return None
    depth = 0
    for i in range(start, len(name)):
        if name[i] == "[":
            depth += 1
        elif name[i] == "]":
            depth -= 1
            if depth == 0:
                return start, i + 1
    return None


def shape_receiver(name: str) -> bool | None:
    """Whether a function name is a shape function: None if not, else if it is a method.

    ``main.F[go.shape.int]`` -> False, ``main.(*T[go.shape.int]).M`` and
    ``main.T[go.shape.int].M`` -> True; closures and range-over-func bodies
    within them, and concrete instantiations, -> None.
    """
    span = _type_arguments_end(name)
    if span is None or _SHAPE not in name[span[0] : span[1]]:
        return None
    rest = name[span[1] :]
    if not rest:
        return False
    if rest.startswith(")"):
        rest = rest[1:]
    parts = rest.split(".")
    if len(parts) != 2 or parts[0] or not parts[1] or _NESTED.fullmatch(parts[1]):
        return None
    return True


def dictionary_param(
    name: str, variables: list[Variable], lookup: Callable[[int], Type]
) -> DictionaryParam | None:
    """The dictionary argument of the function ``name`` with these variables, if any.

    ``lookup`` returns the IR type of a type id (to size a receiver in registers).
    """
    params = [v for v in variables if v.role == "param"]
    described = next((i for i, v in enumerate(params) if v.name == DICT_NAME), None)
    if described is not None:
        receiver = params[0] if described == 1 else None
        if described > 1:
            return None  # not where the compiler puts it: do not guess
    else:
        method = shape_receiver(name)
        if method is None:
            return None
        receiver = params[0] if method and params else None
    return DictionaryParam(
        entry_pieces=_entry_pieces(receiver, lookup),
        variable=DICT_NAME if described is not None else None,
    )


def _entry_pieces(receiver: Variable | None, lookup: Callable[[int], Type]) -> list[Piece]:
    """Where the ABI puts a pointer argument that follows ``receiver``."""
    used = 0
    if receiver is not None:
        needs = register_needs(receiver.type, lookup)
        used = needs[0] if needs is not None else 0
    if used < len(INT_REGISTERS):
        return [RegisterPiece(register=INT_REGISTERS[used], size=_POINTER_SIZE)]
    # The receiver took every integer register: the dictionary is the first
    # stack-assigned argument, at the bottom of the caller's argument area.
    return [CfaPiece(offset=0, size=_POINTER_SIZE)]
