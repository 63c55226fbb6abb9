"""``lines.sequence_pcs_at`` (the line-probe search's filtered decoder) agrees with
the full decoder ``line_rows`` on every sequence of real line programs."""

from __future__ import annotations

import pytest
from gobuild import REPO, build_go, go_versions

from stages.irgen.dwarf import DwarfReader
from stages.irgen.elf import open_elf
from stages.irgen.lines import line_rows, sequence_pcs_at

INLINED = REPO / "tests" / "progs" / "inlined"


@pytest.mark.parametrize("version", [go_versions()[0], go_versions()[-1]])
def test_sequence_pcs_at_matches_line_rows(version: str) -> None:
    binary = build_go(INLINED, version)
    checked = 0
    with open_elf(str(binary)) as image:
        reader = DwarfReader(image)
        for unit in reader.units():
            header = reader.line_header(unit)
            if header is None:
                continue
            program = header.program
            needle = b"\x00\x09\x02"
            pos = program.data.find(needle, program.start, program.end)
            while pos >= 0:
                rows = line_rows(program, pos, one_sequence=True)
                # Every (file, line) of the sequence, and one that is not in it.
                wanted: dict[int, set[int]] = {}
                for _, file, line, _ in rows[::3]:
                    wanted.setdefault(file, set()).add(line)
                wanted.setdefault(10**6, set()).add(1)
                expected = [pc for pc, f, ln, _ in rows if ln in wanted.get(f, ())]
                assert sequence_pcs_at(program, pos, wanted) == expected
                checked += 1
                pos = program.data.find(needle, pos + 11, program.end)
    assert checked > 100
