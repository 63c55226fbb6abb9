"""Subprogram entries -> IR ``Function``s: names, variables, probe PCs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec

from ..abi import Assigner
from ..ir import (
    CfaPiece,
    DictionaryParam,
    Function,
    LineRow,
    LocationRange,
    Piece,
    RegisterPiece,
    ReturnSite,
    TypedefType,
    Variable,
    VariableRole,
)
from .dwarf import DwarfReader, Entry, Unit
from .elf import ElfImage
from .generics import DICT_NAME, dictionary_param, shape_receiver
from .locations import frame_base_is_cfa, variable_locations
from .prologue import (
    PROLOGUE_WINDOW,
    RETURN_ADDRESS_SIZE,
    analyse_prologue,
    find_returns,
    returns_from_frame,
)
from .types import TypeTable

log = logging.getLogger(__name__)

_VARIABLE_TAGS = ("DW_TAG_formal_parameter", "DW_TAG_variable")


def origin(reader: DwarfReader, entry: Entry) -> Entry:
    """The entry ``entry`` takes its name and declaration from (itself if none)."""
    if "DW_AT_abstract_origin" not in entry.attrs:
        return entry
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
    reader: DwarfReader,
    image: ElfImage,
    types: TypeTable,
    entry: Entry,
    name: str,
    inlined: list[Entry] | None = None,
) -> Function | None:
    """The IR function for a concrete subprogram entry; None without PCs.

    With ``inlined``, the ``DW_TAG_inlined_subroutine`` entries directly in the
    function (not in other inlined copies) are appended to it.
    """
    pcs = reader.pc_range(entry)
    if pcs is None or pcs[1] <= pcs[0]:
        return None
    low, high = pcs
    decl = origin(reader, entry)
    holder = entry if "DW_AT_decl_file" in entry.attrs else decl
    decl_file = holder.integer("DW_AT_decl_file")
    line_files, lines = line_table(reader, entry.unit, low, high)
    if decl_file is not None:
        file = reader.file_name(holder.unit, decl_file)
    else:
        # Go's abstract origins have no DW_AT_decl_file: the line table knows.
        file = line_files[lines[0].file] if lines and lines[0].pc == low else ""
        file = file or reader.file_at(entry.unit, low)
    line = entry.integer("DW_AT_decl_line") or decl.integer("DW_AT_decl_line") or 0

    code = image.read(low, high - low)
    prologue = analyse_prologue(code[:PROLOGUE_WINDOW], low)
    rows = reader.frame_rows(low)
    return_pcs = returns_from_frame(code, low, rows) if rows else None
    if return_pcs is None:
        return_pcs = find_returns(code, low)
    returns = [ReturnSite(pc=pc, cfa_offset=RETURN_ADDRESS_SIZE) for pc in return_pcs]
    variables = variables_of(
        reader, types, entry, (low, high), frame_base_is_cfa(reader, entry), inlined
    )
    dictionary = dictionary_param(name, variables, types.get)
    if dictionary is not None:
        # The argument register holds the dictionary from the first instruction to
        # the entry. (Go 1.27's DWARF puts .dict in its spill slot, which the
        # function may never write; older versions do not describe it at all.)
        entry_range = LocationRange(
            low_pc=low, high_pc=prologue.entry_pc + 1, pieces=dictionary.entry_pieces
        )
        if dictionary.variable is None:
            variables, dictionary = _with_dictionary(variables, dictionary, types, name)
        variables = [
            msgspec.structs.replace(v, locations=[entry_range], unavailable=None)
            if v.name == dictionary.variable and v.role == "param"
            else v
            for v in variables
        ]
    variables = _abi_entry_locations(variables, dictionary, types, low, prologue.entry_pc, name)
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
        dictionary=dictionary,
        line_files=line_files,
        lines=lines,
    )


def _abi_entry_locations(
    variables: list[Variable],
    dictionary: DictionaryParam | None,
    types: TypeTable,
    low: int,
    entry_pc: int,
    name: str,
) -> list[Variable]:
    """Parameters located by the register ABI at the entry where DWARF says nothing.

    At the entry the ABI fixes where every argument is (abi-internal.md): the
    compiler may give no location to an argument the body never reads (Go 1.23's
    unused stack ``bool``), to one passed on the stack after the registers ran out,
    or to a zero-size one. Those get their ABI pieces from the first instruction to
    the entry. So do the arguments the ABI passes on the stack, whatever DWARF
    says: Go's DWARF has put a stack-assigned slice at ``fbreg+8`` when the caller
    stored it at ``CFA+0`` (a ``[]T`` after nine ``int`` arguments, Go 1.24), whose
    length was then read as its pointer. Results repeated by DWARF (an unnamed
    result with a ``defer`` is listed twice, ``~r0, ~r0``) are kept once, or the ABI
    would place the later results in the wrong registers.
    """
    seen_results: set[str] = set()
    kept: list[Variable] = []
    for v in variables:
        if v.role == "result":
            if v.name in seen_results:
                continue
            seen_results.add(v.name)
        kept.append(_undoubled(v, types.get(v.type).size))
    params = [v for v in kept if v.role == "param"]
    assigner = Assigner(types.get)
    dict_at = None
    if dictionary is not None and not any(v.name == DICT_NAME for v in params):
        # A dictionary DWARF does not describe still takes its pointer's place.
        dict_at = 1 if shape_receiver(name) else 0
    pieces: dict[int, list[Piece]] = {}
    for i, v in enumerate(params):
        if i == dict_at:
            assigner.assign_word()
        pieces[id(v)] = assigner.assign(v.type)
    out: list[Variable] = []
    for v in kept:
        if v.role == "param":
            at_entry = pieces[id(v)]
            on_stack = not any(isinstance(p, RegisterPiece) for p in at_entry)
            dwarf = next((r for r in v.locations if r.low_pc <= entry_pc < r.high_pc), None)
            agrees = dwarf is not None and _same_places(dwarf.pieces, at_entry)
            if dwarf is None or (on_stack and not agrees):
                # The first range covering the entry wins: this one.
                entry = LocationRange(low_pc=low, high_pc=entry_pc + 1, pieces=at_entry)
                v = msgspec.structs.replace(v, locations=[entry, *v.locations], unavailable=None)
        out.append(v)
    return out


def _undoubled(v: Variable, size: int) -> Variable:
    """``v`` with each piece once where DWARF repeats every piece: Go 1.21 has
    described an ``any`` argument of 16 bytes as ``rcx, rcx, rdi, rdi`` (8 bytes
    each), whose second word was then read from ``rcx``, the type word."""
    fixed: list[LocationRange] = []
    for r in v.locations:
        pieces = r.pieces
        sizes = [p.size for p in pieces]
        if (
            size
            and len(pieces) % 2 == 0
            and None not in sizes
            and sum(s or 0 for s in sizes) == 2 * size
            and all(pieces[i] == pieces[i + 1] for i in range(0, len(pieces), 2))
        ):
            r = msgspec.structs.replace(r, pieces=pieces[::2])
        fixed.append(r)
    return msgspec.structs.replace(v, locations=fixed) if fixed != v.locations else v


def _same_places(dwarf: list[Piece], abi: list[Piece]) -> bool:
    """Whether DWARF's pieces start where the ABI's do (sizes aside: DWARF leaves
    a whole-variable piece unsized)."""
    offsets = [p.offset for p in dwarf if isinstance(p, CfaPiece)]
    return (
        len(offsets) == len(dwarf)
        and offsets[:1] == [p.offset for p in abi if isinstance(p, CfaPiece)][:1]
    )


def _with_dictionary(
    variables: list[Variable], dictionary: DictionaryParam, types: TypeTable, name: str
) -> tuple[list[Variable], DictionaryParam]:
    """Add the ``.dict`` argument older DWARF leaves out, typed as Go 1.27 types it
    (``*[N]uintptr``, N covering the dictionary entries the variables' types use),
    where the compiler passes it: after the receiver of a method, else first."""
    indices = [
        t.dict_index
        for t in (types.get(v.type) for v in variables)
        if isinstance(t, TypedefType) and t.dict_index is not None
    ]
    pointer = types.dictionary_pointer(max(indices) + 1) if indices else None
    if pointer is None:
        return variables, dictionary
    dict_var = Variable(name=DICT_NAME, type=pointer, role="param")
    at = 1 if shape_receiver(name) else 0
    params = [i for i, v in enumerate(variables) if v.role == "param"]
    position = params[at] if at < len(params) else len(variables)
    out = [*variables[:position], dict_var, *variables[position:]]
    return out, msgspec.structs.replace(dictionary, variable=DICT_NAME)


def line_table(
    reader: DwarfReader, unit: Unit, low: int, high: int
) -> tuple[list[str], list[LineRow]]:
    """The line-table rows of the code at ``[low, high)`` and the files they name.

    Files are numbered in order of first use. Rows are kept as the line program
    gives them, several rows for one PC included (the last is the one in force).
    """
    files: dict[int, int] = {}
    names: list[str] = []
    out: list[LineRow] = []
    for pc, file, line, is_stmt in reader.function_rows(unit, low, high):
        if not low <= pc < high:
            continue
        index = files.get(file)
        if index is None:
            index = files[file] = len(names)
            names.append(reader.file_name(unit, file))
        out.append(LineRow(pc, index, line, is_stmt))
    return names, out


def variables_of(
    reader: DwarfReader,
    types: TypeTable,
    parent: Entry,
    code_range: tuple[int, int],
    cfa_base: bool,
    inlined: list[Entry] | None = None,
) -> list[Variable]:
    """The parameters, results and locals of a subprogram or inlined copy.

    ``code_range`` is what a single location expression covers. Inlined calls
    within are not descended into (their variables are the inlined function's);
    with ``inlined`` their entries are appended to it.
    """
    return [
        variable
        for child, scope in _variable_entries(reader, parent, [], inlined)
        if (variable := _variable(reader, types, child, scope, code_range, cfa_base)) is not None
    ]


def _variable_entries(
    reader: DwarfReader,
    parent: Entry,
    scope: list[tuple[int, int]],
    inlined: list[Entry] | None,
) -> Iterator[tuple[Entry, list[tuple[int, int]]]]:
    """Parameters and variables in declaration order, with their block's ranges."""
    for child in reader.children(parent):
        tag = child.tag
        if tag in _VARIABLE_TAGS:
            yield child, scope
        elif tag == "DW_TAG_lexical_block":
            yield from _variable_entries(reader, child, reader.ranges(child), inlined)
        elif tag == "DW_TAG_inlined_subroutine" and inlined is not None:
            inlined.append(child)


def _variable(
    reader: DwarfReader,
    types: TypeTable,
    entry: Entry,
    scope: list[tuple[int, int]],
    function_range: tuple[int, int],
    cfa_base: bool,
) -> Variable | None:
    attrs = entry.attrs
    # Attributes of the variable itself, else of its abstract origin (in an
    # inlined copy or the concrete copy of an inlinable function).
    decl = attrs if "DW_AT_abstract_origin" not in attrs else origin(reader, entry).attrs
    name = attrs.get("DW_AT_name") or decl.get("DW_AT_name") or ""
    type_ref = attrs.get("DW_AT_type") or decl.get("DW_AT_type")
    if not isinstance(name, str) or not isinstance(type_ref, int):
        log.debug("%s: variable %r at %#x has no type, skipped", reader.path, name, entry.offset)
        return None
    role: VariableRole = "local"
    if entry.tag == "DW_TAG_formal_parameter":
        flag = attrs.get("DW_AT_variable_parameter")
        if flag is None:
            flag = decl.get("DW_AT_variable_parameter", False)
        role = "result" if flag else "param"
    locations, unavailable = variable_locations(
        reader, entry, function_range, cfa_base, result=role == "result"
    )
    line = attrs.get("DW_AT_decl_line") or decl.get("DW_AT_decl_line") or 0
    return Variable(
        name=name,
        type=types.require(type_ref),
        role=role,
        decl_line=line if isinstance(line, int) else 0,
        locations=locations,
        unavailable=unavailable,
        scope=scope if role == "local" else [],
    )
