"""Which functions of the IR a probe's ``where`` names."""

from __future__ import annotations

from ..decode.stacks import func_name_for_print
from ..ir import Function, InlinedFunction, InlinedInstance, Program
from ..spec import Probe


def method_candidates(probe: Probe) -> list[str]:
    """The Go function names ``where`` may mean, most specific first."""
    where = probe.where
    method = where.method_name or ""
    if not where.type_name:
        return [method]
    type_name = where.type_name
    pointer = type_name.startswith("*")
    type_name = type_name.lstrip("*")
    pkg, _, bare = type_name.rpartition(".")
    prefix = f"{pkg}." if pkg else ""
    names = [f"{prefix}(*{bare}).{method}", f"{prefix}{bare}.{method}"]
    return names if pointer else [names[1], names[0]]


def wanted_function_names(probes: list[Probe]) -> list[str]:
    """What a scoped irgen needs for the probes: the exact function names they may
    mean, ``pkg.F[...]`` for a generic probe (every shape instantiation) and a line
    request (``stages.irgen.scope.line_request``) for a line probe, which irgen
    resolves against the binary."""
    from ..irgen.scope import line_request

    out: set[str] = set()
    for p in probes:
        where = p.where
        if where.source_file and where.lines:
            for line in where.lines:
                if line.strip().isdigit():
                    out.add(line_request(where.source_file, int(line)))
        elif where.method_name:
            out.update(method_candidates(p))
    return sorted(out)


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
