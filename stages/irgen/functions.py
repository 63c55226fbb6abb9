"""Subprogram entries -> IR ``Function``s: names, variables, probe PCs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ..ir import Function, ReturnSite, Variable, VariableRole
from .dwarf import DwarfReader, Entry
from .elf import ElfImage
from .generics import dictionary_param
from .locations import frame_base_is_cfa, variable_locations
from .prologue import PROLOGUE_WINDOW, RETURN_ADDRESS_SIZE, analyse_prologue, find_returns
from .types import TypeTable

log = logging.getLogger(__name__)

_VARIABLE_TAGS = ("DW_TAG_formal_parameter", "DW_TAG_variable")


def origin(reader: DwarfReader, entry: Entry) -> Entry:
    """The entry ``entry`` takes its name and declaration from (itself if none)."""
    seen = 0
    while seen < 8:
        ref = entry.ref("DW_AT_abstract_origin")
        if ref is None:
            return entry
        entry = reader.entry_at(ref)
        seen += 1
    return entry


def subprogram_name(reader: DwarfReader, entry: Entry) -> str | None:
    """The Go name of a subprogram, looking through ``DW_AT_abstract_origin``."""
    return entry.name or origin(reader, entry).name


def is_concrete(entry: Entry) -> bool:
    """Whether a subprogram entry is out-of-line code (not an inlining template)."""
    return "DW_AT_low_pc" in entry.attrs and "DW_AT_inline" not in entry.attrs


def build_function(
    reader: DwarfReader, image: ElfImage, types: TypeTable, entry: Entry, name: str
) -> Function | None:
    """The IR function for a concrete subprogram entry; None without PCs."""
    pcs = reader.pc_range(entry)
    if pcs is None or pcs[1] <= pcs[0]:
        return None
    low, high = pcs
    decl = origin(reader, entry)
    holder = entry if "DW_AT_decl_file" in entry.attrs else decl
    decl_file = holder.integer("DW_AT_decl_file")
    if decl_file is not None:
        file = reader.file_name(holder.unit, decl_file)
    else:
        # Go's abstract origins have no DW_AT_decl_file: the line table knows.
        file = reader.file_at(entry.unit, low)
    line = entry.integer("DW_AT_decl_line") or decl.integer("DW_AT_decl_line") or 0

    code = image.read(low, high - low)
    prologue = analyse_prologue(code[:PROLOGUE_WINDOW], low)
    returns = [ReturnSite(pc=pc, cfa_offset=RETURN_ADDRESS_SIZE) for pc in find_returns(code, low)]
    cfa_base = frame_base_is_cfa(reader, entry)
    variables = [
        variable
        for child, scope in _variable_entries(reader, entry, [])
        if (variable := _variable(reader, types, child, scope, (low, high), cfa_base)) is not None
    ]
    return Function(
        name=name,
        low_pc=low,
        high_pc=high,
        file=file,
        line=line,
        entry_pc=prologue.entry_pc,
        entry_cfa_offset=prologue.cfa_offset,
        frame_pointer=prologue.frame_pointer,
        variables=variables,
        return_sites=returns,
        dwarf_offset=entry.offset,
        dictionary=dictionary_param(name, variables, types.get),
    )


def _variable_entries(
    reader: DwarfReader, parent: Entry, scope: list[tuple[int, int]]
) -> Iterator[tuple[Entry, list[tuple[int, int]]]]:
    """Parameters and variables in declaration order, with their block's ranges.

    Inlined calls (``DW_TAG_inlined_subroutine``) are not descended into: their
    variables belong to the inlined function.
    """
    for child in reader.children(parent):
        if child.tag in _VARIABLE_TAGS:
            yield child, scope
        elif child.tag == "DW_TAG_lexical_block":
            yield from _variable_entries(reader, child, reader.ranges(child))


def _variable(
    reader: DwarfReader,
    types: TypeTable,
    entry: Entry,
    scope: list[tuple[int, int]],
    function_range: tuple[int, int],
    cfa_base: bool,
) -> Variable | None:
    decl = origin(reader, entry)
    name = entry.name or decl.name or ""
    type_ref = entry.ref("DW_AT_type") or decl.ref("DW_AT_type")
    if type_ref is None:
        log.debug("%s: variable %r at %#x has no type, skipped", reader.path, name, entry.offset)
        return None
    role: VariableRole = "local"
    if entry.tag == "DW_TAG_formal_parameter":
        # A concrete copy of an inlinable function keeps the flag on its origin.
        holder = entry if "DW_AT_variable_parameter" in entry.attrs else decl
        role = "result" if holder.flag("DW_AT_variable_parameter") else "param"
    locations, unavailable = variable_locations(
        reader, entry, function_range, cfa_base, result=role == "result"
    )
    return Variable(
        name=name,
        type=types.require(type_ref),
        role=role,
        decl_line=entry.integer("DW_AT_decl_line") or decl.integer("DW_AT_decl_line") or 0,
        locations=locations,
        unavailable=unavailable,
        scope=scope if role == "local" else [],
    )
