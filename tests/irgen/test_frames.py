"""Call-frame rows (.debug_frame) and the return sites found from them."""

from __future__ import annotations

from pathlib import Path

from elftools.dwarf.callframe import FDE
from elftools.elf.elffile import ELFFile

from stages.ir import Program
from stages.irgen.dwarf import DwarfReader
from stages.irgen.elf import open_elf
from stages.irgen.prologue import find_returns, returns_from_frame


def test_returns_from_frame_match_a_full_sweep(whole_ir: Program, example_binary: Path) -> None:
    """For every function of the binary (Go and assembly), the returns found from
    the CFA rows are exactly those a linear sweep of the code finds."""
    with open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        framed = 0
        for fn in whole_ir.functions:
            code = image.read(fn.low_pc, fn.high_pc - fn.low_pc)
            swept = find_returns(code, fn.low_pc)
            rows = reader.frame_rows(fn.low_pc)
            assert rows is not None, fn.name
            from_frame = returns_from_frame(code, fn.low_pc, rows)
            if from_frame is not None:
                framed += 1
                assert from_frame == swept, fn.name
            assert [site.pc for site in fn.return_sites] == swept, fn.name
        assert framed > len(whole_ir.functions) / 2


def test_frame_rows_match_pyelftools(example_binary: Path) -> None:
    with example_binary.open("rb") as f:
        expected = {}
        for entry in ELFFile(f).get_dwarf_info().CFI_entries():
            if isinstance(entry, FDE):
                expected[entry.header["initial_location"]] = [
                    (row["pc"], row["cfa"].reg, row["cfa"].offset)
                    for row in entry.get_decoded().table
                ]
    with open_elf(str(example_binary)) as image:
        reader = DwarfReader(image)
        for low_pc, rows in expected.items():
            # An advance by 0 makes pyelftools start a new row at the same PC: the
            # last rule at a PC is the one in force.
            by_pc = {pc: (pc, register, offset) for pc, register, offset in rows}
            assert [tuple(r) for r in reader.frame_rows(low_pc) or []] == list(by_pc.values())
