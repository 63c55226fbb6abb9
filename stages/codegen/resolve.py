"""Which functions of the IR a probe's ``where`` names."""

from __future__ import annotations

from ..decode.stacks import func_name_for_print
from ..ir import Function, InlinedFunction, InlinedInstance, Program
from ..probetargets import method_candidates, wanted_function_names
from ..spec import Probe

__all__ = ["inlined_copies", "method_candidates", "resolve", "wanted_function_names"]


def resolve(program: Program, probe: Probe) -> list[Function]:
    """The functions ``probe`` targets: one, or every shape of a generic ``F[...]``."""
    by_name = {f.name: f for f in program.functions}
    for name in method_candidates(probe):
        if name.endswith("[...]"):
            stem = name[: -len("...]")]
            # Every shape of the function, not the closures in it (``F[...].func1``).
            found = sorted(
                (
                    f
                    for f in program.functions
                    if f.name.startswith(stem) and func_name_for_print(f.name) == name
                ),
                key=lambda f: f.name,
            )
            if found:
                return found
        elif name in by_name:
            return [by_name[name]]
    return []


def inlined_copies(program: Program, probe: Probe) -> list[tuple[InlinedFunction, InlinedInstance]]:
    """The copies the compiler inlined into other functions of the function
    ``probe`` targets (exact names only), by address."""
    names = set(method_candidates(probe))
    found = [(inl, inst) for inl in program.inlined if inl.name in names for inst in inl.instances]
    return sorted(found, key=lambda c: c[1].entry_pc)
