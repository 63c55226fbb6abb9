"""codegen on hand-built IR: root placement, capture types, probe resolution."""

from __future__ import annotations

import re

import msgspec
import pytest

from stages.artifacts import header
from stages.codegen import generate_c
from stages.codegen.captypes import INLINE_ARRAY_OVER, MAX_SLOTS, CaptureTypes
from stages.codegen.resolve import method_candidates, resolve
from stages.codegen.roots import MAX_ROOT
from stages.errors import NoUsableProbeError
from stages.ir import (
    ArrayType,
    BaseType,
    BinaryInfo,
    CfaPiece,
    Field,
    Function,
    InlinedFunction,
    InlinedInstance,
    LineRow,
    LocationRange,
    PointerType,
    Program,
    RegisterPiece,
    SliceType,
    StringType,
    StructType,
    TypedefType,
    TypeIndex,
    Variable,
)
from stages.layout import (
    BYTES_TYPE,
    SLOT_INLINE,
    SLOT_MORE,
    SLOT_POINTER,
    SLOT_SLICE,
    SLOT_STRING,
)
from stages.paths import bpf_dir
from stages.probefile import parse_probes
from stages.spec import Probe, Where

U16 = BaseType(id=1, name="uint16", size=2, go_kind="uint16")
BOOL = BaseType(id=2, name="bool", size=1, go_kind="bool")
F32 = BaseType(id=3, name="float32", size=4, go_kind="float32")
STR = StringType(id=4, name="string", size=16)
F64 = BaseType(id=5, name="float64", size=8, go_kind="float64")
INT = BaseType(id=6, name="int", size=8, go_kind="int")
MIXED = StructType(
    id=10,
    name="main.Mixed",
    size=40,
    fields=[
        Field(name="ID", offset=0, type=1),
        Field(name="Ok", offset=2, type=2),
        Field(name="Weight", offset=4, type=3),
        Field(name="Label", offset=8, type=4),
        Field(name="Scale", offset=24, type=5),
        Field(name="N", offset=32, type=6),
    ],
)
MIXED_T = TypedefType(id=11, name="main.Mixed", size=40, target=10)
NODE = StructType(
    id=20,
    name="main.Node",
    size=24,
    fields=[
        Field(name="Name", offset=0, type=4),
        Field(name="Next", offset=16, type=22),
    ],
)
NODE_T = TypedefType(id=21, name="main.Node", size=24, target=20)
NODE_P = PointerType(id=22, name="*main.Node", size=8, elem=21)
INTS = SliceType(id=30, name="[]int", size=24, elem=6)
TYPES = [U16, BOOL, F32, STR, F64, INT, MIXED, MIXED_T, NODE, NODE_T, NODE_P, INTS]


def reg(r: int, size: int | None = None) -> RegisterPiece:
    return RegisterPiece(register=r, size=size)


def fn(name: str, variables: list[Variable]) -> Function:
    return Function(
        name=name,
        low_pc=0x1000,
        high_pc=0x1100,
        file="main.go",
        line=7,
        entry_pc=0x1010,
        entry_cfa_offset=0x28,
        frame_pointer=True,
        variables=variables,
    )


def everywhere(*pieces: RegisterPiece | CfaPiece) -> list[LocationRange]:
    return [LocationRange(low_pc=0x1000, high_pc=0x1100, pieces=list(pieces))]


PROGRAM = Program(
    header=header("godi.ir", 1, {"binary": "b1"}),
    binary=BinaryInfo(
        build_id="b1", go_version="go1.27.3", arch="amd64", dwarf_version=5, goid_offset=152
    ),
    functions=[
        # Go's register pieces leave out padding: 2+1+4 bytes, then string, float, int.
        fn(
            "main.weigh",
            [
                Variable(
                    name="m",
                    type=11,
                    role="param",
                    locations=everywhere(
                        reg(0, 2),
                        reg(3, 1),
                        reg(17, 4),
                        reg(2, 8),
                        reg(5, 8),
                        reg(18, 8),
                        reg(4, 8),
                    ),
                )
            ],
        ),
        fn(
            "main.walk",
            [
                Variable(name="n", type=22, role="param", locations=everywhere(reg(0))),
                Variable(
                    name="xs",
                    type=30,
                    role="param",
                    locations=everywhere(CfaPiece(offset=0, size=24)),
                ),
                Variable(name="gone", type=6, role="param", unavailable="optimised away"),
                Variable(name="r", type=6, role="result"),
            ],
        ),
        fn(
            "main.(*Cart).Checkout",
            [Variable(name="c", type=22, role="param", locations=everywhere(reg(0)))],
        ),
        fn("main.Max[go.shape.int]", []),
        fn("main.Max[go.shape.string]", []),
    ],
    types=TYPES,
)


def probes(*defs: dict[str, object]) -> object:
    return parse_probes(list(defs))


def generate(*defs: dict[str, object]):  # type: ignore[no-untyped-def]
    return generate_c(PROGRAM, probes(*defs), ir_hash="h")  # type: ignore[arg-type]


def test_register_pieces_land_on_their_fields_despite_padding() -> None:
    g = generate({"id": "w", "where": {"methodName": "main.weigh"}})
    (probe,) = g.layout.probes
    (m,) = probe.variables
    placed = [(p.offset, p.size, p.source) for p in m.pieces]
    assert placed == [
        (0, 2, "register"),
        (2, 1, "register"),
        (4, 4, "vector"),
        (8, 8, "register"),
        (16, 8, "register"),
        (24, 8, "vector"),
        (32, 8, "register"),
    ]
    # XMM pieces: zeros in the root, filled by decode from a floats record.
    assert (m.pieces[2].register, m.pieces[5].register) == (0, 1)
    assert probe.vector_registers == 0b11
    c = g.c_source
    assert "GODI_ROOT_REG(s, 0, regs->ax, 2); /* m */" in c
    assert "GODI_ROOT_REG(s, 2, regs->bx, 1); /* m */" in c
    assert "GODI_ROOT_ZERO(s, 4, 4);" in c
    assert "GODI_ROOT_REG(s, 8, regs->cx, 8); /* m */" in c
    assert "GODI_ROOT_REG(s, 32, regs->si, 8); /* m */" in c
    assert g.layout.probes[0].cfa_offset == 40 and g.layout.probes[0].pushed_bp


def test_stack_pieces_unavailable_variables_and_results() -> None:
    g = generate({"id": "w", "where": {"methodName": "main.walk"}})
    (probe,) = g.layout.probes
    names = [v.name for v in probe.variables]
    assert names == ["n", "xs", "gone"]  # results are not captured at entry
    n, xs, gone = probe.variables
    assert (n.root_offset, xs.root_offset, gone.root_offset) == (0, 8, None)
    assert gone.reason == "optimised away"
    assert xs.pieces[0].source == "stack" and xs.pieces[0].fail_bit == 0
    assert "GODI_ROOT_MEM(s, 8, cfa + (0), 24, 0); /* xs */" in g.c_source
    assert probe.root_size == 32


def test_capture_types_follow_pointers_strings_and_slices_recursively() -> None:
    g = generate({"id": "w", "where": {"methodName": "main.walk"}})
    table = {t.index: t for t in g.layout.types}
    assert table[BYTES_TYPE].size == 1 and table[BYTES_TYPE].ir_type is None
    root = table[g.layout.probes[0].root_type]
    assert [(s.offset, s.kind) for s in root.slots] == [(0, SLOT_POINTER), (8, SLOT_SLICE)]
    node = table[root.slots[0].target]
    assert node.ir_type == 20 and node.size == 24
    assert [(s.offset, s.kind) for s in node.slots] == [(0, SLOT_STRING), (16, SLOT_POINTER)]
    assert node.slots[0].target == BYTES_TYPE
    assert node.slots[1].target == node.index  # *Node inside Node: the same entry
    ints = table[root.slots[1].target]
    assert ints.ir_type == 6 and ints.slots == []


def test_method_names_from_type_and_generic_shapes() -> None:
    by_type = Probe(id="c", where=Where(type_name="main.Cart", method_name="Checkout"))
    assert method_candidates(by_type) == ["main.Cart.Checkout", "main.(*Cart).Checkout"]
    assert [f.name for f in resolve(PROGRAM, by_type)] == ["main.(*Cart).Checkout"]
    generic = Probe(id="m", where=Where(method_name="main.Max[...]"))
    assert [f.name for f in resolve(PROGRAM, generic)] == [
        "main.Max[go.shape.int]",
        "main.Max[go.shape.string]",
    ]
    g = generate({"id": "m", "where": {"methodName": "main.Max[...]"}})
    assert [p.function for p in g.layout.probes] == [
        "main.Max[go.shape.int]",
        "main.Max[go.shape.string]",
    ]
    assert [p.bpf_function for p in g.layout.probes] == ["godi_probe_0", "godi_probe_1"]


def test_per_probe_issues_and_no_usable_probe() -> None:
    g = generate(
        {"id": "ok", "where": {"methodName": "main.walk"}},
        {"id": "missing", "where": {"methodName": "main.nope"}},
        {"id": "span", "type": "SPAN_PROBE", "where": {"methodName": "main.walk"}},
        {"id": "line", "where": {"sourceFile": "main.go", "lines": ["3"]}},
    )
    kinds = {i.probe_id: i.kind for i in g.layout.issues}
    assert kinds == {
        "missing": "function_not_found",
        "span": "unsupported_probe_type",
        "line": "line_not_found",  # the hand-built IR has no line tables
    }
    with pytest.raises(NoUsableProbeError, match=r"main\.nope"):
        generate({"id": "missing", "where": {"methodName": "main.nope"}})


def inlined_copy(caller: str, lo: int, hi: int, cfa: int, register: int) -> InlinedInstance:
    """A copy inlined into ``caller`` at [lo, hi), its parameter n in ``register``."""
    n = Variable(
        name="n",
        type=6,
        role="param",
        locations=[LocationRange(low_pc=lo, high_pc=hi, pieces=[reg(register)])],
    )
    return InlinedInstance(
        caller=caller,
        entry_pc=lo,
        entry_cfa_offset=cfa,
        ranges=[(lo, hi)],
        call_file="main.go",
        call_line=7,
        variables=[n],
    )


def test_inlined_copies_are_probed_at_their_entry() -> None:
    """A function the compiler inlined is probed where each copy starts, in its
    caller's frame, with the copy's own locations of the parameters; an inlined call
    has no return instruction, so its entries wait for none."""
    tiny = InlinedFunction(
        name="main.tiny",
        origin=9,
        file="main.go",
        line=3,
        instances=[
            inlined_copy("main.main", 0x2010, 0x2018, 8, 3),
            inlined_copy("main.walk", 0x1010, 0x1018, 48, 0),
        ],
    )
    g = generate_c(
        msgspec.structs.replace(PROGRAM, inlined=[tiny]),
        probes({"id": "tiny", "where": {"methodName": "main.tiny"}, "captureSnapshot": True}),
        ir_hash="h",
    )
    assert not g.layout.issues
    got = [
        (p.function, p.kind, p.pc, p.cfa_offset, p.pushed_bp, p.has_return, p.file, p.line)
        for p in g.layout.probes
    ]
    assert got == [
        ("main.tiny", "entry", 0x1010, 48, True, False, "main.go", 3),
        ("main.tiny", "entry", 0x2010, 8, False, False, "main.go", 3),  # frameless caller
    ]
    assert all(not p.gated and p.want_stack for p in g.layout.probes)
    for p, register in zip(g.layout.probes, ("ax", "bx"), strict=True):
        (n,) = p.variables
        assert (n.name, n.role, n.size) == ("n", "argument", 8)
        body = g.c_source.split(f"int {p.bpf_function}(")[1].split("\n}")[0]
        assert f"regs->{register}" in body


def test_a_function_inlined_at_too_many_places_is_refused_or_probed_in_its_own_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stages.codegen

    monkeypatch.setattr(stages.codegen, "MAX_INLINED_COPIES", 1)

    def copies(name: str) -> InlinedFunction:
        return InlinedFunction(
            name=name,
            origin=9,
            file="main.go",
            line=3,
            instances=[
                InlinedInstance(
                    caller="main.walk",
                    entry_pc=pc,
                    entry_cfa_offset=16,
                    ranges=[(pc, pc + 4)],
                    call_file="main.go",
                    call_line=8,
                )
                for pc in (0x1020, 0x1030)
            ],
        )

    program = msgspec.structs.replace(PROGRAM, inlined=[copies("main.tiny"), copies("main.walk")])
    g = generate_c(
        program,
        probes(
            {"id": "tiny", "where": {"methodName": "main.tiny"}},
            {"id": "walk", "where": {"methodName": "main.walk"}},
        ),
        ir_hash="h",
    )
    (issue,) = g.layout.issues
    assert (issue.probe_id, issue.kind) == ("tiny", "too_many_copies")
    assert "main.tiny was inlined at 2 places, more than the 1 uprobes" in issue.message
    # main.walk has code of its own: that is probed, its copies are left out.
    assert {(p.probe_id, p.pc) for p in g.layout.probes if p.kind == "entry"} == {
        ("walk", PROGRAM.functions[0].entry_pc)
    }


def test_a_line_of_inlined_code_is_probed_in_each_copy_with_its_variables() -> None:
    """Line 5 of main.tiny runs in two copies inlined into main.outer: a uprobe in
    each, named after main.tiny, capturing that copy's parameter; line 20 of
    main.outer itself: one uprobe with main.outer's variables."""
    own = Variable(name="y", type=6, role="param", locations=everywhere(reg(3)))
    outer = msgspec.structs.replace(
        fn("main.outer", [own]),
        line_files=["app/main.go"],
        lines=[
            LineRow(0x1010, 0, 20, True),
            LineRow(0x1020, 0, 5, True),
            LineRow(0x1024, 0, 5, False),
            LineRow(0x1030, 0, 21, True),
            LineRow(0x1040, 0, 5, False),
            LineRow(0x1044, 0, 5, True),
            LineRow(0x1050, 0, 22, True),
        ],
    )
    tiny = InlinedFunction(
        name="main.tiny",
        origin=9,
        file="app/main.go",
        line=4,
        instances=[
            inlined_copy("main.outer", 0x1020, 0x1030, 0x28, 0),
            inlined_copy("main.outer", 0x1040, 0x1050, 0x28, 1),
        ],
    )
    program = msgspec.structs.replace(PROGRAM, functions=[outer], inlined=[tiny])
    g = generate_c(
        program,
        probes(
            {"id": "in", "where": {"sourceFile": "main.go", "lines": ["5"]}},
            {"id": "out", "where": {"sourceFile": "main.go", "lines": ["20"]}},
        ),
        ir_hash="h",
    )
    got = [
        (p.probe_id, p.function, p.kind, p.pc, [v.name for v in p.variables], p.file, p.line)
        for p in g.layout.probes
    ]
    assert got == [
        ("in", "main.tiny", "line", 0x1020, ["n"], "app/main.go", 5),
        ("in", "main.tiny", "line", 0x1044, ["n"], "app/main.go", 5),  # the statement start
        ("out", "main.outer", "line", 0x1010, ["y"], "app/main.go", 20),
    ]


def test_output_is_deterministic_and_self_contained() -> None:
    a = generate({"id": "w", "where": {"methodName": "main.walk"}})
    b = generate({"id": "w", "where": {"methodName": "main.walk"}})
    assert a.c_source == b.c_source and a.layout == b.layout
    assert '#include "godi.h"' not in a.c_source  # pasted in: BCC rewrites only the main file
    assert "/* ---- begin bpf/godi.h ---- */" in a.c_source
    assert "int godi_walk(struct pt_regs *ctx)" in a.c_source
    assert "int godi_dispatch(struct pt_regs *ctx)" in a.c_source
    assert "case 0:\n\t\tmet = godi_probe_0(&regs, s, cfa);" in a.c_source
    assert "int godi_probe_0_prog(struct pt_regs *ctx)" in a.c_source  # -DGODI_SEPARATE_PROBES


def test_a_huge_array_of_plain_values_is_not_walked_element_by_element() -> None:
    """A struct with a [1<<24]int before a pointer: one slot, found at once (every
    described type of a big binary is in a full IR, some with such arrays); an array
    of 1<<24 pointers is one SLOT_INLINE of its count, not a slot per element."""
    big = ArrayType(id=40, name="[16777216]int", size=8 << 24, elem=6, count=1 << 24)
    ptrs = ArrayType(id=41, name="[1<<24]*int", size=8 << 24, elem=42, count=1 << 24)
    pint = PointerType(id=42, name="*int", size=8, elem=6)
    holder = StructType(
        id=43,
        name="main.holder",
        size=(16 << 24) + 8,
        fields=[
            Field(name="table", offset=0, type=40),
            Field(name="next", offset=8 << 24, type=42),
            Field(name="ptrs", offset=(8 << 24) + 8, type=41),
        ],
    )
    table = CaptureTypes(TypeIndex([*TYPES, big, ptrs, pint, holder]))
    index = table.index_of(43)
    entry = table.table()[index]
    assert [(s.offset, s.kind, s.aux) for s in entry.slots] == [
        (8 << 24, SLOT_POINTER, 0),  # next: the plain array added nothing
        ((8 << 24) + 8, SLOT_INLINE, 1 << 24),
    ]
    elem = table.table()[entry.slots[1].target]
    assert elem.ir_type == 42 and elem.size == 8
    assert [(s.offset, s.kind) for s in elem.slots] == [(0, SLOT_POINTER)]
    assert not entry.slots_truncated


def test_references_past_one_entry_chain_on_and_small_arrays_stay_flat() -> None:
    """156 strings in a root (the signature fuzzer's function: [12]string fields and
    more, over GODI_MAX_SLOTS): every one is followed, the slots that do not fit in
    one entry continuing in a ``more`` entry (SLOT_MORE); a [3]string stays three
    slots, a [12]string of 12 <= INLINE_ARRAY_OVER references too."""
    s12 = ArrayType(id=40, name="[12]string", size=16 * 12, elem=4, count=12)
    s3 = ArrayType(id=41, name="[3]string", size=48, elem=4, count=3)
    types = TypeIndex([*TYPES, s12, s3])
    table = CaptureTypes(types)
    members = [(40, i * 192) for i in range(13)]  # 156 strings
    root = table.add_root(13 * 192, members)
    entries = table.table()
    first = entries[root]
    assert len(first.slots) == MAX_SLOTS
    assert first.slots[-1].kind == SLOT_MORE and first.slots[-1].offset == 0
    more = entries[first.slots[-1].target]
    assert more.role == "more" and more.ir_type is None
    chained = first.slots[:-1] + more.slots
    assert [(s.offset, s.kind) for s in chained] == [(16 * i, SLOT_STRING) for i in range(156)]
    assert not first.slots_truncated
    index = table.index_of(41)
    three = table.table()[index]
    assert [(s.offset, s.kind) for s in three.slots] == [
        (0, SLOT_STRING),
        (16, SLOT_STRING),
        (32, SLOT_STRING),
    ]
    assert INLINE_ARRAY_OVER >= 12


def test_slot_limit_matches_the_bpf_header() -> None:
    text = (bpf_dir() / "godi.h").read_text()
    m = re.search(r"#define GODI_MAX_SLOTS (\d+)", text)
    assert m and int(m.group(1)) == MAX_SLOTS


def test_root_limit_matches_the_bpf_header() -> None:
    text = (bpf_dir() / "godi.h").read_text()
    m = re.search(r"#define GODI_MAX_ROOT (\d+)", text)
    assert m and int(m.group(1)) == MAX_ROOT


def test_redacted_values_are_never_read() -> None:
    secret = Variable(name="password", type=4, role="param", locations=everywhere(reg(0), reg(3)))
    node = Variable(name="n", type=22, role="param", locations=everywhere(reg(2)))
    tokened = StructType(
        id=40,
        name="main.Creds",
        size=24,
        fields=[Field(name="User", offset=0, type=4), Field(name="Token", offset=16, type=22)],
    )
    program = msgspec.structs.replace(
        PROGRAM,
        types=[*TYPES, tokened],
        functions=[
            fn(
                "main.login",
                [
                    secret,
                    node,
                    Variable(
                        name="c",
                        type=40,
                        role="param",
                        locations=everywhere(CfaPiece(offset=0, size=24)),
                    ),
                ],
            ),
        ],
    )
    g = generate_c(
        program, parse_probes([{"id": "l", "where": {"methodName": "main.login"}}]), ir_hash="h"
    )
    pw, n, c = g.layout.probes[0].variables
    assert pw.root_offset is None and pw.reason == "redacted"
    assert "/* password */" not in g.c_source
    assert n.root_offset is not None
    table = {t.index: t for t in g.layout.types}
    root = table[g.layout.probes[0].root_type]
    # c.User is followed; c.Token (a redacted field name) is not.
    assert [
        (s.offset - c.root_offset, s.kind) for s in root.slots if s.offset >= c.root_offset
    ] == [(0, SLOT_STRING)]
