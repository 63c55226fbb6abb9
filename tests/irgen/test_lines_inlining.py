"""Line tables of kept functions, and inlined copies of functions.

The types program's ``inlining`` calls ``twice``, which the compiler inlines;
``twice`` has no out-of-line code at all, yet a probe on it must be placeable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from elftools.dwarf.callframe import FDE
from elftools.elf.elffile import ELFFile
from gobuild import REPO

from stages.ir import InlinedFunction, Program
from stages.irgen import generate_ir

SOURCE = (REPO / "tests" / "progs" / "types" / "main.go").read_text().splitlines()


def source_line(text: str) -> int:
    """The 1-based line of the only source line containing ``text``."""
    (line,) = [i + 1 for i, s in enumerate(SOURCE) if text in s]
    return line


def body(signature: str) -> range:
    """The lines of the function starting with ``signature``, braces included."""
    start = source_line(signature)
    end = next(i + 1 for i in range(start, len(SOURCE)) if SOURCE[i] == "}")
    return range(start, end + 1)


@pytest.fixture(scope="module")
def twice_ir(types_binary: Path) -> Program:
    return generate_ir(str(types_binary), ["main.twice", "main.inlining"])


def inlined(program: Program, name: str) -> InlinedFunction:
    (found,) = [f for f in program.inlined if f.name == name]
    return found


def test_fully_inlined_function_is_found(twice_ir: Program) -> None:
    assert twice_ir.function("main.twice") is None  # no out-of-line copy
    twice = inlined(twice_ir, "main.twice")
    assert twice.file == "types/main.go"
    assert twice.line == source_line("func twice(x int) int {")
    assert twice.instances


def test_instances_sit_in_their_caller(twice_ir: Program, types_binary: Path) -> None:
    caller = twice_ir.function("main.inlining")
    assert caller is not None
    calls = {source_line("total := twice(a)"), source_line("extra := twice(b) + 1")}
    with types_binary.open("rb") as f:
        frames = {
            e.header["initial_location"]: e.get_decoded().table
            for e in ELFFile(f).get_dwarf_info().CFI_entries()
            if isinstance(e, FDE)
        }
    twice = inlined(twice_ir, "main.twice")
    assert twice.instances[0].call_line == source_line("total := twice(a)")
    for instance in twice.instances:
        assert instance.caller == "main.inlining"
        assert instance.call_file == "types/main.go" and instance.call_line in calls
        assert instance.entry_pc == instance.ranges[0][0]
        assert all(caller.low_pc <= lo < hi <= caller.high_pc for lo, hi in instance.ranges)
        rows = [r for r in frames[caller.low_pc] if r["pc"] <= instance.entry_pc]
        assert rows[-1]["cfa"].offset == instance.entry_cfa_offset
        x = next(v for v in instance.variables if v.name == "x")
        assert x.role == "param"
        assert any(loc.low_pc <= instance.entry_pc < loc.high_pc for loc in x.locations)


def test_whole_binary_lists_the_same_instances(twice_ir: Program, types_whole_ir: Program) -> None:
    assert inlined(types_whole_ir, "main.twice") == inlined(twice_ir, "main.twice")
    # Runtime and library code inlines a lot: every copy sits in a known caller.
    assert len(types_whole_ir.inlined) > 100
    # (a name can have several copies: ABI wrappers share their function's name)
    callers: dict[str, list[tuple[int, int]]] = {}
    for fn in types_whole_ir.functions:
        callers.setdefault(fn.name, []).append((fn.low_pc, fn.high_pc))
    for function in types_whole_ir.inlined:
        for instance in function.instances:
            assert any(
                all(low <= lo < hi <= high for lo, hi in instance.ranges)
                for low, high in callers[instance.caller]
            ), f"{function.name} in {instance.caller}"


def test_line_rows_of_a_function(twice_ir: Program) -> None:
    fn = twice_ir.function("main.inlining")
    assert fn is not None
    assert fn.line_files == ["types/main.go"]
    pcs = [row.pc for row in fn.lines]
    assert pcs == sorted(pcs) and pcs[0] == fn.low_pc and pcs[-1] < fn.high_pc
    own, callee = body("func inlining(a, b int) int {"), body("func twice(x int) int {")
    statements = {row.line for row in fn.lines if row.is_stmt}
    assert statements <= set(own) | set(callee)
    assert source_line("total := twice(a)") in {row.line for row in fn.lines}
    assert statements & set(callee), "the inlined body's statements are in the caller's table"


def test_line_rows_match_pyelftools(types_whole_ir: Program, types_binary: Path) -> None:
    with types_binary.open("rb") as f:
        dwarf = ELFFile(f).get_dwarf_info()
        expected: list[tuple[int, str, int, bool]] = []
        for cu in dwarf.iter_CUs():
            if cu.get_top_DIE().attributes["DW_AT_name"].value != b"main":
                continue
            program = dwarf.line_program_for_CU(cu)
            assert program is not None
            names = [e.name.decode() for e in program.header["file_entry"]]
            first = 0 if program.header["version"] >= 5 else 1
            for e in program.get_entries():
                if e.state is not None and not e.state.end_sequence:
                    s = e.state
                    file = names[s.file - first].split("/")[-1]
                    expected.append((s.address, file, s.line, bool(s.is_stmt)))
    got = [
        (row.pc, fn.line_files[row.file].split("/")[-1], row.line, row.is_stmt)
        for fn in types_whole_ir.functions
        if fn.name.startswith("main.") and fn.file.startswith("types/")
        for row in fn.lines
    ]
    assert got
    assert set(got) <= set(expected)
