"""irgen on the bundled example program, for every pinned Go version."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from elftools.dwarf.callframe import FDE
from elftools.elf.elffile import ELFFile

from stages.ir import (
    ArrayType,
    BucketMapLayout,
    CfaPiece,
    ChanType,
    Function,
    InterfaceType,
    MapType,
    Piece,
    PointerType,
    Program,
    RegisterPiece,
    SliceType,
    StringType,
    StructType,
    SwissMapLayout,
    Type,
    TypedefType,
    TypeIndex,
    UnsupportedType,
    Variable,
    decode_program,
    encode_program,
)
from stages.irgen import generate_ir, package_candidates

RAX, RDX, RCX, RBX, RSI, RDI = 0, 1, 2, 3, 4, 5
XMM0, XMM1 = 17, 18


def function(program: Program, name: str) -> Function:
    fn = program.function(name)
    assert fn is not None, f"{name} not in the IR"
    return fn


def variable(fn: Function, name: str) -> Variable:
    for v in fn.variables:
        if v.name == name:
            return v
    raise AssertionError(f"{fn.name} has no variable {name}: {[v.name for v in fn.variables]}")


def pieces_at(v: Variable, pc: int) -> list[Piece]:
    """Where ``v`` is at ``pc``, by its location ranges."""
    for loc in v.locations:
        if loc.low_pc <= pc < loc.high_pc:
            return loc.pieces
    raise AssertionError(f"{v.name} has no location at {pc:#x}: {v.locations}")


def cfa_rules(path: Path) -> dict[int, list[tuple[int, int, int]]]:
    """FDE start -> [(pc, cfa register, cfa offset)] from .debug_frame."""
    with path.open("rb") as f:
        dwarf = ELFFile(f).get_dwarf_info()
        rules = {}
        for entry in dwarf.CFI_entries():
            if isinstance(entry, FDE):
                rows = entry.get_decoded().table
                rules[entry.header["initial_location"]] = [
                    (row["pc"], row["cfa"].reg, row["cfa"].offset) for row in rows
                ]
    return rules


def cfa_at(rows: list[tuple[int, int, int]], pc: int) -> tuple[int, int]:
    current = rows[0]
    for row in rows:
        if row[0] <= pc:
            current = row
    return current[1], current[2]


def referenced(t: Type) -> list[int]:
    """The type ids a type refers to."""
    if isinstance(t, StructType):
        return [f.type for f in t.fields]
    if isinstance(t, ArrayType | SliceType):
        return [t.elem]
    if isinstance(t, PointerType):
        return [t.elem] if t.elem is not None else []
    if isinstance(t, TypedefType):
        return [t.target]
    if isinstance(t, MapType):
        refs = [t.key, t.value] + ([t.header] if t.header is not None else [])
        if isinstance(t.layout, BucketMapLayout):
            refs += [t.layout.header, t.layout.bucket]
        elif isinstance(t.layout, SwissMapLayout):
            refs += [t.layout.header, t.layout.table, t.layout.group]
        return refs
    if isinstance(t, ChanType):
        return [t.elem] + ([t.layout.header] if t.layout is not None else [])
    return []


# --------------------------------------------------------------------- binary


def test_binary_info(example_ir: Program, example_binary: Path, go_version: str) -> None:
    info = example_ir.binary
    assert info.go_version == f"go{go_version}"
    assert info.arch == "amd64"
    major, minor = (int(x) for x in go_version.split(".")[:2])
    assert info.dwarf_version == (5 if (major, minor) >= (1, 25) else 4)
    assert info.build_id
    assert example_ir.header.format == "godi.ir"
    # The bytes, hashed here from the file: what identifies the binary.
    assert info.sha256 == hashlib.sha256(example_binary.read_bytes()).hexdigest()
    assert example_ir.header.inputs == {"binary": info.build_id, "binary_sha256": info.sha256}
    with example_binary.open("rb") as f:
        note = ELFFile(f).get_section_by_name(".note.gnu.build-id")
        if note is not None:
            assert info.build_id == next(iter(note.iter_notes()))["n_desc"]  # type: ignore[attr-defined]


def test_goid_offset_matches_runtime_g(example_ir: Program, example_binary: Path) -> None:
    with example_binary.open("rb") as f:
        dwarf = ELFFile(f).get_dwarf_info()
        goid = None
        for cu in dwarf.iter_CUs():
            for die in cu.get_top_DIE().iter_children():
                name = die.attributes.get("DW_AT_name")
                if die.tag == "DW_TAG_structure_type" and name and name.value == b"runtime.g":
                    for member in die.iter_children():
                        if member.attributes["DW_AT_name"].value == b"goid":
                            goid = member.attributes["DW_AT_data_member_location"].value
            if goid is not None:
                break
    assert goid is not None
    assert example_ir.binary.goid_offset == goid


# ------------------------------------------------------------------ functions


def test_only_the_wanted_functions(example_ir: Program, probed: tuple[str, ...]) -> None:
    assert sorted(fn.name for fn in example_ir.functions) == sorted(probed)
    for fn in example_ir.functions:
        assert fn.file == "example/main.go"
        assert fn.low_pc <= fn.entry_pc < fn.high_pc
        assert fn.dwarf_offset > 0


def test_unknown_names_are_absent(example_binary: Path) -> None:
    program = generate_ir(str(example_binary), ["main.greet", "main.nope", "nopkg.F"])
    assert [fn.name for fn in program.functions] == ["main.greet"]


def test_greet(example_ir: Program) -> None:
    fn = function(example_ir, "main.greet")
    assert fn.line == 68
    params = [(v.name, v.role) for v in fn.variables if v.role != "local"]
    assert params == [("name", "param"), ("times", "param"), ("~r0", "result")]
    types = TypeIndex(example_ir.types)
    assert isinstance(types.resolve(variable(fn, "name").type), StringType)
    times = types.resolve(variable(fn, "times").type)
    assert times.name == "int"
    assert pieces_at(variable(fn, "name"), fn.entry_pc) == [
        RegisterPiece(register=RAX, size=8),
        RegisterPiece(register=RBX, size=8),
    ]
    assert pieces_at(variable(fn, "times"), fn.entry_pc) == [RegisterPiece(register=RCX)]
    result = variable(fn, "~r0")
    assert result.locations == []
    assert result.unavailable is not None and "return sites" in result.unavailable
    # The loop counter lives in a lexical block.
    k = variable(fn, "k")
    assert k.role == "local" and k.scope
    assert all(fn.low_pc <= lo < hi <= fn.high_pc for lo, hi in k.scope)
    assert fn.frame_pointer and fn.entry_pc > fn.low_pc


def test_live_variables_per_line(example_ir: Program) -> None:
    """At the first statement of each line of greet: the parameters always; ``k``
    only in the loop (its lexical block), ``out`` where it has a location."""
    fn = function(example_ir, "main.greet")
    first = {}
    for row in fn.lines:
        if row.is_stmt and fn.line_files[row.file].endswith("example/main.go"):
            first.setdefault(row.line, max(row.pc, fn.entry_pc))
    live = {line: {v.name for v in fn.live_at(pc)} for line, pc in first.items()}
    assert live[68] == {"name", "times"}
    assert {"name", "times", "k"} <= live[71]  # in the loop body
    assert "k" not in live[73]  # return out: the loop's block is left
    assert {"name", "times", "out"} <= live[73]


def test_scalars(example_ir: Program) -> None:
    fn = function(example_ir, "main.scalars")
    params = [v for v in fn.variables if v.role == "param"]
    assert len(params) == 14
    at_entry = {v.name: pieces_at(v, fn.entry_pc) for v in params}
    assert at_entry["i8"] == [RegisterPiece(register=RAX)]
    assert at_entry["u"] == [CfaPiece(offset=0)]
    assert at_entry["b"] == [CfaPiece(offset=8)]
    assert at_entry["up"] == [CfaPiece(offset=16)]
    assert at_entry["f32"] == [RegisterPiece(register=XMM0)]
    assert at_entry["f64"] == [RegisterPiece(register=XMM1)]
    # A leaf without a frame: probing its first instruction is its entry.
    assert (fn.entry_pc, fn.entry_cfa_offset, fn.frame_pointer) == (fn.low_pc, 8, False)


def test_weigh_struct_split_over_registers(example_ir: Program) -> None:
    fn = function(example_ir, "main.weigh")
    pieces = pieces_at(variable(fn, "m"), fn.entry_pc)
    assert [p.register for p in pieces if isinstance(p, RegisterPiece)] == [
        RAX,
        RBX,
        XMM0,
        RCX,
        RDI,
        XMM1,
    ]
    assert [p.size for p in pieces] == [2, 1, 4, 8, 8, 8]


def test_describe_shape_on_the_stack(example_ir: Program) -> None:
    fn = function(example_ir, "main.describe")
    s = variable(fn, "s")
    assert s.role == "param"
    types = TypeIndex(example_ir.types)
    named = types[s.type]
    assert isinstance(named, TypedefType) and named.name == "main.Shape"
    shape = types.resolve(s.type)
    assert isinstance(shape, StructType) and shape.name == "main.Shape" and shape.size == 56
    fields = {f.name: f for f in shape.fields}
    assert [(f.name, f.offset) for f in shape.fields] == [
        ("Name", 0),
        ("Corners", 16),
        ("Origin", 48),
    ]
    assert isinstance(types.resolve(fields["Name"].type), StringType)
    corners = types.resolve(fields["Corners"].type)
    assert isinstance(corners, ArrayType) and corners.name == "[4]main.Point"
    assert corners.count == 4 and corners.size == 32
    point = types.resolve(corners.elem)
    assert isinstance(point, StructType) and point.name == "main.Point"
    assert [(f.name, f.offset) for f in point.fields] == [("X", 0), ("Y", 4)]
    origin = types.resolve(fields["Origin"].type)
    assert isinstance(origin, PointerType) and origin.name == "*main.Point"
    assert origin.elem is not None and types.resolve(origin.elem) == point
    assert pieces_at(s, fn.entry_pc) == [CfaPiece(offset=0)]


def test_checkout_receiver(example_ir: Program) -> None:
    fn = function(example_ir, "main.(*Cart).Checkout")
    receiver = fn.variables[0]
    assert (receiver.name, receiver.role) == ("c", "param")
    types = TypeIndex(example_ir.types)
    pointer = types.resolve(receiver.type)
    assert isinstance(pointer, PointerType) and pointer.name == "*main.Cart"
    assert pointer.elem is not None
    cart = types.resolve(pointer.elem)
    assert isinstance(cart, StructType)
    assert [f.name for f in cart.fields] == ["Owner", "Items", "Coupon"]
    assert pieces_at(receiver, fn.entry_pc) == [RegisterPiece(register=RAX)]
    assert pieces_at(variable(fn, "discount"), fn.entry_pc) == [RegisterPiece(register=XMM0)]


def test_return_sites_are_rets(example_ir: Program, example_binary: Path) -> None:
    disassembler = Cs(CS_ARCH_X86, CS_MODE_64)
    with example_binary.open("rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        assert text is not None
        code, base = text.data(), text["sh_addr"]
    for fn in example_ir.functions:
        assert fn.return_sites, f"{fn.name} has no return site"
        for site in fn.return_sites:
            assert fn.low_pc <= site.pc < fn.high_pc
            insn = next(disassembler.disasm_lite(code[site.pc - base : site.pc - base + 16], 0))
            assert insn[2] == "ret", f"{fn.name}: {site.pc:#x} is {insn}"
            assert site.cfa_offset == 8


# ------------------------------------------------- prologues vs .debug_frame


def test_entry_cfa_matches_debug_frame(
    whole_ir: Program, example_binary: Path, probed: tuple[str, ...]
) -> None:
    """For every function (package main and all others), the disassembled
    prologue agrees with the compiler's own CFA rules."""
    rules = cfa_rules(example_binary)
    mains = [fn for fn in whole_ir.functions if fn.name.startswith("main.")]
    assert {"main.main", *probed} <= {fn.name for fn in mains}
    mismatches = []
    for fn in whole_ir.functions:
        rows = rules.get(fn.low_pc)
        if rows is None:
            continue
        expected = cfa_at(rows, fn.entry_pc)
        if expected != (7, fn.entry_cfa_offset):
            mismatches.append(f"{fn.name}: entry {fn.entry_pc:#x} {fn.entry_cfa_offset} {expected}")
        for site in fn.return_sites:
            if cfa_at(rows, site.pc) != (7, site.cfa_offset):
                mismatches.append(f"{fn.name}: return {site.pc:#x}")
    assert not mismatches, "\n".join(mismatches[:20])
    assert all(fn.low_pc in rules for fn in mains)


# ---------------------------------------------------------------- the program


def test_types_closed_and_sorted(example_ir: Program, whole_ir: Program) -> None:
    for program in (example_ir, whole_ir):
        ids = [t.id for t in program.types]
        assert ids == sorted(set(ids))
        known = set(ids)
        for t in program.types:
            missing = [r for r in referenced(t) if r not in known]
            assert not missing, f"{t.name} refers to missing types {missing}"
        for fn in program.functions:
            for v in fn.variables:
                assert v.type in known


def test_scoped_types_are_only_reachable_ones(example_ir: Program, whole_ir: Program) -> None:
    assert len(example_ir.types) < len(whole_ir.types) / 10
    names = {t.name for t in example_ir.types}
    assert "runtime.g" not in names and "main.Node" in names


def test_whole_binary_kinds(whole_ir: Program) -> None:
    types = TypeIndex(whole_ir.types)
    empty = [t for t in whole_ir.types if isinstance(t, InterfaceType) and t.name == "interface {}"]
    assert empty and all(t.empty for t in empty)
    errors = [t for t in whole_ir.types if isinstance(t, InterfaceType) and t.name == "error"]
    assert errors and not any(t.empty for t in errors)
    maps = [t for t in whole_ir.types if isinstance(t, MapType)]
    assert maps
    for m in maps:
        assert m.size == 8
        assert m.header is not None and isinstance(types[m.header], StructType)
        assert m.layout is not None, f"{m.name}: {m.layout_unavailable}"
    chans = [t for t in whole_ir.types if isinstance(t, ChanType)]
    assert chans
    for c in chans:
        assert c.layout is not None and c.layout.header == c.header, c.layout_unavailable
    assert not [t for t in whole_ir.types if isinstance(t, UnsupportedType)]


def test_whole_binary_functions(whole_ir: Program) -> None:
    names = [fn.name for fn in whole_ir.functions]
    assert len(names) > 1000
    assert all(fn.file and fn.low_pc < fn.high_pc for fn in whole_ir.functions)
    # An out-of-line copy of an inlinable function: named through its abstract
    # origin, which Go writes without DW_AT_decl_file.
    fn = function(whole_ir, "syscall.Errno.Is")
    assert fn.file == "syscall/syscall_unix.go"
    assert [(v.name, v.role) for v in fn.variables] == [
        ("e", "param"),
        ("target", "param"),
        ("~r0", "result"),
    ]


def test_round_trip_and_determinism(
    example_ir: Program, example_binary: Path, probed: tuple[str, ...]
) -> None:
    data = encode_program(example_ir)
    assert decode_program(data) == example_ir
    assert encode_program(generate_ir(str(example_binary), list(reversed(probed)))) == data


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("main.greet", {"main"}),
        ("main.(*Cart).Checkout", {"main", "main.(*Cart)"}),
        ("github.com/a/b.F", {"github.com/a/b"}),
        ("gopkg.in/yaml.v3.Marshal", {"gopkg.in/yaml", "gopkg.in/yaml.v3"}),
        ("main.Map[go.shape.int]", {"main"}),
    ],
)
def test_package_candidates(name: str, expected: set[str]) -> None:
    assert package_candidates(name) == expected


def test_go_version_from_the_producer(
    example_binary: Path, go_version: str, tmp_path: Path
) -> None:
    """Without a readable .go.buildinfo, the DWARF producer string names the version."""
    data = bytearray(example_binary.read_bytes())
    with example_binary.open("rb") as f:
        section = ELFFile(f).get_section_by_name(".go.buildinfo")
        assert section is not None
        offset = section["sh_offset"]
    data[offset : offset + 14] = b"\0" * 14  # the "\xff Go buildinf:" magic
    patched = tmp_path / "no-buildinfo"
    patched.write_bytes(bytes(data))
    assert generate_ir(str(patched), []).binary.go_version == f"go{go_version}"
