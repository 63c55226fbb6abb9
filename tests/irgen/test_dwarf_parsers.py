"""irgen's own DWARF decoders agree with pyelftools': entries, location lists,
range lists and line programs, on real Go binaries of every chosen version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elftools.dwarf.compileunit import CompileUnit
from elftools.dwarf.die import DIE
from elftools.dwarf.dwarfinfo import DWARFInfo
from elftools.dwarf.locationlists import BaseAddressEntry, LocationEntry
from elftools.dwarf.ranges import BaseAddressEntry as RangeBase
from elftools.dwarf.ranges import RangeEntry
from elftools.elf.elffile import ELFFile

from stages.irgen.dwarf import DwarfReader, Entry, LocListRef
from stages.irgen.elf import open_elf
from stages.irgen.locations import absolute_v4, absolute_v5

CHECKED_UNITS = ("main", "fmt", "runtime")
_GO_NAMES = {
    0x2900: "go_kind",
    0x2901: "go_key",
    0x2902: "go_elem",
    0x2903: "go_embedded_field",
    0x2904: "go_runtime_type",
    0x2905: "go_package_name",
    0x2906: "go_dict_index",
    0x2907: "go_closure_offset",
}
_REF_FORMS = ("DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8", "DW_FORM_ref_udata")


def _subtree(reader: DwarfReader, entry: Entry) -> Iterator[Entry]:
    for child in reader.children(entry):
        yield child
        yield from _subtree(reader, child)


def _oracle(path: Path) -> tuple[Any, DWARFInfo]:
    f = path.open("rb")
    return f, ELFFile(f).get_dwarf_info(relocate_dwarf_sections=False)


def _expected_value(die: DIE, name: str, attr: Any, dwarf: DWARFInfo) -> object:
    """What irgen's decoder should make of a pyelftools attribute."""
    form, value = attr.form, attr.value
    if form in _REF_FORMS:
        return die.cu.cu_offset + attr.raw_value
    if form == "DW_FORM_ref_addr":
        return attr.raw_value
    if form in ("DW_FORM_exprloc", "DW_FORM_block1", "DW_FORM_block"):
        return bytes(value)
    if form in ("DW_FORM_string", "DW_FORM_strp", "DW_FORM_line_strp"):
        return value.decode()
    if form == "DW_FORM_flag_present":
        return True
    if form == "DW_FORM_flag":
        return bool(value)
    if form == "DW_FORM_sec_offset" and name in ("DW_AT_location", "DW_AT_frame_base"):
        return LocListRef(value)
    relative = form != "DW_FORM_addr" and not form.startswith("DW_FORM_addrx")
    if name == "DW_AT_high_pc" and relative and "DW_AT_low_pc" in die.attributes:
        return die.attributes["DW_AT_low_pc"].value + value
    return value


def _compare_unit(reader: DwarfReader, cu: CompileUnit, dwarf: DWARFInfo) -> int:
    ours = {e.offset: e for e in _subtree(reader, reader.entry_at(cu.get_top_DIE().offset))}
    ours[cu.get_top_DIE().offset] = reader.entry_at(cu.get_top_DIE().offset)
    count = 0
    for die in cu.iter_DIEs():
        if die.is_null():
            continue
        entry = ours.pop(die.offset)
        assert entry.tag == die.tag, hex(die.offset)
        assert entry.has_children == die.has_children, hex(die.offset)
        expected = {}
        for key, attr in die.attributes.items():
            name = _GO_NAMES.get(key, key) if isinstance(key, int) else key
            expected[name] = _expected_value(die, name, attr, dwarf)
        assert entry.attrs == expected, hex(die.offset)
        count += 1
    assert not ours, f"entries pyelftools does not have: {sorted(ours)[:5]}"
    return count


def test_entries_match_pyelftools(example_binary: Path) -> None:
    f, dwarf = _oracle(example_binary)
    with f, open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        names = []
        checked = 0
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            unit = reader.unit_at(top.offset)
            assert unit.offset == cu.cu_offset
            assert unit.version == cu["version"]
            names.append(unit.name)
            if unit.name in CHECKED_UNITS:
                checked += _compare_unit(reader, cu, dwarf)
        assert [u.name for u in reader.units()] == names
        assert checked > 5000


def test_location_lists_match_pyelftools(example_binary: Path) -> None:
    f, dwarf = _oracle(example_binary)
    with f, open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        lists = dwarf.location_lists()
        assert lists is not None
        dies = {
            die.offset: die
            for cu in dwarf.iter_CUs()
            if cu.get_top_DIE().attributes["DW_AT_name"].value.decode() in ("main", "fmt")
            for die in cu.iter_DIEs()
        }
        checked = 0
        for unit in reader.units():
            if unit.name not in ("main", "fmt"):
                continue
            for entry in _subtree(reader, reader.top_entry(unit)):
                ref = reader.location(entry)
                if not isinstance(ref, LocListRef):
                    continue
                expected = _made_absolute(
                    entry.unit.low_pc,
                    lists.get_location_list_at_offset(ref.offset, dies[entry.offset]),
                )
                assert _absolute(reader, entry, ref) == expected, hex(entry.offset)
                checked += 1
        assert checked > 100


def _absolute(reader: DwarfReader, entry: Entry, ref: LocListRef) -> list[tuple[int, int, bytes]]:
    """What irgen's fast path makes of a list: absolute (low, high, expression)."""
    unit = entry.unit
    data = reader.loclist_data(unit)
    if unit.version >= 5:
        entries, _ = absolute_v5(
            data, ref.offset, unit.low_pc, lambda i: reader.indexed_address(unit, i)
        )
        return entries
    return absolute_v4(data, ref.offset, unit.low_pc)


def _made_absolute(base: int, items: list[object]) -> list[tuple[int, int, bytes]]:
    """pyelftools' entries of a list, made absolute as irgen makes them."""
    out = []
    for item in items:
        if isinstance(item, BaseAddressEntry):
            base = item.base_address
        elif isinstance(item, LocationEntry):
            offset = 0 if item.is_absolute else base
            begin, end = item.begin_offset + offset, item.end_offset + offset
            out.append((begin, end, bytes(item.loc_expr)))
    return out


def test_ranges_match_pyelftools(example_binary: Path) -> None:
    f, dwarf = _oracle(example_binary)
    with f, open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        range_lists = dwarf.range_lists()
        assert range_lists is not None
        checked = 0
        for cu in dwarf.iter_CUs():
            base = cu.get_top_DIE().attributes.get("DW_AT_low_pc")
            for die in cu.iter_DIEs():
                if die.is_null() or "DW_AT_ranges" not in die.attributes:
                    continue
                current = base.value if base is not None else 0
                expected = []
                offset = die.attributes["DW_AT_ranges"].value
                for item in range_lists.get_range_list_at_offset(offset, cu=cu):
                    if isinstance(item, RangeBase):
                        current = item.base_address
                    elif isinstance(item, RangeEntry):
                        lo, hi = item.begin_offset, item.end_offset
                        if not item.is_absolute:
                            lo, hi = lo + current, hi + current
                        if hi > lo:
                            expected.append((lo, hi))
                assert reader.ranges(reader.entry_at(die.offset)) == expected, hex(die.offset)
                checked += 1
        assert checked > 50


def test_line_rows_match_pyelftools(example_binary: Path) -> None:
    f, dwarf = _oracle(example_binary)
    with f, open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        for cu in dwarf.iter_CUs():
            unit = reader.unit_at(cu.get_top_DIE().offset)
            if unit.name not in CHECKED_UNITS:
                continue
            program = dwarf.line_program_for_CU(cu)
            assert program is not None
            expected = sorted(
                (
                    (e.state.address, e.state.file, e.state.line, bool(e.state.is_stmt))
                    for e in program.get_entries()
                    if e.state is not None and not e.state.end_sequence
                ),
                key=lambda row: row[0],
            )
            assert [tuple(r) for r in reader.line_rows(unit)] == expected, unit.name
            header = program.header
            files = [e.name.decode() for e in header["file_entry"]]
            assert [name for name, _ in reader.line_header(unit).files] == files  # type: ignore[union-attr]


@pytest.mark.parametrize("offset", [0, 7, 12345])
def test_unit_at_rejects_offsets_outside_entries(example_binary: Path, offset: int) -> None:
    with open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        first = next(reader.units())
        if offset < first.die_offset:
            with pytest.raises(Exception, match="no unit holds"):
                reader.unit_at(offset)
        else:
            assert reader.unit_at(offset).offset <= offset


def test_compiled_decoders_match_the_reference_decoder(example_binary: Path) -> None:
    """Each abbreviation's generated decoder decodes like the form-by-form one."""
    from stages.irgen.dies import _decode_attributes, uleb

    with open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        compared = 0
        for unit in reader.units():
            if unit.name not in CHECKED_UNITS:
                continue
            for entry in _subtree(reader, reader.top_entry(unit)):
                code, pos = uleb(reader.info, entry.offset)
                abbrev = unit.header.abbrevs[code]
                assert abbrev.decoder is not None
                attrs, end = _decode_attributes(
                    abbrev, reader.info, pos, unit.header, reader._sections
                )
                assert (attrs, end) == (entry.attrs, entry.children_offset)
                compared += 1
        assert compared > 5000
