"""Inlined copies of functions: where each is, its call site and its variables.

The compiler describes an inlinable function once, abstractly (a subprogram with
``DW_AT_inline`` holding its name and its parameters' names and types), and each
copy it inlined as a ``DW_TAG_inlined_subroutine`` inside the caller, pointing
back at it with ``DW_AT_abstract_origin``, with its own PC ranges, call site and
variable locations. Go writes the abstract origin first among the copy's
attributes, so a function's copies are found by searching .debug_info for
references to it, without walking the callers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from operator import itemgetter

import msgspec

from ..ir import InlinedFunction, InlinedInstance, Variable
from .dwarf import DwarfReader, Entry
from .elf import ElfImage
from .functions import variables_of
from .locations import NO_LOCATION
from .prologue import RETURN_ADDRESS_SIZE
from .types import TypeTable

INLINED_TAG = "DW_TAG_inlined_subroutine"
_RSP = 7


def build_instance(
    reader: DwarfReader,
    types: TypeTable,
    entry: Entry,
    caller: str,
    nested: list[Entry] | None = None,
) -> InlinedInstance | None:
    """The inlined copy described by ``entry`` (in ``caller``); None without PCs.

    With ``nested``, inlined copies within this one are appended to it. Go's
    frame base is always the CFA, which variable locations are relative to.
    """
    ranges = reader.ranges(entry)
    if not ranges:
        return None
    entry_pc = min(low for low, _ in ranges)
    cfa = reader.cfa_at(entry_pc)
    call_file = entry.integer("DW_AT_call_file")
    code_range = (entry_pc, max(high for _, high in ranges))
    variables = variables_of(reader, types, entry, code_range, True, nested)
    return InlinedInstance(
        caller=caller,
        entry_pc=entry_pc,
        entry_cfa_offset=cfa.offset
        if cfa is not None and cfa.register == _RSP
        else RETURN_ADDRESS_SIZE,
        ranges=sorted(ranges),
        call_file=reader.file_name(entry.unit, call_file) if call_file is not None else "",
        call_line=entry.integer("DW_AT_call_line") or 0,
        variables=_with_missing_parameters(reader, types, entry, _folded(variables)),
        dwarf_offset=entry.offset,
    )


MISSING_IN_COPY = "optimised out of this inlined copy (no DWARF entry for it)"
# An inlined copy's variable whose location is empty everywhere: typically an
# argument passed as a constant (``scale(x, 3)``) or a value computed from
# constants, which the compiler folds into the copy's instructions. Go (1.21 to
# 1.27) writes such a variable an empty location list and never a
# DW_AT_const_value (it uses that attribute only for package constants), and the
# pclntab inline tree records no arguments. The constant is not recovered from the
# caller's instructions: which immediate, if any, is this argument is the source's
# knowledge, not the binary's (``x * 3`` becomes ``LEAQ (AX)(AX*2)``, ``x * 8``
# ``SHLQ $3``, and the 3 of ``scale("two", n, 3)`` may be a copy of the string
# length 3 held in another register).
FOLDED_IN_COPY = (
    "no location in this inlined copy: a constant argument or a value folded into "
    "the code, which Go records nowhere (no DW_AT_const_value)"
)


def _folded(variables: list[Variable]) -> list[Variable]:
    """``variables`` with the generic reason of an empty location replaced by the
    one an inlined copy's empty location means (``FOLDED_IN_COPY``)."""
    if not any(v.unavailable == NO_LOCATION for v in variables):
        return variables
    return [
        msgspec.structs.replace(v, unavailable=FOLDED_IN_COPY)
        if v.unavailable == NO_LOCATION
        else v
        for v in variables
    ]


def _with_missing_parameters(
    reader: DwarfReader, types: TypeTable, entry: Entry, variables: list[Variable]
) -> list[Variable]:
    """``variables`` with every parameter and function-level local of the abstract
    origin the copy has no entry for (the compiler leaves out one it optimised
    away), located nowhere and saying why: a parameter is never silently absent,
    and a line probe lists such a local as a debugger would. Parameters come in
    declaration order."""
    target = entry.ref("DW_AT_abstract_origin")
    abstract = reader.entry_at(target) if target is not None else None
    if abstract is None:
        return variables
    params = {v.name: v for v in variables if v.role == "param"}
    others = {v.name for v in variables if v.role != "param"}
    declared: list[Variable] = []
    missing_locals: list[Variable] = []
    for child in reader.children(abstract):
        is_param = child.tag == "DW_TAG_formal_parameter"
        if not is_param and child.tag != "DW_TAG_variable":
            continue
        if is_param and child.attrs.get("DW_AT_variable_parameter"):
            continue  # a result: not shown at an inlined copy's entry or lines
        name, type_ref = child.name, child.ref("DW_AT_type")
        if not name or type_ref is None:
            continue
        if is_param and name in params:
            declared.append(params.pop(name))
            continue
        if name in params or name in others:
            continue
        missing = Variable(
            name=name,
            type=types.require(type_ref),
            role="param" if is_param else "local",
            decl_line=child.integer("DW_AT_decl_line") or 0,
            unavailable=MISSING_IN_COPY,
        )
        (declared if is_param else missing_locals).append(missing)
    if not missing_locals and len(declared) == sum(1 for v in variables if v.role == "param"):
        return variables
    rest = [v for v in variables if v.role != "param"]
    return declared + list(params.values()) + rest + missing_locals


def instances_in(
    reader: DwarfReader, types: TypeTable, entries: Iterable[Entry], caller: str
) -> dict[int, list[InlinedInstance]]:
    """Every inlined copy among ``entries`` and within them, by abstract origin."""
    out: dict[int, list[InlinedInstance]] = {}
    pending = list(entries)
    while pending:
        entry = pending.pop()
        target = entry.ref("DW_AT_abstract_origin")
        nested: list[Entry] = []
        instance = build_instance(reader, types, entry, caller, nested)
        pending.extend(nested)
        if instance is not None and target is not None:
            out.setdefault(target, []).append(instance)
    return out


def find_instances(
    reader: DwarfReader, image: ElfImage, types: TypeTable, abstract: Entry
) -> list[InlinedInstance]:
    """Every inlined copy of the abstract subprogram ``abstract``, anywhere.

    The caller of each is named by the function symbol whose code holds it.
    """
    out = []
    for entry in reader.find_referring(abstract.offset, INLINED_TAG):
        ranges = reader.ranges(entry)
        caller = image.function_at(min(low for low, _ in ranges)) if ranges else None
        instance = build_instance(reader, types, entry, caller[1] if caller else "")
        if instance is not None:
            out.append(instance)
    return out


def inlined_function(
    reader: DwarfReader,
    abstract: Entry,
    instances: list[InlinedInstance],
    image: ElfImage,
    file: str | None = None,
) -> InlinedFunction:
    """The IR record of an inlined function and its copies, sorted by entry PC.

    Go writes no ``DW_AT_decl_file`` on abstract subprograms: the file is the
    one the line table gives for the first copy's entry, unless ``file`` says.
    """
    instances = sorted(instances, key=lambda i: (i.entry_pc, i.dwarf_offset))
    if file is None and instances:
        first = instances[0]
        caller = image.function_at(first.entry_pc)
        if caller is not None:
            start, _, end = caller
            unit = reader.unit_at(first.dwarf_offset)
            rows = reader.function_rows(unit, start, end)
            i = bisect.bisect_right(rows, first.entry_pc, key=itemgetter(0))
            if i:
                file = reader.file_name(unit, rows[i - 1][1])
    return InlinedFunction(
        name=abstract.name or "",
        origin=abstract.offset,
        file=file or "",
        line=abstract.integer("DW_AT_decl_line") or 0,
        instances=instances,
    )
