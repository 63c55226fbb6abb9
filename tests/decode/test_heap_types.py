"""Interface values of types reflect made at run time (``decode.heaptypes``): the
walker copies their descriptors from the heap (``SLOT_RTYPE``: capture types of
roles ``rtype``, ``rfield``, ``rname``); decode names the type from the copies as
``%T`` spells it, the same in the Python and the C renderer (byte for byte), and
says why the value is not shown. Descriptors not all copied leave the type
``missing type information``, never a wrong name."""

from __future__ import annotations

import struct

import msgspec
import pytest
from decode_helpers import Blk, World, u64
from test_native_runtime import D_INT, D_POINT, D_STRING, value, world

from stages.decode import native
from stages.layout import RFIELD_SIZE, RNAME_COPY, RTYPE_COPY, BpfType
from stages.rtypes import go_quote
from stages.spec import Capture

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension is not built")

TYPES_START, TYPES_END = 0x1000, 0xB000  # test_native_runtime's descriptors lie there
KIND_ARRAY, KIND_CHAN, KIND_FUNC, KIND_MAP = 17, 18, 19, 21
KIND_POINTER, KIND_SLICE, KIND_STRUCT = 22, 23, 25


def heap_world(go_version: str = "go1.23.9", limits: Capture | None = None) -> World:
    w = world(limits)
    n = len(w.layout.types)
    extra = [
        BpfType(index=n, ir_type=None, size=RTYPE_COPY, role="rtype"),
        BpfType(index=n + 1, ir_type=None, size=RFIELD_SIZE, role="rfield"),
        BpfType(index=n + 2, ir_type=None, size=RNAME_COPY, role="rname"),
    ]
    w.layout = msgspec.structs.replace(
        w.layout, types=[*w.layout.types, *extra], types_start=TYPES_START, types_end=TYPES_END
    )
    binary = msgspec.structs.replace(w.program.binary, go_version=go_version)
    w.program = msgspec.structs.replace(w.program, binary=binary)
    return w


def ix(w: World, role: str) -> int:
    return next(t.index for t in w.layout.types if t.role == role)


def desc(kind: int, *words: int, size: int = 8, tflag: int = 0) -> bytes:
    """A descriptor as reflect makes one: abi.Type then the kind's words."""
    head = struct.pack("<QQIBBBBQQii", size, 0, 0, tflag, 8, 8, kind, 0, 0, -7, 0)
    return (head + b"".join(u64(x) for x in words)).ljust(RTYPE_COPY, b"\0")


def name(text: str, tag: str = "", embedded: bool = False) -> bytes:
    """abi.Name: flags, varint length, bytes, then the tag's."""
    raw, traw = text.encode(), tag.encode()
    flags = 1 | (2 if tag else 0) | (8 if embedded else 0)
    out = bytes([flags, len(raw)]) + raw + (bytes([len(traw)]) + traw if tag else b"")
    return out.ljust(RNAME_COPY, b"\0")


def field(name_at: int, typ: int, offset: int) -> bytes:
    return u64(name_at) + u64(typ) + u64(offset)


def holding(w: World, descriptor: int, blocks: list[Blk], **kw: object) -> dict[str, object]:
    """The interface field E (at 16) of the root main.Holder, holding a value of
    ``descriptor``."""
    root = bytes(16) + u64(descriptor) + u64(0xC000300000) + bytes(32)
    v = value(w, root, blocks, **kw)
    return v["fields"]["E"]  # type: ignore[index, no-any-return]


def data(text: str) -> dict[str, object]:
    return {
        "type": "interface {}",
        "fields": {"data": {"type": text, "notCapturedReason": "unimplemented"}},
    }


S, P, M, A, C, F, ST, FL = (0xC000010000 + 0x100 * i for i in range(8))
N1, N2, N3 = 0xC000020000, 0xC000020100, 0xC000020200


def struct_blocks(w: World) -> list[Blk]:
    """struct { A int; B string "json:\\"b\\""; main.Point } at ST."""
    fields = field(N1, D_INT, 0) + field(N2, D_STRING, 8) + field(N3, D_POINT, 24)
    return [
        Blk(ST, ix(w, "rtype"), desc(KIND_STRUCT, 0, FL, 3, 3, size=32)),
        Blk(FL, ix(w, "rfield"), fields),
        Blk(N1, ix(w, "rname"), name("A")),
        Blk(N2, ix(w, "rname"), name("B", tag='json:"b"')),
        Blk(N3, ix(w, "rname"), name("Point", embedded=True)),
    ]


STRUCT = 'struct { A int; B string "json:\\"b\\""; main.Point }'


def test_slices_pointers_arrays_maps_chans_are_named() -> None:
    w = heap_world()
    rt = ix(w, "rtype")
    assert holding(w, S, [Blk(S, rt, desc(KIND_SLICE, D_INT))]) == data("[]int")
    # [3]*[]int: a heap array of a heap pointer of a heap slice
    blocks = [
        Blk(A, rt, desc(KIND_ARRAY, P, 0, 3)),
        Blk(P, rt, desc(KIND_POINTER, S)),
        Blk(S, rt, desc(KIND_SLICE, D_INT)),
    ]
    assert holding(w, A, blocks) == data("[3]*[]int")
    blocks = [Blk(M, rt, desc(KIND_MAP, D_STRING, S)), Blk(S, rt, desc(KIND_SLICE, D_INT))]
    assert holding(w, M, blocks) == data("map[string][]int")
    for direction, text in ((1, "<-chan int"), (2, "chan<- int"), (3, "chan int")):
        assert holding(w, C, [Blk(C, rt, desc(KIND_CHAN, D_INT, direction))]) == data(text)
    # chan of a receive-only chan: parenthesised, as reflect.ChanOf spells it
    blocks = [Blk(C, rt, desc(KIND_CHAN, P, 3)), Blk(P, rt, desc(KIND_CHAN, D_INT, 1))]
    assert holding(w, C, blocks) == data("chan (<-chan int)")


def test_structs_with_tags_and_embedded_fields() -> None:
    w = heap_world()
    assert holding(w, ST, struct_blocks(w)) == data(STRUCT)
    blocks = [*struct_blocks(w), Blk(S, ix(w, "rtype"), desc(KIND_SLICE, ST))]
    assert holding(w, S, blocks) == data("[]" + STRUCT)
    # up to Go 1.22, reflect.StructOf spells an embedded field's name too
    old = heap_world("go1.22.10")
    assert holding(old, ST, struct_blocks(old)) == data(STRUCT.replace("; main", "; Point main"))
    empty = [Blk(ST, ix(w, "rtype"), desc(KIND_STRUCT, 0, 0, 0, 0, size=0))]
    assert holding(w, ST, empty) == data("struct {}")


def test_funcs_with_their_first_parameters() -> None:
    w = heap_world()
    rt = ix(w, "rtype")
    counts = 2 | (1 << 16) | (0x8000 << 16)  # two in, one out, variadic
    blocks = [
        Blk(F, rt, desc(KIND_FUNC, counts, D_INT, S, D_STRING)),
        Blk(S, rt, desc(KIND_SLICE, D_STRING)),
    ]
    assert holding(w, F, blocks) == data("func(int, ...string) string")
    counts = 1 | (2 << 16)
    blocks = [Blk(F, rt, desc(KIND_FUNC, counts, D_INT, D_STRING, D_INT))]
    assert holding(w, F, blocks) == data("func(int) (string, int)")


MISSING = {"type": "interface {}", "notCapturedReason": "missing type information"}


def test_what_was_not_copied_is_missing_type_information() -> None:
    w = heap_world()
    rt = ix(w, "rtype")
    # the descriptor itself, an element's, a field's name, the fields
    assert holding(w, S, []) == MISSING
    assert holding(w, A, [Blk(A, rt, desc(KIND_ARRAY, P, 0, 3))]) == MISSING
    blocks = [b for b in struct_blocks(w) if b.addr != N2]
    assert holding(w, ST, blocks) == MISSING
    blocks = [b for b in struct_blocks(w) if b.addr != FL]
    assert holding(w, ST, blocks) == MISSING
    # more fields than were copied (RFIELDS_MAX), a func's fourth parameter
    blocks = [*struct_blocks(w)[1:], Blk(ST, rt, desc(KIND_STRUCT, 0, FL, 4, 4, size=40))]
    assert holding(w, ST, blocks) == MISSING
    blocks = [Blk(F, rt, desc(KIND_FUNC, 4, D_INT, D_INT, D_INT))]
    assert holding(w, F, blocks) == MISSING
    # a read that failed, a block cut at a page the program never touched
    assert holding(w, S, [Blk(S, rt, b"", count=0, flags=1)]) == MISSING
    cut = Blk(S, rt, desc(KIND_SLICE, D_INT)[:40], count=0, flags=4)
    assert holding(w, S, [cut]) == MISSING
    # a named type (reflect makes none) is not named from its parts
    assert holding(w, S, [Blk(S, rt, desc(KIND_SLICE, D_INT, tflag=4))]) == MISSING


def test_a_type_word_inside_the_binarys_types_is_never_read_as_a_heap_one() -> None:
    w = heap_world()
    unknown = TYPES_START + 0x40  # no IR type: even with a block there
    assert holding(w, unknown, [Blk(unknown, ix(w, "rtype"), desc(KIND_SLICE, D_INT))]) == MISSING


def test_past_the_depth_it_says_depth() -> None:
    w = heap_world(limits=Capture(max_reference_depth=0))
    got = holding(w, S, [Blk(S, ix(w, "rtype"), desc(KIND_SLICE, D_INT))])
    assert got == {"type": "interface {}", "notCapturedReason": "depth"}


def test_a_layout_without_heap_descriptors_says_missing_type_information() -> None:
    w = world()
    assert w.layout.types_end == 0
    root = bytes(16) + u64(S) + u64(0xC000300000) + bytes(32)
    assert value(w, root, [])["fields"]["E"] == MISSING  # type: ignore[index]


def test_go_quote_is_strconv_quote() -> None:
    assert go_quote('json:"a"\n\t\\ é\x01\x7f') == '"json:\\"a\\"\\n\\t\\\\ é\\x01\\x7f"'
    assert go_quote("\u2028") == '"\\u2028"'
