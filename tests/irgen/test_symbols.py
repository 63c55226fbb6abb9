"""Symbolication from ``.gopclntab`` agrees with the Go runtime and with ``addr2line``.

``tests/progs/callers`` prints what ``runtime.Callers`` and ``runtime.CallersFrames``
see at a few call sites (plain calls, inlined calls, generics, a method wrapper, a
closure, a recovered panic, a goroutine). The table ``build_symbols`` copies, read
by decode's ``Symbolizer``, must name every one of those frames the same way,
stripped binary or not. Random PCs all over the binary must get the function, file
and line ``go tool addr2line`` gives.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest
from gobuild import REPO, build_go, go_tool

from stages.decode.stacks import Symbolizer, func_name_for_print
from stages.errors import BinaryError
from stages.ir import SymbolTable
from stages.irgen import symbols
from stages.irgen.elf import open_elf
from stages.irgen.symbols import build_symbols
from stages.pclntab import Pclntab

CALLERS = REPO / "tests" / "progs" / "callers"
SITES = {
    "plain",
    "inlined",
    "generic int",
    "generic string",
    "wrapper",
    "closure",
    "recovered",
}


@pytest.fixture(scope="module", params=["", "-s -w"], ids=["unstripped", "stripped"])
def callers(request: pytest.FixtureRequest, go_version: str) -> tuple[Path, SymbolTable]:
    binary = build_go(CALLERS, go_version, ldflags=str(request.param))
    return binary, build_symbols(str(binary))


def records(binary: Path) -> list[dict[str, Any]]:
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines()]


def frames_of(record: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(f["function"], f["file"], f["line"]) for f in record["frames"]]


def test_every_callers_pc_names_the_runtimes_frame(callers: tuple[Path, SymbolTable]) -> None:
    """``runtime.Callers`` gives one PC per logical frame (inlined ones included) as
    a return address: the innermost frame at PC-1 is the runtime's frame."""
    binary, table = callers
    sym = Symbolizer(table)
    recs = records(binary)
    assert {r["site"] for r in recs} >= SITES
    for rec in recs:
        got = [sym.frames(pc - 1)[0] for pc in rec["pcs"]]
        assert [(f.function, f.file, f.line) for f in got] == frames_of(rec), rec["site"]


def physical(sym: Symbolizer, pcs: list[int]) -> list[int]:
    """The PCs of ``runtime.Callers`` that are not the virtual PCs it adds for the
    callers of inlined frames: what a frame-pointer walk finds."""
    out = []
    i = 0
    while i < len(pcs):
        pc = pcs[i]
        out.append(pc)
        i += 1
        for outer in sym.frames(pc - 1)[1:]:
            if i < len(pcs) and pcs[i] == outer.pc + 1:
                i += 1
    return out


def test_stack_expands_inlined_frames_and_elides_wrappers(
    callers: tuple[Path, SymbolTable],
) -> None:
    """From the physical PCs alone (the first one exact), ``stack`` gives back the
    runtime's frames: inlined calls expanded, method wrappers left out."""
    binary, table = callers
    sym = Symbolizer(table)
    for rec in records(binary):
        pcs = physical(sym, rec["pcs"])
        stack = sym.stack([pcs[0] - 1, *pcs[1:]])
        got = [(f.function, f.fileName, f.lineNumber) for f in stack]
        assert got == frames_of(rec), rec["site"]
        if rec["site"] == "inlined":
            assert len(pcs) < len(rec["pcs"])  # really inlined
            names = [f.function for f in stack]
            assert names[2:5] == ["main.inner", "main.middle", "main.outer"]


def has_inline_trees(table: SymbolTable) -> bool:
    """Whether inlined frames can be expanded: some inline tree is readable."""
    tab = Pclntab(table)
    return any(tab.inlined(tab.function(i), 0) is not None for i in range(tab.nfunc))


def test_stripped_binary_gives_the_same_table(go_version: str) -> None:
    full = build_symbols(str(build_go(CALLERS, go_version)))
    stripped = build_symbols(str(build_go(CALLERS, go_version, ldflags="-s -w")))
    assert stripped == full
    assert has_inline_trees(full)
    assert Pclntab(full).wrapper_id is not None


def test_table_round_trips_through_json(callers: tuple[Path, SymbolTable]) -> None:
    """The table is the section's bytes, base64 in JSON: the IR's cost does not grow
    with the number of functions."""
    binary, table = callers
    data = msgspec.json.encode(table)
    assert msgspec.json.decode(data, type=SymbolTable) == table
    assert len(data) < 1.4 * (len(table.pclntab) + len(table.funcdata)) + 100
    with open_elf(str(binary)) as image:
        section = image.elffile.get_section_by_name(".gopclntab")
        assert section is not None
        assert table.pclntab == section.data()


def test_random_pcs_match_addr2line(go_version: str) -> None:
    """For PCs anywhere in the binary: the physical function, and the file and line
    of the innermost (possibly inlined) position, as ``go tool addr2line`` says."""
    binary = build_go(CALLERS, go_version)
    table = build_symbols(str(binary))
    sym = Symbolizer(table)
    rnd = random.Random(5)
    tab = Pclntab(table)
    pcs = sorted(
        tab.text + tab.entries[i] + rnd.randrange(max(1, tab.size(i)))
        for i in (rnd.randrange(tab.nfunc) for _ in range(1500))
    )
    result = subprocess.run(
        [str(go_tool(go_version)), "tool", "addr2line", str(binary)],
        input="".join(f"{pc:#x}\n" for pc in pcs),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2 * len(pcs)
    for i, pc in enumerate(pcs):
        frames = sym.frames(pc)
        want_name, want_pos = lines[2 * i], lines[2 * i + 1]
        got_pos = f"{frames[0].file}:{frames[0].line}"
        # Where a function has no table (linker markers) or past its last
        # instruction (alignment padding), the runtime says "?", 0; addr2line
        # reads on past the table and says anything.
        if got_pos == "?:0":
            assert want_pos.startswith(("<autogenerated>:", ":")), hex(pc)
        else:
            assert got_pos == want_pos, hex(pc)
        assert frames[-1].name == want_name, hex(pc)


@pytest.mark.parametrize(
    ("raw", "printed"),
    [
        ("main.main", "main.main"),
        ("main.F[go.shape.int]", "main.F[...]"),
        ("main.F[go.shape.[]int].func1", "main.F[...].func1"),
        ("main.(*T[go.shape.int]).M", "main.(*T[...]).M"),
        ("main.T[go.shape.int].M.F[go.shape.string]", "main.T[...].M.F[...]"),
        ("main.bad]x[", "main.bad]x["),
    ],
)
def test_func_name_for_print(raw: str, printed: str) -> None:
    assert func_name_for_print(raw) == printed


def test_not_a_go_binary(tmp_path: Path) -> None:
    true = Path("/bin/true").resolve()
    if not true.is_file():
        pytest.skip("no /bin/true")
    with pytest.raises(BinaryError, match=r"no \.gopclntab"):
        build_symbols(str(true))


def test_corrupt_pclntab(tmp_path: Path, go_version: str) -> None:
    binary = build_go(CALLERS, go_version)
    table = build_symbols(str(binary))
    data = bytearray(binary.read_bytes())
    with open_elf(str(binary)) as image:
        section = image.elffile.get_section_by_name(".gopclntab")
        assert section is not None
        start = section["sh_offset"]
    bad = tmp_path / "bad"
    data[start : start + 4] = b"\xfb\xff\xff\xff"  # the Go 1.2 magic
    bad.write_bytes(data)
    with pytest.raises(BinaryError, match=r"only the Go 1\.18"):
        build_symbols(str(bad))
    data[start : start + 4] = (0xFFFFFFF1).to_bytes(4, "little")
    data[start + 8 : start + 16] = (10**9).to_bytes(8, "little")  # nfunc
    bad.write_bytes(data)
    with pytest.raises(BinaryError, match="function table"):
        build_symbols(str(bad))
    assert Pclntab(table).nfunc


def test_wrong_moduledata_layout_falls_back_to_the_symbol(
    go_version: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Were a future Go to move ``gofunc`` in the moduledata, the inline trees read
    from the wrong place are caught: the symbol table is used, or, in a stripped
    binary, inlined frames are not expanded (with a warning) rather than wrong."""
    full = build_symbols(str(build_go(CALLERS, go_version)))
    monkeypatch.setattr(symbols, "_MD_GOFUNC_WORDS", (((1, 0), 3),))
    assert build_symbols(str(build_go(CALLERS, go_version))) == full
    stripped = build_symbols(str(build_go(CALLERS, go_version, ldflags="-s -w")))
    assert not has_inline_trees(stripped)
    assert "inlined frames are not expanded" in caplog.text
