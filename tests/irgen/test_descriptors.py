"""Types made from runtime type descriptors (``stages/irgen/descriptors.py``) agree
with the linker: for every type that has both a DWARF entry and a descriptor, the
type irgen makes of the descriptor alone is named as DWARF names it (the linker's
own spelling, with full package paths), has its size, and the descriptors the
linker lists (typelinks up to Go 1.26, the walk from 1.27) are all descriptors."""

from __future__ import annotations

from pathlib import Path

from stages.irgen.descriptors import Descriptors
from stages.irgen.dwarf import DwarfReader
from stages.irgen.elf import open_elf
from stages.irgen.runtime_types import described_addresses, descriptor_range
from stages.irgen.types import TypeTable, unescape_path

# Spelled differently by the linker and not rebuilt: an interface's method list
# (methods of other packages), a local type's ·N suffix, noalg internals, shapes.
_NOT_REBUILT = ("·", "noalg.", "interface {", "go.shape")


def test_descriptor_types_match_dwarf(example_binary: Path) -> None:
    with open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        found = descriptor_range(image)
        assert found is not None
        table = Descriptors(image, reader, found)
        described = described_addresses(reader, found)
        types = TypeTable(reader, found)
        listed = table.all_addresses()
        assert listed and all(table.get(a) is not None for a in listed)
        checked = 0
        for address, offset in described.items():
            entry = reader.entry_at(offset)
            want = unescape_path(entry.name or "")
            if any(x in want for x in _NOT_REBUILT):
                continue
            made = types.from_descriptor(address, table, {})
            assert made is not None, want
            t = types.build_one(made)
            assert t.name == want
            assert t.runtime_type == address
            if entry.tag != "DW_TAG_typedef":  # a map's or chan's typedef: a pointer
                assert t.size == types.size_of(entry), want
            checked += 1
        assert checked > 200
