"""Runtime type descriptors map to IR types that agree with them.

Each descriptor (``internal/abi.Type``: size at 0, kind byte at 23, name offset
at 40) is read from the binary itself and compared with the IR type its address
maps to.
"""

from __future__ import annotations

from stages.ir import (
    ArrayType,
    BaseType,
    ChanType,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    Program,
    SliceType,
    StringType,
    StructType,
    TypeIndex,
    UnsafePointerType,
)

# reflect.Kind -> the IR class a type of that kind resolves to.
KIND_CLASSES: dict[int, type] = {
    **{kind: BaseType for kind in range(1, 17)},
    17: ArrayType,
    18: ChanType,
    19: FuncType,
    20: InterfaceType,
    21: MapType,
    22: PointerType,
    23: SliceType,
    24: StringType,
    25: StructType,
    26: UnsafePointerType,
}
_KIND_MASK = 0x1F
_TFLAG_EXTRA_STAR = 2


def descriptor_name(image: object, address: int) -> str:
    """The name a descriptor records for its type (``abi.Type.Str``)."""
    read = image.read  # type: ignore[attr-defined]
    types = image.symbols["runtime.types"]  # type: ignore[attr-defined]
    head = read(address, 48)
    offset = int.from_bytes(head[40:44], "little", signed=True)
    data = read(types + offset, 4096)
    length, shift, i = 0, 0, 1
    while True:
        byte = data[i]
        i += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    name = data[i : i + length].decode()
    return name[1:] if head[20] & _TFLAG_EXTRA_STAR else name


def test_every_descriptor_agrees(types_whole_ir: Program, types_image: object) -> None:
    types = TypeIndex(types_whole_ir.types)
    assert len(types_whole_ir.runtime_types) > 300
    problems = []
    named = 0
    for rt in types_whole_ir.runtime_types:
        t = types[rt.type]
        assert t.runtime_type == rt.address
        resolved = types.resolve(rt.type)
        head = types_image.read(rt.address, 48)  # type: ignore[attr-defined]
        size, kind = int.from_bytes(head[0:8], "little"), head[23] & _KIND_MASK
        if size != resolved.size:
            problems.append(f"{t.name}: descriptor size {size}, IR {resolved.size}")
        if not isinstance(resolved, KIND_CLASSES[kind]):
            problems.append(f"{t.name}: descriptor kind {kind}, IR {type(resolved).__name__}")
        # DWARF qualifies names with import paths and field names with packages,
        # descriptors do not: compare names where neither applies.
        if not any(c in t.name for c in "/{·") and not t.name.startswith("noalg."):
            named += 1
            recorded = descriptor_name(types_image, rt.address)
            if recorded != t.name:
                problems.append(f"{t.name}: descriptor says {recorded}")
    assert not problems, "\n".join(problems[:20])
    assert named > 200


def test_runtime_types_sorted_and_unique(types_whole_ir: Program, types_ir: Program) -> None:
    for program in (types_whole_ir, types_ir):
        addresses = [rt.address for rt in program.runtime_types]
        assert addresses == sorted(set(addresses))
        ids = {t.id for t in program.types}
        assert all(rt.type in ids for rt in program.runtime_types)


def test_scoped_ir_maps_its_own_types(types_ir: Program) -> None:
    mapped = {rt.type for rt in types_ir.runtime_types}
    with_descriptor = {t.id for t in types_ir.types if t.runtime_type}
    assert mapped == with_descriptor
    names = {t.name for t in types_ir.types if t.id in mapped}
    assert {"main.Base", "error", "map[string]int", "*main.Base", "uintptr"} <= names


def test_dynamic_types_of_interfaces_are_mapped(types_whole_ir: Program) -> None:
    """Types only ever seen inside an interface still have a mapping in the whole IR."""
    names = {TypeIndex(types_whole_ir.types)[rt.type].name for rt in types_whole_ir.runtime_types}
    assert {"main.Celsius", "*main.Base", "*errors.errorString", "int"} <= names
