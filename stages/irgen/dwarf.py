"""The one adapter over pyelftools' DWARF reader.

Everything else in irgen sees DWARF through the small objects defined here:
``Unit`` (a compile unit), ``Entry`` (a DIE with its attributes already decoded,
references made absolute), ``ExprLoc``/``LocListRef`` (how a location is given)
and the raw bytes of the sections irgen decodes itself (location lists, line
programs). Entries are parsed lazily and cached by offset; nothing walks a whole
compile unit unless asked to.
"""

from __future__ import annotations

import bisect
import logging
import posixpath
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from elftools.common.exceptions import DWARFError, ELFError
from elftools.construct.core import ConstructError
from elftools.dwarf.compileunit import CompileUnit
from elftools.dwarf.die import DIE
from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo
from elftools.dwarf.ranges import BaseAddressEntry as RangeBaseEntry
from elftools.dwarf.ranges import RangeEntry, RangeLists, RangeListsPair

from ..errors import BinaryError
from .elf import ElfImage
from .lines import LineProgram, address_files

log = logging.getLogger(__name__)

# Go's DWARF extensions (src/cmd/internal/dwarf/dwarf.go), under the names irgen uses.
GO_ATTRIBUTES = {
    0x2900: "go_kind",
    0x2901: "go_key",
    0x2902: "go_elem",
    0x2903: "go_embedded_field",
    0x2904: "go_runtime_type",
    0x2905: "go_package_name",
    0x2906: "go_dict_index",
}
_GO_REFERENCE_ATTRIBUTES = frozenset({"go_key", "go_elem"})
_CU_RELATIVE_REFS = frozenset(
    {"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8", "DW_FORM_ref_udata"}
)
_BLOCK_FORMS = frozenset(
    {"DW_FORM_block1", "DW_FORM_block2", "DW_FORM_block4", "DW_FORM_block", "DW_FORM_exprloc"}
)
_LIST_FORMS = frozenset({"DW_FORM_sec_offset", "DW_FORM_loclistx"})
_GO_PRODUCER = "Go cmd/compile"
_ADDRESS_SIZE = 8

AttrValue = int | str | bytes | bool


class Attr(NamedTuple):
    """A decoded attribute: references are absolute .debug_info offsets, blocks bytes."""

    form: str
    value: AttrValue


@dataclass(eq=False)
class Unit:
    """A compile unit: for Go, one package (``name`` is its import path)."""

    offset: int
    name: str
    producer: str
    version: int
    low_pc: int
    cu: CompileUnit = field(repr=False)
    files: list[str] | None = field(default=None, repr=False)
    # DWARF 5 numbers the line table's files from 0, earlier versions from 1.
    first_file: int = 1


@dataclass(eq=False)
class Entry:
    """A debugging information entry with its attributes decoded."""

    offset: int
    tag: str
    attrs: dict[str, Attr]
    unit: Unit
    has_children: bool
    die: DIE = field(repr=False)

    @property
    def name(self) -> str | None:
        """``DW_AT_name``, None when absent."""
        attr = self.attrs.get("DW_AT_name")
        return attr.value if attr is not None and isinstance(attr.value, str) else None

    def integer(self, name: str) -> int | None:
        """An integer-valued attribute, None when absent or not an integer."""
        attr = self.attrs.get(name)
        if attr is None or isinstance(attr.value, str | bytes):
            return None
        return int(attr.value)

    def flag(self, name: str) -> bool:
        """A flag attribute; absent means False."""
        attr = self.attrs.get(name)
        return bool(attr.value) if attr is not None else False

    def ref(self, name: str) -> int | None:
        """The absolute offset of the entry a reference attribute points at."""
        attr = self.attrs.get(name)
        if attr is None or attr.form not in _CU_RELATIVE_REFS | {"DW_FORM_ref_addr"}:
            return None
        assert isinstance(attr.value, int)
        return attr.value


class ExprLoc(NamedTuple):
    """A location given as a single DWARF expression."""

    expr: bytes


class LocListRef(NamedTuple):
    """A location given as an offset into .debug_loc/.debug_loclists."""

    offset: int


DWARF_ERRORS = (ELFError, DWARFError, ConstructError, zlib.error, struct.error)


@contextmanager
def wrap_dwarf_errors(path: str) -> Iterator[None]:
    """Turn a pyelftools failure while reading DWARF into a ``BinaryError``."""
    try:
        yield
    except DWARF_ERRORS as e:
        raise BinaryError(path, f"corrupt DWARF: {type(e).__name__}: {e}") from e


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class DwarfReader:
    """Lazy access to the DWARF of one ELF image.

    Raises ``BinaryError`` at construction when the image has no DWARF.
    """

    def __init__(self, image: ElfImage) -> None:
        self.path = image.path
        if not image.has_section(".debug_info"):
            if image.is_go():
                raise BinaryError(
                    self.path, "no DWARF debug info: built with -ldflags=-w or stripped?"
                )
            raise BinaryError(self.path, "not a Go binary (no Go sections and no DWARF debug info)")
        with wrap_dwarf_errors(self.path):
            self.info: DWARFInfo = image.elffile.get_dwarf_info(relocate_dwarf_sections=False)
        self._entries: dict[int, Entry] = {}
        self._raw: dict[str, bytes] = {}
        self._line_rows: dict[int, list[tuple[int, int]]] = {}
        self._units: dict[int, Unit] = {}
        self._range_lists: RangeLists | RangeListsPair | None = None

    # ----------------------------------------------------------------- units

    def units(self) -> Iterator[Unit]:
        """Every compile unit, in section order (parses only each unit's top DIE)."""
        for cu in self.info.iter_CUs():
            yield self._unit(cu)

    def _unit(self, cu: CompileUnit) -> Unit:
        unit = self._units.get(cu.cu_offset)
        if unit is None:
            top = cu.get_top_DIE()
            attrs = top.attributes
            low = attrs.get("DW_AT_low_pc")
            unit = Unit(
                offset=cu.cu_offset,
                name=_text(attrs["DW_AT_name"].value) if "DW_AT_name" in attrs else "",
                producer=_text(attrs["DW_AT_producer"].value) if "DW_AT_producer" in attrs else "",
                version=int(cu["version"]),
                low_pc=int(low.value) if low is not None else 0,
                cu=cu,
            )
            self._units[cu.cu_offset] = unit
        return unit

    def check_go_producer(self) -> Unit:
        """The first compile unit produced by the Go compiler.

        Raises ``BinaryError`` naming the producer when no unit is Go's.
        """
        first: str | None = None
        for unit in self.units():
            if unit.producer.startswith(_GO_PRODUCER):
                return unit
            if first is None:
                first = unit.producer
        raise BinaryError(self.path, f"not a Go binary (DWARF producer {first or 'unknown'!r})")

    # --------------------------------------------------------------- entries

    def _entry(self, die: DIE) -> Entry:
        entry = self._entries.get(die.offset)
        if entry is not None:
            return entry
        unit = self._unit(die.cu)  # type: ignore[arg-type]
        attrs: dict[str, Attr] = {}
        for key, attr in die.attributes.items():
            name = GO_ATTRIBUTES.get(key, key) if isinstance(key, int) else key
            if not isinstance(name, str):
                continue
            form, value = attr.form, attr.value
            if form in _CU_RELATIVE_REFS:
                value = die.cu.cu_offset + attr.raw_value
            elif form == "DW_FORM_ref_addr":
                value = attr.raw_value
            elif name in _GO_REFERENCE_ATTRIBUTES and form in ("DW_FORM_data4", "DW_FORM_data8"):
                # Go writes go_key/go_elem as ref_addr; tolerate a plain offset too.
                form = "DW_FORM_ref_addr"
            elif form in _BLOCK_FORMS:
                value = bytes(value)
            elif isinstance(value, bytes) and form not in _BLOCK_FORMS:
                value = value.decode("utf-8", "replace")
            attrs[name] = Attr(form, value)
        entry = Entry(
            offset=die.offset,
            tag=str(die.tag),
            attrs=attrs,
            unit=unit,
            has_children=bool(die.has_children),
            die=die,
        )
        self._entries[die.offset] = entry
        return entry

    def entry_at(self, offset: int) -> Entry:
        """The entry at absolute .debug_info ``offset`` (any unit)."""
        entry = self._entries.get(offset)
        if entry is not None:
            return entry
        return self._entry(self.info.get_DIE_from_refaddr(offset))

    def children(self, entry: Entry) -> Iterator[Entry]:
        """The children of ``entry``, in order, without the null terminator."""
        for die in entry.die.iter_children():
            yield self._entry(die)

    def top_entries(self, unit: Unit) -> Iterator[Entry]:
        """The children of a unit's top DIE."""
        yield from self.children(self._entry(unit.cu.get_top_DIE()))

    # ------------------------------------------------------------ addresses

    def pc_range(self, entry: Entry) -> tuple[int, int] | None:
        """``[DW_AT_low_pc, DW_AT_high_pc)`` of an entry, None without low_pc."""
        low = entry.integer("DW_AT_low_pc")
        if low is None:
            return None
        high_attr = entry.attrs.get("DW_AT_high_pc")
        if high_attr is None or not isinstance(high_attr.value, int):
            return low, low
        if high_attr.form == "DW_FORM_addr" or high_attr.form.startswith("DW_FORM_addrx"):
            return low, high_attr.value
        return low, low + high_attr.value

    def ranges(self, entry: Entry) -> list[tuple[int, int]]:
        """The PC ranges of an entry: low/high pc, or its DW_AT_ranges list."""
        single = self.pc_range(entry)
        if single is not None:
            return [single] if single[1] > single[0] else []
        offset = entry.integer("DW_AT_ranges")
        if offset is None:
            return []
        if self._range_lists is None:
            self._range_lists = self.info.range_lists()
        range_lists = self._range_lists
        if range_lists is None:
            return []
        cu = entry.unit.cu
        base = entry.unit.low_pc
        out: list[tuple[int, int]] = []
        for item in range_lists.get_range_list_at_offset(offset, cu=cu):
            if isinstance(item, RangeBaseEntry):
                base = item.base_address
            elif isinstance(item, RangeEntry):
                lo, hi = item.begin_offset, item.end_offset
                if not item.is_absolute:
                    lo, hi = lo + base, hi + base
                if hi > lo:
                    out.append((lo, hi))
        return out

    # ------------------------------------------------------------ locations

    @staticmethod
    def location(entry: Entry, name: str = "DW_AT_location") -> ExprLoc | LocListRef | None:
        """How an attribute gives a location: one expression or a list offset."""
        attr = entry.attrs.get(name)
        if attr is None:
            return None
        if isinstance(attr.value, bytes):
            return ExprLoc(attr.value)
        if isinstance(attr.value, int) and (
            attr.form in _LIST_FORMS
            or (entry.unit.version < 4 and attr.form in ("DW_FORM_data4", "DW_FORM_data8"))
        ):
            return LocListRef(attr.value)
        return None

    def loclist_data(self, unit: Unit) -> bytes:
        """The location-list section a unit's lists are in, as bytes.

        ``.debug_loclists`` for DWARF 5 units, ``.debug_loc`` before.
        """
        if unit.version >= 5:
            return self._section_bytes(self.info.debug_loclists_sec)
        return self._section_bytes(self.info.debug_loc_sec)

    def _section_bytes(self, section: DebugSectionDescriptor | None) -> bytes:
        if section is None:
            raise DWARFError("a DWARF section the debug info refers to is missing")
        data = self._raw.get(section.name)
        if data is None:
            stream = section.stream
            stream.seek(0)
            data = self._raw[section.name] = stream.read()
        return data

    def indexed_address(self, unit: Unit, index: int) -> int:
        """Entry ``index`` of a unit's slice of .debug_addr (``DW_FORM_addrx``)."""
        top = unit.cu.get_top_DIE().attributes.get("DW_AT_addr_base")
        if top is None:
            raise DWARFError(f"unit {unit.name!r} uses .debug_addr without DW_AT_addr_base")
        base = int(top.value)
        data = self._section_bytes(self.info.debug_addr_sec)
        pos = base + index * _ADDRESS_SIZE
        if pos + _ADDRESS_SIZE > len(data):
            raise DWARFError(f".debug_addr index {index} out of range")
        return int.from_bytes(data[pos : pos + _ADDRESS_SIZE], "little")

    # ----------------------------------------------------------------- files

    def file_name(self, unit: Unit, index: int) -> str:
        """The path of file ``index`` of a unit's line table, as recorded ("" if none)."""
        if unit.files is None:
            unit.files = self._file_names(unit)
        i = index - unit.first_file
        return unit.files[i] if 0 <= i < len(unit.files) else ""

    def file_at(self, unit: Unit, pc: int) -> str:
        """The file the line table attributes ``pc`` to ("" if none).

        For concrete copies of inlinable functions, whose abstract origin Go writes
        without ``DW_AT_decl_file``.
        """
        rows = self.line_rows(unit)
        i = bisect.bisect_right(rows, pc, key=lambda row: row[0])
        return self.file_name(unit, rows[i - 1][1]) if i else ""

    def line_rows(self, unit: Unit) -> list[tuple[int, int]]:
        """(address, file index) of every row of a unit's line table, by address.

        Decodes the unit's line program once, then caches it.
        """
        rows = self._line_rows.get(unit.offset)
        if rows is None:
            rows = []
            program = self.info.line_program_for_CU(unit.cu)
            if program is not None:
                header = program.header
                rows = self._address_files(
                    LineProgram(
                        data=self._section_bytes(self.info.debug_line_sec),
                        start=program.program_start_offset,
                        end=program.program_end_offset,
                        minimum_instruction_length=int(header["minimum_instruction_length"]),
                        line_range=int(header["line_range"]),
                        opcode_base=int(header["opcode_base"]),
                        standard_opcode_lengths=tuple(header["standard_opcode_lengths"]),
                    )
                )
            rows.sort(key=lambda row: row[0])
            self._line_rows[unit.offset] = rows
        return rows

    @staticmethod
    def _address_files(program: LineProgram) -> list[tuple[int, int]]:
        try:
            return address_files(program)
        except IndexError as e:
            raise DWARFError("line program runs past the end of .debug_line") from e

    def _file_names(self, unit: Unit) -> list[str]:
        program = self.info.line_program_for_CU(unit.cu)
        if program is None:
            return []
        header = program.header
        v5 = int(header["version"]) >= 5
        dirs = [_text(d) for d in header.get("include_directory", [])]
        unit.first_file = 0 if v5 else 1
        names = []
        for entry in header["file_entry"]:
            name = _text(entry.name)
            dir_index = int(entry.dir_index)
            # Directory 0 is the compilation directory: leave such paths relative.
            directory = ""
            if v5 and 0 < dir_index < len(dirs):
                directory = dirs[dir_index]
            elif not v5 and 0 < dir_index <= len(dirs):
                directory = dirs[dir_index - 1]
            if directory and directory != "." and not name.startswith("/"):
                name = posixpath.join(directory, name)
            names.append(name)
        return names

    # ------------------------------------------------------------ type search

    def find_named(self, name: str, tag: str, walk: bool = True) -> Entry | None:
        """A top-level entry with this tag and ``DW_AT_name``, found without a walk.

        Go writes names inline (``DW_FORM_string``), so the name's bytes are searched
        for in .debug_info and the entry is parsed at the few offsets it can start
        at; a full walk of the units is the fallback, unless ``walk`` is False.
        """
        data = self._section_bytes(self.info.debug_info_sec)
        needle = name.encode() + b"\0"
        pos = data.find(needle)
        while pos > 0:
            for back in (1, 2, 3):
                found = self._entry_named_at(pos - back, pos, name, tag)
                if found is not None:
                    return found
            pos = data.find(needle, pos + 1)
        if not walk:
            return None
        log.debug("%s: %s not found by name search, walking the units", self.path, name)
        for unit in self.units():
            for entry in self.top_entries(unit):
                if entry.tag == tag and entry.name == name:
                    return entry
        return None

    def _entry_named_at(self, offset: int, name_pos: int, name: str, tag: str) -> Entry | None:
        try:
            cu = self.info.get_CU_containing(offset)
            if offset < cu.cu_die_offset:
                return None
            # Parsed outside the unit's cache: a wrong guess must not pollute it.
            die = DIE(cu, cu.get_top_DIE().stream, offset)
        except Exception:  # a speculative parse at a guessed offset
            return None
        attr = die.attributes.get("DW_AT_name")
        if die.tag != tag or attr is None or attr.offset != name_pos or _text(attr.value) != name:
            return None
        return self.entry_at(offset)


def member_offset(member: Entry) -> int | None:
    """``DW_AT_data_member_location`` as a constant (or ``DW_OP_plus_uconst N``)."""
    attr = member.attrs.get("DW_AT_data_member_location")
    if attr is None:
        return 0
    if isinstance(attr.value, bytes):
        expr = attr.value
        if expr[:1] == b"\x23":
            value = shift = 0
            for byte in expr[1:]:
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    return value
        return None
    return int(attr.value) if not isinstance(attr.value, str) else None
