"""``lines.sequence_pcs_at`` (the line-probe search's filtered decoder) agrees with
the full decoder ``line_rows`` on every sequence of real line programs, and the C
versions of both (``_lines``) with the Python ones, on real programs and on
arbitrary bytes (where C either gives the same answer or leaves it to Python)."""

from __future__ import annotations

import pytest
from gobuild import REPO, build_go, go_versions
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.irgen import lines as lines_module
from stages.irgen.dwarf import DwarfReader
from stages.irgen.elf import open_elf
from stages.irgen.lines import (
    LineProgram,
    line_rows,
    line_rows_py,
    sequence_pcs_at,
    sequence_pcs_at_py,
)

INLINED = REPO / "tests" / "progs" / "inlined"
_SET_ADDRESS = b"\x00\x09\x02"
native = pytest.mark.skipif(lines_module._lines is None, reason="C extension _lines not built")


def _c(program: LineProgram, start: int, wanted: dict[int, set[int]]) -> list[int] | None:
    assert lines_module._lines is not None
    return lines_module._lines.sequence_pcs_at(
        program.data,
        start,
        program.end,
        program.minimum_instruction_length,
        program.line_range or 1,
        program.opcode_base,
        program.line_base,
        bytes(program.standard_opcode_lengths),
        wanted,
    )


def _c_rows(program: LineProgram, start: int, one_sequence: bool) -> list[object] | None:
    assert lines_module._lines is not None
    return lines_module._lines.line_rows(  # type: ignore[return-value]
        program.data,
        start,
        program.end,
        program.minimum_instruction_length,
        program.line_range or 1,
        program.opcode_base,
        program.line_base,
        bytes(program.standard_opcode_lengths),
        program.default_is_stmt,
        one_sequence,
    )


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
            whole = line_rows_py(program)
            assert line_rows(program) == whole
            assert [type(x) for x in whole[0]] == [int, int, int, bool]
            assert [type(x) for x in line_rows(program)[0]] == [int, int, int, bool]
            pos = program.data.find(_SET_ADDRESS, program.start, program.end)
            while pos >= 0:
                rows = line_rows_py(program, pos, one_sequence=True)
                assert line_rows(program, pos, one_sequence=True) == rows
                if lines_module._lines is not None:  # no fallback on Go's output
                    assert _c_rows(program, pos, True) == rows
                # Every (file, line) of the sequence, and one that is not in it.
                wanted: dict[int, set[int]] = {}
                for _, file, line, _ in rows[::3]:
                    wanted.setdefault(file, set()).add(line)
                wanted.setdefault(10**6, set()).add(1)
                expected = [pc for pc, f, ln, _ in rows if ln in wanted.get(f, ())]
                assert sequence_pcs_at_py(program, pos, wanted) == expected
                assert sequence_pcs_at(program, pos, wanted) == expected
                if lines_module._lines is not None:
                    assert _c(program, pos, wanted) == expected  # no fallback on Go's output
                checked += 1
                pos = program.data.find(_SET_ADDRESS, pos + 11, program.end)
    assert checked > 100


@native
@settings(max_examples=3000, deadline=None)
@given(
    data=st.binary(max_size=64),
    start=st.integers(-2, 70),
    cut=st.integers(0, 70),
    unit=st.integers(0, 255),
    line_range=st.integers(0, 255),
    base=st.integers(0, 255),
    line_base=st.integers(-128, 127),
    lengths=st.lists(st.integers(0, 3), max_size=12),
    files=st.lists(st.integers(0, 5), max_size=3),
    lines=st.lists(st.integers(-20, 40), max_size=6),
)
def test_c_scan_agrees_or_defers_on_any_bytes(
    data: bytes,
    start: int,
    cut: int,
    unit: int,
    line_range: int,
    base: int,
    line_base: int,
    lengths: list[int],
    files: list[int],
    lines: list[int],
) -> None:
    # Some well-formed opcodes among the noise: set_address, set_file, a special row.
    data = b"\x00\x09\x02" + bytes(range(1, 9)) + b"\x04\x01\x01" + data
    program = LineProgram(
        data=data,
        start=0,
        end=min(cut + 14, len(data)),
        minimum_instruction_length=unit,
        line_range=line_range,
        opcode_base=base,
        standard_opcode_lengths=tuple(lengths),
        line_base=line_base,
    )
    wanted = {f: set(lines) for f in files}
    try:
        expected: list[int] | None = sequence_pcs_at_py(program, start, wanted)
    except IndexError:
        expected = None  # Python raises: C must defer to it
    got = _c(program, start, wanted)
    assert got is None or got == expected
    if expected is None:
        with pytest.raises(IndexError):
            sequence_pcs_at(program, start, wanted)
    else:
        assert sequence_pcs_at(program, start, wanted) == expected
    for one_sequence in (True, False):
        try:
            rows: list[object] | None = list(line_rows_py(program, start, one_sequence))
        except IndexError:
            rows = None
        got_rows = _c_rows(program, start, one_sequence)
        assert got_rows is None or got_rows == rows
        if got_rows is not None:
            assert all(type(r[3]) is bool for r in got_rows)  # type: ignore[index]
