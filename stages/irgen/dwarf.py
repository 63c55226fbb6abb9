"""The DWARF adapter: every DWARF access of irgen goes through ``DwarfReader``.

Everything else in irgen sees DWARF through the small objects defined here:
``Unit`` (a compile unit), ``Entry`` (a DIE with its attributes already decoded,
references made absolute), ``ExprLoc``/``LocListRef`` (how a location is given)
and the raw bytes of the sections irgen decodes itself (location lists, line
programs, range lists). pyelftools provides the ELF sections (decompressed); the
entries themselves are decoded by ``dies``, lazily: nothing walks a compile unit
unless asked to, a subtree nobody looks at is skipped by sizes alone, and only
entries reached by offset (types, abstract origins) are cached.
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
from operator import itemgetter
from typing import NamedTuple

from elftools.common.exceptions import DWARFError, ELFError
from elftools.construct.core import ConstructError

from ..errors import BinaryError
from .dies import (
    F_LINE_STRP,
    Abbrev,
    AttrValue,
    DwarfFormatError,
    LocListRef,
    Sections,
    UnitHeader,
    decode_entry,
    parse_abbrevs,
    parse_unit_header,
    skip_children,
    uleb,
)
from .elf import ElfImage
from .frames import CfaRow, FrameTable
from .lines import LineHeader, LineRow, line_rows, parse_line_header, sequence_start
from .ranges import debug_ranges, rnglist

__all__ = [
    "DWARF_ERRORS",
    "DwarfReader",
    "Entry",
    "ExprLoc",
    "LocListRef",
    "Unit",
    "member_offset",
    "wrap_dwarf_errors",
]

log = logging.getLogger(__name__)

_GO_PRODUCER = "Go cmd/compile"
_ABSTRACT_ORIGIN = 0x31
_NAME = 0x03

Value = AttrValue | LocListRef
# Indexed forms resolved to placeholders: for reading a unit's bases first.
_UNRESOLVED = Sections(
    string=lambda offset: "",
    line_string=lambda offset: "",
    address=lambda header, index: 0,
    string_index=lambda header, index: "",
    list_index=lambda header, index, locations: 0,
)


@dataclass(eq=False)
class Unit:
    """A compile unit: for Go, one package (``name`` is its import path)."""

    offset: int
    name: str
    producer: str
    version: int
    low_pc: int
    header: UnitHeader = field(repr=False)
    stmt_list: int | None = None
    files: list[str] | None = field(default=None, repr=False)
    # DWARF 5 numbers the line table's files from 0, earlier versions from 1.
    first_file: int = 1

    @property
    def die_offset(self) -> int:
        """The offset of the unit's top entry."""
        return self.header.die_offset

    @property
    def end(self) -> int:
        """The offset just past the unit."""
        return self.header.end


class Entry:
    """A debugging information entry with its attributes decoded.

    ``children_offset`` is where its first child starts (when ``has_children``).
    """

    __slots__ = ("attrs", "children_offset", "has_children", "offset", "tag", "unit")

    def __init__(
        self,
        offset: int,
        tag: str,
        attrs: dict[str, Value],
        unit: Unit,
        has_children: bool,
        children_offset: int,
    ) -> None:
        self.offset = offset
        self.tag = tag
        self.attrs = attrs
        self.unit = unit
        self.has_children = has_children
        self.children_offset = children_offset

    def __repr__(self) -> str:
        return f"Entry({self.offset:#x}, {self.tag}, {self.name!r})"

    @property
    def name(self) -> str | None:
        """``DW_AT_name``, None when absent."""
        value = self.attrs.get("DW_AT_name")
        return value if isinstance(value, str) else None

    def integer(self, name: str) -> int | None:
        """An integer-valued attribute, None when absent or not an integer."""
        value = self.attrs.get(name)
        if isinstance(value, int):
            return int(value)
        return None

    def flag(self, name: str) -> bool:
        """A flag attribute; absent means False."""
        return bool(self.attrs.get(name, False))

    def ref(self, name: str) -> int | None:
        """The absolute offset of the entry a reference attribute points at."""
        value = self.attrs.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class ExprLoc(NamedTuple):
    """A location given as a single DWARF expression."""

    expr: bytes


DWARF_ERRORS = (
    ELFError,
    DWARFError,
    ConstructError,
    DwarfFormatError,
    zlib.error,
    struct.error,
)


@contextmanager
def wrap_dwarf_errors(path: str) -> Iterator[None]:
    """Turn a failure while reading DWARF into a ``BinaryError``."""
    try:
        yield
    except DWARF_ERRORS as e:
        raise BinaryError(path, f"corrupt DWARF: {type(e).__name__}: {e}") from e


class DwarfReader:
    """Lazy access to the DWARF of one ELF image.

    Raises ``BinaryError`` at construction when the image has no DWARF.
    """

    def __init__(self, image: ElfImage) -> None:
        self.path = image.path
        self._elf = image.elffile
        if not image.has_section(".debug_info"):
            if image.is_go():
                raise BinaryError(
                    self.path, "no DWARF debug info: built with -ldflags=-w or stripped?"
                )
            raise BinaryError(self.path, "not a Go binary (no Go sections and no DWARF debug info)")
        self._raw: dict[str, bytes] = {}
        with wrap_dwarf_errors(self.path):
            self.info = self.section(".debug_info")
            self._abbrev_data = self.section(".debug_abbrev")
        self._abbrev_tables: dict[tuple[int, int, int, int], dict[int, Abbrev]] = {}
        self._headers: list[UnitHeader] | None = None
        self._header_offsets: list[int] = []
        self._units: dict[int, Unit] = {}
        self._entries: dict[int, Entry] = {}
        self._ends: dict[int, int] = {}
        self._line_headers: dict[int, LineHeader | None] = {}
        self._line_rows: dict[int, list[LineRow]] = {}
        self._referring: dict[int, list[Entry]] = {}
        self._frames: FrameTable | None = None
        self._addresses: memoryview | None = None
        self._sections = Sections(
            string=self._string,
            line_string=self._line_string,
            address=self._indexed_address,
            string_index=self._indexed_string,
            list_index=self._list_index,
        )

    # -------------------------------------------------------------- sections

    def section(self, name: str) -> bytes:
        """The bytes of section ``name``, decompressed; raises ``DwarfFormatError``
        when the binary has no such section."""
        data = self._raw.get(name)
        if data is None:
            section = self._elf.get_section_by_name(name)
            if section is None:
                raise DwarfFormatError(f"the DWARF refers to a missing section {name}")
            data = self._raw[name] = bytes(section.data())
        return data

    def has_section(self, name: str) -> bool:
        """Whether the binary has section ``name``."""
        return name in self._raw or self._elf.get_section_by_name(name) is not None

    def _c_string(self, section: str, offset: int) -> str:
        data = self.section(section)
        end = data.index(b"\0", offset)
        return data[offset:end].decode("utf-8", "replace")

    def _string(self, offset: int) -> str:
        return self._c_string(".debug_str", offset)

    def _line_string(self, offset: int) -> str:
        return self._c_string(".debug_line_str", offset)

    def _indexed_address(self, header: UnitHeader, index: int) -> int:
        if self._addresses is None:
            data = self.section(".debug_addr")
            self._addresses = memoryview(data[: len(data) // 8 * 8]).cast("Q")
        if header.address_size == 8 and header.addr_base % 8 == 0:
            i = header.addr_base // 8 + index
            if i >= len(self._addresses):
                raise DwarfFormatError(f".debug_addr index {index} out of range")
            return int(self._addresses[i])
        data = self.section(".debug_addr")
        pos = header.addr_base + index * header.address_size
        if pos + header.address_size > len(data):
            raise DwarfFormatError(f".debug_addr index {index} out of range")
        return int.from_bytes(data[pos : pos + header.address_size], "little")

    def _indexed_string(self, header: UnitHeader, index: int) -> str:
        data = self.section(".debug_str_offsets")
        pos = header.str_offsets_base + index * header.offset_size
        return self._string(int.from_bytes(data[pos : pos + header.offset_size], "little"))

    def _list_index(self, header: UnitHeader, index: int, locations: bool) -> int:
        base = header.loclists_base if locations else header.rnglists_base
        data = self.section(".debug_loclists" if locations else ".debug_rnglists")
        pos = base + index * header.offset_size
        return base + int.from_bytes(data[pos : pos + header.offset_size], "little")

    # ----------------------------------------------------------------- units

    def _abbrevs(
        self, offset: int, offset_size: int, address_size: int, version: int
    ) -> dict[int, Abbrev]:
        # Per sizes and version too: decoders are compiled for those.
        key = (offset, offset_size, address_size, version)
        table = self._abbrev_tables.get(key)
        if table is None:
            try:
                table = parse_abbrevs(self._abbrev_data, offset, offset_size, address_size)
            except IndexError as e:
                raise DwarfFormatError(f"truncated abbreviation table at {offset:#x}") from e
            self._abbrev_tables[key] = table
        return table

    def _unit_headers(self) -> list[UnitHeader]:
        if self._headers is None:
            headers = []
            offset = 0
            while offset < len(self.info):
                try:
                    header = parse_unit_header(self.info, offset, self._abbrevs)
                except IndexError as e:
                    raise DwarfFormatError(f"truncated unit header at {offset:#x}") from e
                headers.append(header)
                offset = header.end
            self._headers = headers
            self._header_offsets = [h.offset for h in headers]
        return self._headers

    def units(self) -> Iterator[Unit]:
        """Every compile unit, in section order (decodes only each unit's top entry)."""
        for header in self._unit_headers():
            yield self._unit(header)

    def _unit(self, header: UnitHeader) -> Unit:
        unit = self._units.get(header.offset)
        if unit is None:
            # A first pass finds the bases indexed forms need, without resolving any.
            _, attrs, _ = self._decode_raw(header.die_offset, header, _UNRESOLVED)
            for name, attr in (
                ("DW_AT_addr_base", "addr_base"),
                ("DW_AT_str_offsets_base", "str_offsets_base"),
                ("DW_AT_loclists_base", "loclists_base"),
                ("DW_AT_rnglists_base", "rnglists_base"),
            ):
                value = attrs.get(name)
                if isinstance(value, int):
                    setattr(header, attr, value)
            _, attrs, _ = self._decode_raw(header.die_offset, header)
            unit_name, producer = attrs.get("DW_AT_name"), attrs.get("DW_AT_producer")
            low, stmt_list = attrs.get("DW_AT_low_pc"), attrs.get("DW_AT_stmt_list")
            unit = Unit(
                offset=header.offset,
                name=unit_name if isinstance(unit_name, str) else "",
                producer=producer if isinstance(producer, str) else "",
                version=header.version,
                low_pc=low if isinstance(low, int) else 0,
                header=header,
                stmt_list=stmt_list if isinstance(stmt_list, int) else None,
            )
            self._units[header.offset] = unit
        return unit

    def unit_at(self, offset: int) -> Unit:
        """The unit holding .debug_info ``offset``; raises ``DwarfFormatError``."""
        headers = self._unit_headers()
        i = bisect.bisect_right(self._header_offsets, offset) - 1
        if i < 0 or not headers[i].die_offset <= offset < headers[i].end:
            raise DwarfFormatError(f"no unit holds .debug_info offset {offset:#x}")
        return self._unit(headers[i])

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

    def _decode_raw(
        self, offset: int, header: UnitHeader, sections: Sections | None = None
    ) -> tuple[Abbrev | None, dict[str, Value], int]:
        try:
            return decode_entry(self.info, offset, header, sections or self._sections)  # type: ignore[return-value]
        except (IndexError, ValueError) as e:
            raise DwarfFormatError(f"truncated entry at .debug_info offset {offset:#x}") from e

    def _decode(self, offset: int, unit: Unit) -> Entry | None:
        entry = self._entries.get(offset)
        if entry is not None:
            return entry
        abbrev, attrs, end = self._decode_raw(offset, unit.header)
        if abbrev is None:
            return None
        return Entry(offset, abbrev.tag, attrs, unit, abbrev.has_children, end)

    def entry_at(self, offset: int) -> Entry:
        """The entry at absolute .debug_info ``offset`` (any unit); cached."""
        entry = self._entries.get(offset)
        if entry is None:
            decoded = self._decode(offset, self.unit_at(offset))
            if decoded is None:
                raise DwarfFormatError(f"null entry at .debug_info offset {offset:#x}")
            entry = self._entries[offset] = decoded
        return entry

    def top_entry(self, unit: Unit) -> Entry:
        """A unit's top (compile unit) entry."""
        return self.entry_at(unit.die_offset)

    def children(self, entry: Entry) -> Iterator[Entry]:
        """The children of ``entry``, in order, without the null terminator."""
        if not entry.has_children:
            return
        unit = entry.unit
        pos = entry.children_offset
        cached = self._entries
        info = self.info
        ends = self._ends
        while True:
            child = cached.get(pos)
            if child is None:
                if info[pos] == 0:  # the null entry closing the list: one byte
                    ends[entry.offset] = pos + 1
                    return
                child = self._decode(pos, unit)
                assert child is not None
            yield child
            if not child.has_children:
                pos = child.children_offset
            else:
                end = ends.get(child.offset)
                pos = end if end is not None else self._sibling(child)

    def _sibling(self, entry: Entry) -> int:
        """The offset just past ``entry`` and its children."""
        if not entry.has_children:
            return entry.children_offset
        end = self._ends.get(entry.offset)
        if end is None:
            sibling = entry.attrs.get("DW_AT_sibling")
            if isinstance(sibling, int) and sibling > entry.offset:
                end = sibling
            else:
                try:
                    end = skip_children(self.info, entry.children_offset, entry.unit.header)
                except (IndexError, ValueError) as e:
                    raise DwarfFormatError(f"truncated entry in unit {entry.unit.name}") from e
            self._ends[entry.offset] = end
        return end

    def top_entries(self, unit: Unit) -> Iterator[Entry]:
        """The children of a unit's top entry."""
        yield from self.children(self.top_entry(unit))

    # ------------------------------------------------------------ addresses

    @staticmethod
    def pc_range(entry: Entry) -> tuple[int, int] | None:
        """``[DW_AT_low_pc, DW_AT_high_pc)`` of an entry, None without low_pc."""
        low = entry.attrs.get("DW_AT_low_pc")
        if not isinstance(low, int):
            return None
        high = entry.attrs.get("DW_AT_high_pc")
        return (low, high) if isinstance(high, int) else (low, low)

    def ranges(self, entry: Entry) -> list[tuple[int, int]]:
        """The PC ranges of an entry: low/high pc, or its DW_AT_ranges list."""
        offset = entry.attrs.get("DW_AT_ranges")
        if not isinstance(offset, int):
            single = self.pc_range(entry)
            return [single] if single is not None and single[1] > single[0] else []
        unit = entry.unit
        try:
            if unit.version >= 5:
                return rnglist(
                    self.section(".debug_rnglists"),
                    offset,
                    unit.low_pc,
                    lambda i: self._indexed_address(unit.header, i),
                )
            return debug_ranges(self.section(".debug_ranges"), offset, unit.low_pc)
        except IndexError as e:
            raise DwarfFormatError(f"range list at {offset:#x} runs past its section") from e

    # ------------------------------------------------------------ locations

    @staticmethod
    def location(entry: Entry, name: str = "DW_AT_location") -> ExprLoc | LocListRef | None:
        """How an attribute gives a location: one expression or a list offset."""
        value = entry.attrs.get(name)
        if isinstance(value, bytes):
            return ExprLoc(value)
        if isinstance(value, LocListRef):
            return value
        return None

    def loclist_data(self, unit: Unit) -> bytes:
        """The location-list section a unit's lists are in, as bytes.

        ``.debug_loclists`` for DWARF 5 units, ``.debug_loc`` before.
        """
        return self.section(".debug_loclists" if unit.version >= 5 else ".debug_loc")

    def indexed_address(self, unit: Unit, index: int) -> int:
        """Entry ``index`` of a unit's slice of .debug_addr (``DW_FORM_addrx``)."""
        return self._indexed_address(unit.header, index)

    def _frame_table(self) -> FrameTable | None:
        if self._frames is None and self.has_section(".debug_frame"):
            self._frames = FrameTable(self.section(".debug_frame"))
        return self._frames

    def frame_rows(self, low_pc: int) -> list[CfaRow] | None:
        """The .debug_frame CFA rows of the function at ``low_pc``, None if none."""
        table = self._frame_table()
        return table.rows(low_pc) if table is not None else None

    def cfa_at(self, pc: int) -> CfaRow | None:
        """The CFA rule in force at ``pc`` (any function), None if unknown."""
        table = self._frame_table()
        return table.cfa_at(pc) if table is not None else None

    # ----------------------------------------------------------------- lines

    def line_header(self, unit: Unit) -> LineHeader | None:
        """The header of a unit's line program, None when it has none."""
        if unit.offset not in self._line_headers:
            header = None
            if unit.stmt_list is not None:

                def strings(form: int, offset: int) -> str:
                    return (
                        self._line_string(offset) if form == F_LINE_STRP else self._string(offset)
                    )

                header = parse_line_header(self.section(".debug_line"), unit.stmt_list, strings)
            self._line_headers[unit.offset] = header
        return self._line_headers[unit.offset]

    def line_rows(self, unit: Unit) -> list[LineRow]:
        """Every row of a unit's line table, sorted by address (stable).

        Decodes the unit's line program once, then caches it.
        """
        rows = self._line_rows.get(unit.offset)
        if rows is None:
            rows = []
            header = self.line_header(unit)
            if header is not None:
                try:
                    rows = line_rows(header.program)
                except IndexError as e:
                    raise DwarfFormatError("line program runs past the end of .debug_line") from e
            rows.sort(key=itemgetter(0))
            self._line_rows[unit.offset] = rows
        return rows

    def forget_line_rows(self, unit: Unit) -> None:
        """Drop a unit's decoded line table (a whole-binary run is done with it)."""
        self._line_rows.pop(unit.offset, None)

    def function_rows(self, unit: Unit, low_pc: int, high_pc: int | None = None) -> list[LineRow]:
        """The line-table rows of the function at ``[low_pc, high_pc)``, by address.

        Found directly when the function is its own sequence (as Go writes it),
        else cut out of the unit's whole table (only the rows at ``low_pc`` when
        ``high_pc`` is None).
        """
        header = self.line_header(unit)
        if header is None:
            return []
        if unit.offset not in self._line_rows and high_pc is not None:
            start = sequence_start(header.program, low_pc)
            if start is not None:
                try:
                    rows = line_rows(header.program, start, one_sequence=True)
                except IndexError as e:
                    raise DwarfFormatError("line program runs past the end of .debug_line") from e
                rows.sort(key=itemgetter(0))
                return rows
        rows = self.line_rows(unit)
        end = low_pc + 1 if high_pc is None else high_pc
        first = bisect.bisect_left(rows, low_pc, key=itemgetter(0))
        last = bisect.bisect_left(rows, end, key=itemgetter(0))
        return rows[first:last]

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
        rows = self.function_rows(unit, pc)
        if not rows or rows[0][0] != pc:
            rows = self.line_rows(unit)
        i = bisect.bisect_right(rows, pc, key=itemgetter(0))
        return self.file_name(unit, rows[i - 1][1]) if i else ""

    def _file_names(self, unit: Unit) -> list[str]:
        header = self.line_header(unit)
        if header is None:
            return []
        v5 = header.version >= 5
        dirs = header.directories
        unit.first_file = 0 if v5 else 1
        names = []
        for name, dir_index in header.files:
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

    # ---------------------------------------------------------------- search

    def find_named(self, name: str, tag: str, walk: bool = True) -> Entry | None:
        """A top-level entry with this tag and ``DW_AT_name``, found without a walk.

        Go writes names inline (``DW_FORM_string``, first attribute), so the name's
        bytes are searched for in .debug_info and an entry is decoded where one can
        start just before them; a full walk of the units is the fallback, unless
        ``walk`` is False.
        """
        for entry in self.find_all_named(name, tag):
            return entry
        if not walk:
            return None
        log.debug("%s: %s not found by name search, walking the units", self.path, name)
        for unit in self.units():
            for entry in self.top_entries(unit):
                if entry.tag == tag and entry.name == name:
                    return entry
        return None

    def find_all_named(self, name: str, tag: str | None = None) -> Iterator[Entry]:
        """Every entry (any depth) whose inline ``DW_AT_name`` is ``name``, in
        section order, restricted to ``tag`` if given."""
        data = self.info
        needle = name.encode() + b"\0"
        pos = data.find(needle)
        while pos > 0:
            entry = self._entry_starting_before(pos, _NAME)
            if entry is not None and (tag is None or entry.tag == tag) and entry.name == name:
                yield entry
            pos = data.find(needle, pos + 1)

    def find_all_prefixed(self, prefix: str, tag: str) -> Iterator[Entry]:
        """Every entry with this tag whose inline ``DW_AT_name`` starts with
        ``prefix`` (``main.F[``: every shape instantiation of a generic), found by
        searching .debug_info for the prefix's bytes, in section order."""
        data = self.info
        needle = prefix.encode()
        pos = data.find(needle)
        while pos > 0:
            entry = self._entry_starting_before(pos, _NAME)
            if entry is not None and entry.tag == tag and (entry.name or "").startswith(prefix):
                yield entry
            pos = data.find(needle, pos + 1)

    def find_referring(self, target: int, tag: str) -> Iterator[Entry]:
        """Entries with this tag whose first attribute, ``DW_AT_abstract_origin``,
        refers to ``target``: the concrete copies of an abstract entry. One search
        of .debug_info per target, whatever the tags asked (an abstract function's
        out-of-line copies and inlined copies are both wanted)."""
        found = self._referring.get(target)
        if found is None:
            found = []
            data = self.info
            # The 4 low bytes: a 4-byte reference, and the start of an 8-byte one.
            needle = target.to_bytes(4, "little")
            pos = data.find(needle)
            while pos > 0:
                entry = self._entry_starting_before(pos, _ABSTRACT_ORIGIN)
                if entry is not None and entry.attrs.get("DW_AT_abstract_origin") == target:
                    found.append(entry)
                pos = data.find(needle, pos + 1)
            self._referring[target] = found
        return iter([e for e in found if e.tag == tag])

    def _entry_starting_before(self, pos: int, first_attribute: int) -> Entry | None:
        """The entry whose first attribute, ``first_attribute``, starts at ``pos``."""
        for back in (1, 2):
            start = pos - back
            try:
                unit = self.unit_at(start)
                code, after = uleb(self.info, start)
            except (DwarfFormatError, IndexError):
                continue
            abbrev = unit.header.abbrevs.get(code)
            if after != pos or abbrev is None or not abbrev.specs:
                continue
            if abbrev.specs[0][0] != first_attribute:
                continue
            try:
                return self.entry_at(start)
            except DwarfFormatError:
                return None
        return None


def member_offset(member: Entry) -> int | None:
    """``DW_AT_data_member_location`` as a constant (or ``DW_OP_plus_uconst N``)."""
    value = member.attrs.get("DW_AT_data_member_location")
    if value is None:
        return 0
    if isinstance(value, bytes):
        if value[:1] == b"\x23":
            try:
                return uleb(value, 1)[0]
            except IndexError:
                return None
        return None
    return int(value) if isinstance(value, int) else None
