"""irgen's own location-list and line-program decoders agree with pyelftools'."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from elftools.dwarf.locationlists import BaseAddressEntry, LocationEntry

from stages.irgen.dwarf import DwarfReader, Entry, LocListRef
from stages.irgen.elf import open_elf
from stages.irgen.locations import LocBase, LocRange, raw_location_list


def _subtree(reader: DwarfReader, entry: Entry) -> Iterator[Entry]:
    for child in reader.children(entry):
        yield child
        yield from _subtree(reader, child)


def test_location_lists_match_pyelftools(example_binary: Path) -> None:
    with open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        lists = reader.info.location_lists()
        assert lists is not None
        checked = 0
        for unit in reader.units():
            if unit.name not in ("main", "fmt"):
                continue
            for entry in _subtree(reader, reader.entry_at(unit.cu.cu_die_offset)):
                ref = reader.location(entry)
                if not isinstance(ref, LocListRef):
                    continue
                expected = [
                    LocBase(item.base_address)
                    if isinstance(item, BaseAddressEntry)
                    else LocRange(
                        item.begin_offset, item.end_offset, bytes(item.loc_expr), item.is_absolute
                    )
                    for item in lists.get_location_list_at_offset(ref.offset, entry.die)
                    if isinstance(item, BaseAddressEntry | LocationEntry)
                ]
                assert raw_location_list(reader, entry, ref) == expected, hex(entry.offset)
                checked += 1
        assert checked > 100


def test_line_rows_match_pyelftools(example_binary: Path) -> None:
    with open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        for unit in reader.units():
            if unit.name not in ("main", "fmt", "runtime"):
                continue
            program = reader.info.line_program_for_CU(unit.cu)
            assert program is not None
            expected = sorted(
                (
                    (e.state.address, e.state.file)
                    for e in program.get_entries()
                    if e.state is not None and not e.state.end_sequence
                ),
                key=lambda row: row[0],
            )
            assert reader.line_rows(unit) == expected, unit.name
