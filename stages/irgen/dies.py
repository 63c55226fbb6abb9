"""Decoding debugging information entries straight from .debug_info bytes.

A deliberately small DWARF 2-5 decoder: abbreviation tables, unit headers and
entries, with attribute values normalised as irgen uses them (references made
absolute, blocks as ``bytes``, strings as ``str``, location-list and range-list
attributes as offsets). It exists because a generic parser spends most of its time
building objects irgen never looks at; this one decodes an entry in a single
pass over its abbreviation and can skip a whole subtree by sizes alone.

Values that need another section (``DW_FORM_strp``, ``DW_FORM_addrx``...) are
resolved through the ``Sections`` the caller provides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from elftools.dwarf.enums import ENUM_DW_AT, ENUM_DW_TAG

# DW_FORM_* codes (DWARF 5, section 7.5.6).
F_ADDR = 0x01
F_BLOCK2 = 0x03
F_BLOCK4 = 0x04
F_DATA2 = 0x05
F_DATA4 = 0x06
F_DATA8 = 0x07
F_STRING = 0x08
F_BLOCK = 0x09
F_BLOCK1 = 0x0A
F_DATA1 = 0x0B
F_FLAG = 0x0C
F_SDATA = 0x0D
F_STRP = 0x0E
F_UDATA = 0x0F
F_REF_ADDR = 0x10
F_REF1 = 0x11
F_REF2 = 0x12
F_REF4 = 0x13
F_REF8 = 0x14
F_REF_UDATA = 0x15
F_INDIRECT = 0x16
F_SEC_OFFSET = 0x17
F_EXPRLOC = 0x18
F_FLAG_PRESENT = 0x19
F_STRX = 0x1A
F_ADDRX = 0x1B
F_REF_SUP4 = 0x1C
F_STRP_SUP = 0x1D
F_DATA16 = 0x1E
F_LINE_STRP = 0x1F
F_REF_SIG8 = 0x20
F_IMPLICIT_CONST = 0x21
F_LOCLISTX = 0x22
F_RNGLISTX = 0x23
F_REF_SUP8 = 0x24
F_STRX1, F_STRX2, F_STRX3, F_STRX4 = 0x25, 0x26, 0x27, 0x28
F_ADDRX1, F_ADDRX2, F_ADDRX3, F_ADDRX4 = 0x29, 0x2A, 0x2B, 0x2C

# Attribute and tag names by code, as DWARF (and pyelftools) spell them, with Go's
# extensions (src/cmd/internal/dwarf/dwarf.go) under the short names irgen uses.
ATTRIBUTES: dict[int, str] = {
    code: name for name, code in ENUM_DW_AT.items() if isinstance(code, int) and name[0] != "_"
}
ATTRIBUTES.update(
    {
        0x2900: "go_kind",
        0x2901: "go_key",
        0x2902: "go_elem",
        0x2903: "go_embedded_field",
        0x2904: "go_runtime_type",
        0x2905: "go_package_name",
        0x2906: "go_dict_index",
        0x2907: "go_closure_offset",
    }
)
TAGS: dict[int, str] = {
    code: name for name, code in ENUM_DW_TAG.items() if isinstance(code, int) and name[0] != "_"
}
# Attributes whose section-offset or list-index value points at a location list,
# and at a range list.
_LOCATION_ATTRIBUTES = frozenset({0x02, 0x40})
_RANGES_ATTRIBUTE = 0x55
_HIGH_PC = 0x12

_FIXED_SIZES = {
    F_DATA1: 1,
    F_REF1: 1,
    F_FLAG: 1,
    F_STRX1: 1,
    F_ADDRX1: 1,
    F_DATA2: 2,
    F_REF2: 2,
    F_STRX2: 2,
    F_ADDRX2: 2,
    F_STRX3: 3,
    F_ADDRX3: 3,
    F_DATA4: 4,
    F_REF4: 4,
    F_REF_SUP4: 4,
    F_STRX4: 4,
    F_ADDRX4: 4,
    F_DATA8: 8,
    F_REF8: 8,
    F_REF_SIG8: 8,
    F_REF_SUP8: 8,
    F_DATA16: 16,
    F_FLAG_PRESENT: 0,
    F_IMPLICIT_CONST: 0,
}
_OFFSET_FORMS = frozenset({F_REF_ADDR, F_SEC_OFFSET, F_STRP, F_LINE_STRP, F_STRP_SUP})
_ULEB_FORMS = frozenset({F_UDATA, F_REF_UDATA, F_STRX, F_ADDRX, F_LOCLISTX, F_RNGLISTX})
_ADDRX_FORMS = frozenset({F_ADDRX, F_ADDRX1, F_ADDRX2, F_ADDRX3, F_ADDRX4})
_STRX_FORMS = frozenset({F_STRX, F_STRX1, F_STRX2, F_STRX3, F_STRX4})
_CU_REF_FORMS = frozenset({F_REF1, F_REF2, F_REF4, F_REF8, F_REF_UDATA})
_CONSTANT_FORMS = frozenset({F_DATA1, F_DATA2, F_DATA4, F_DATA8, F_UDATA, F_SDATA})

AttrValue = int | str | bytes | bool


class DwarfFormatError(Exception):
    """The DWARF bytes do not decode: truncated, or a form irgen does not know."""


class LocListRef(NamedTuple):
    """A location given as an offset into .debug_loc/.debug_loclists."""

    offset: int


def uleb(data: bytes, pos: int) -> tuple[int, int]:
    """A ULEB128 at ``pos``: (value, next position). IndexError when truncated."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    value = byte & 0x7F
    shift = 7
    pos += 1
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def sleb(data: bytes, pos: int) -> tuple[int, int]:
    """A SLEB128 at ``pos``: (value, next position)."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                value -= 1 << shift
            return value, pos


# Decodes the attributes of one entry: (info, position after the code, unit,
# sections) -> (attributes, position after them).
Decoder = Callable[[bytes, int, "UnitHeader", "Sections"], tuple[dict[str, AttrValue], int]]


@dataclass(eq=False)
class Abbrev:
    """One abbreviation: the tag and the (attribute, form, implicit value) list.

    ``decoder`` is compiled on first use (see ``compile_decoder``).
    """

    tag: str
    has_children: bool
    specs: tuple[tuple[int, str, int, int], ...]  # (code, name, form, implicit const)
    # Total size of the attributes when every form has a fixed size, else -1.
    fixed_size: int
    high_pc_relative: bool
    name_first: bool
    decoder: Decoder | None = field(default=None, repr=False)


def parse_abbrevs(data: bytes, pos: int, offset_size: int, address_size: int) -> dict[int, Abbrev]:
    """The abbreviation table at ``pos`` of .debug_abbrev."""
    table: dict[int, Abbrev] = {}
    while True:
        code, pos = uleb(data, pos)
        if code == 0:
            return table
        tag_code, pos = uleb(data, pos)
        has_children = data[pos] != 0
        pos += 1
        specs: list[tuple[int, str, int, int]] = []
        fixed = 0
        relative_high = False
        while True:
            attr, pos = uleb(data, pos)
            form, pos = uleb(data, pos)
            implicit = 0
            if form == F_IMPLICIT_CONST:
                implicit, pos = sleb(data, pos)
            if attr == 0 and form == 0:
                break
            specs.append((attr, ATTRIBUTES.get(attr) or f"DW_AT_0x{attr:x}", form, implicit))
            size = _form_size(form, offset_size, address_size)
            fixed = fixed + size if fixed >= 0 and size >= 0 else -1
            if attr == _HIGH_PC and form in _CONSTANT_FORMS:
                relative_high = True
        table[code] = Abbrev(
            tag=TAGS.get(tag_code) or f"DW_TAG_0x{tag_code:x}",
            has_children=has_children,
            specs=tuple(specs),
            fixed_size=fixed,
            high_pc_relative=relative_high,
            name_first=bool(specs) and specs[0][0] == 0x03 and specs[0][2] == F_STRING,
        )


def _form_size(form: int, offset_size: int, address_size: int) -> int:
    """The size of a fixed-size form, -1 for a variable-size one."""
    size = _FIXED_SIZES.get(form)
    if size is not None:
        return size
    if form == F_ADDR:
        return address_size
    if form in _OFFSET_FORMS:
        return offset_size
    return -1


@dataclass(eq=False)
class UnitHeader:
    """What decoding a unit's entries needs: sizes, version and abbreviations."""

    offset: int
    version: int
    offset_size: int
    address_size: int
    die_offset: int
    end: int
    abbrevs: dict[int, Abbrev] = field(repr=False)
    # From the top entry (filled in by the reader): bases for indexed forms.
    addr_base: int = 8
    str_offsets_base: int = 8
    loclists_base: int = 0
    rnglists_base: int = 0


def parse_unit_header(
    info: bytes, offset: int, abbrev_tables: Callable[[int, int, int, int], dict[int, Abbrev]]
) -> UnitHeader:
    """The unit header at ``offset`` of .debug_info; ``abbrev_tables(offset,
    offset_size, address_size, version)`` returns the abbreviation table at an
    offset (for units of those sizes and that version)."""
    length = int.from_bytes(info[offset : offset + 4], "little")
    pos = offset + 4
    offset_size = 4
    if length == 0xFFFFFFFF:
        length = int.from_bytes(info[pos : pos + 8], "little")
        pos += 8
        offset_size = 8
    end = pos + length
    version = int.from_bytes(info[pos : pos + 2], "little")
    pos += 2
    if version >= 5:
        unit_type = info[pos]
        address_size = info[pos + 1]
        pos += 2
        abbrev_offset = int.from_bytes(info[pos : pos + offset_size], "little")
        pos += offset_size
        if unit_type in (0x02, 0x06):  # type units: signature and type offset
            pos += 8 + offset_size
        elif unit_type in (0x04, 0x05):  # skeleton and split units: DWO id
            pos += 8
    else:
        abbrev_offset = int.from_bytes(info[pos : pos + offset_size], "little")
        pos += offset_size
        address_size = info[pos]
        pos += 1
    if version < 2 or version > 5 or end > len(info):
        raise DwarfFormatError(f"bad unit header at .debug_info offset {offset:#x}")
    return UnitHeader(
        offset=offset,
        version=version,
        offset_size=offset_size,
        address_size=address_size,
        die_offset=pos,
        end=end,
        abbrevs=abbrev_tables(abbrev_offset, offset_size, address_size, version),
    )


class Sections(NamedTuple):
    """Section bytes indexed forms need, fetched only when first used."""

    string: Callable[[int], str]  # .debug_str at an offset
    line_string: Callable[[int], str]  # .debug_line_str at an offset
    address: Callable[[UnitHeader, int], int]  # .debug_addr entry of a unit
    string_index: Callable[[UnitHeader, int], str]  # .debug_str_offsets entry
    list_index: Callable[[UnitHeader, int, bool], int]  # loclistx/rnglistx -> offset


def decode_entry(
    info: bytes, pos: int, unit: UnitHeader, sections: Sections
) -> tuple[Abbrev | None, dict[str, AttrValue], int]:
    """The entry at ``pos``: its abbreviation (None for a null entry), its
    attributes, and the position after them (its first child, if any).

    Raises ``DwarfFormatError`` (or ``IndexError`` when truncated).
    """
    code = info[pos]
    if code < 0x80:
        pos += 1
    else:
        code, pos = uleb(info, pos)
    if code == 0:
        return None, {}, pos
    abbrev = unit.abbrevs.get(code)
    if abbrev is None:
        raise DwarfFormatError(f"unknown abbreviation code {code} at {pos:#x}")
    decoder = abbrev.decoder
    if decoder is None:
        decoder = abbrev.decoder = compile_decoder(abbrev, unit) or _generic_decoder(abbrev)
    attrs, pos = decoder(info, pos, unit, sections)
    return abbrev, attrs, pos


def _generic_decoder(abbrev: Abbrev) -> Decoder:
    def decode(
        info: bytes, pos: int, unit: UnitHeader, sections: Sections
    ) -> tuple[dict[str, AttrValue], int]:
        return _decode_attributes(abbrev, info, pos, unit, sections)

    return decode


def _decode_attributes(
    abbrev: Abbrev, info: bytes, pos: int, unit: UnitHeader, sections: Sections
) -> tuple[dict[str, AttrValue], int]:
    """Any entry's attributes, one form at a time (the reference decoder)."""
    attrs: dict[str, AttrValue] = {}
    offset_size = unit.offset_size
    value: AttrValue
    for attr, name, form, implicit in abbrev.specs:
        if form == F_STRING:
            end = info.index(b"\0", pos)
            value = info[pos:end].decode("utf-8", "replace")
            pos = end + 1
        elif form == F_REF_ADDR:
            value = int.from_bytes(info[pos : pos + offset_size], "little")
            pos += offset_size
        elif form in (F_DATA1, F_FLAG):
            value = info[pos]
            pos += 1
            if form == F_FLAG:
                value = value != 0
        elif form == F_UDATA:
            value, pos = uleb(info, pos)
        elif form == F_SDATA:
            value, pos = sleb(info, pos)
        elif form in (F_EXPRLOC, F_BLOCK1):
            if form == F_EXPRLOC:
                size, pos = uleb(info, pos)
            else:
                size = info[pos]
                pos += 1
            value = info[pos : pos + size]
            pos += size
        elif form == F_ADDR:
            size = unit.address_size
            value = int.from_bytes(info[pos : pos + size], "little")
            pos += size
        elif form == F_SEC_OFFSET:
            value = int.from_bytes(info[pos : pos + offset_size], "little")
            pos += offset_size
            if attr in _LOCATION_ATTRIBUTES:
                value = LocListRef(value)  # type: ignore[assignment]
        elif form == F_FLAG_PRESENT:
            value = True
        elif form in _CU_REF_FORMS:
            if form == F_REF_UDATA:
                value, pos = uleb(info, pos)
            else:
                size = _FIXED_SIZES[form]
                value = int.from_bytes(info[pos : pos + size], "little")
                pos += size
            value += unit.offset
        elif form in (F_DATA2, F_DATA4, F_DATA8, F_DATA16, F_REF_SIG8, F_REF_SUP4, F_REF_SUP8):
            size = _FIXED_SIZES[form]
            value = int.from_bytes(info[pos : pos + size], "little")
            pos += size
            if attr in _LOCATION_ATTRIBUTES and unit.version < 4 and form in (F_DATA4, F_DATA8):
                value = LocListRef(value)  # type: ignore[assignment]
        elif form in _ADDRX_FORMS:
            if form == F_ADDRX:
                index, pos = uleb(info, pos)
            else:
                size = _FIXED_SIZES[form]
                index = int.from_bytes(info[pos : pos + size], "little")
                pos += size
            value = sections.address(unit, index)
        elif form in (F_STRP, F_LINE_STRP):
            where = int.from_bytes(info[pos : pos + offset_size], "little")
            pos += offset_size
            value = sections.string(where) if form == F_STRP else sections.line_string(where)
        elif form in _STRX_FORMS:
            if form == F_STRX:
                index, pos = uleb(info, pos)
            else:
                size = _FIXED_SIZES[form]
                index = int.from_bytes(info[pos : pos + size], "little")
                pos += size
            value = sections.string_index(unit, index)
        elif form in (F_BLOCK2, F_BLOCK4, F_BLOCK):
            if form == F_BLOCK:
                size, pos = uleb(info, pos)
            else:
                width = 2 if form == F_BLOCK2 else 4
                size = int.from_bytes(info[pos : pos + width], "little")
                pos += width
            value = info[pos : pos + size]
            pos += size
        elif form == F_IMPLICIT_CONST:
            value = implicit
        elif form in (F_LOCLISTX, F_RNGLISTX):
            index, pos = uleb(info, pos)
            value = sections.list_index(unit, index, form == F_LOCLISTX)
            if attr in _LOCATION_ATTRIBUTES:
                value = LocListRef(value)  # type: ignore[assignment]
        elif form == F_STRP_SUP:
            pos += offset_size
            continue
        elif form == F_INDIRECT:
            raise DwarfFormatError(f"DW_FORM_indirect at {pos:#x} is not supported")
        else:
            raise DwarfFormatError(f"unknown attribute form {form:#x} at {pos:#x}")
        attrs[name] = value
    if abbrev.high_pc_relative:
        low = attrs.get("DW_AT_low_pc")
        high = attrs.get("DW_AT_high_pc")
        if isinstance(low, int) and isinstance(high, int):
            attrs["DW_AT_high_pc"] = low + high
    return attrs, pos


def compile_decoder(abbrev: Abbrev, unit: UnitHeader) -> Decoder | None:
    """A decoder specialised to one abbreviation, or None for an unusual form.

    The generic decoder spends most of its time choosing what to do for each
    attribute; an abbreviation fixes that choice for every entry using it, so
    its decoder is generated as straight-line code once (the technique of
    ``collections.namedtuple``) and reused for the hundreds of thousands of
    entries of a big binary. Sizes are the unit's (abbreviation tables are
    cached per offset size, address size and version).
    """
    lines: list[str] = []
    names: list[tuple[str, str]] = []
    offset, address = unit.offset_size, unit.address_size
    index = {attr: k for k, (attr, _, _, _) in enumerate(abbrev.specs)}
    for k, (attr, name, form, implicit) in enumerate(abbrev.specs):
        v = f"v{k}"
        location = attr in _LOCATION_ATTRIBUTES
        fixed = _FIXED_SIZES.get(form)
        if form == F_STRING:
            lines += [
                "e = info.index(b'\\x00', pos)",
                f"{v} = info[pos:e].decode('utf-8', 'replace')",
                "pos = e + 1",
            ]
        elif form == F_DATA1:
            lines += [f"{v} = info[pos]", "pos += 1"]
        elif form == F_FLAG:
            lines += [f"{v} = info[pos] != 0", "pos += 1"]
        elif form in (F_UDATA, F_REF_UDATA):
            lines += [
                "b = info[pos]",
                "if b < 0x80:",
                f"    {v} = b",
                "    pos += 1",
                "else:",
                f"    {v}, pos = uleb(info, pos)",
            ]
            if form == F_REF_UDATA:
                lines.append(f"{v} += unit.offset")
        elif form == F_SDATA:
            lines.append(f"{v}, pos = sleb(info, pos)")
        elif (
            form in (F_REF_ADDR, F_SEC_OFFSET, F_ADDR)
            or (fixed and form in (F_DATA2, F_DATA4, F_DATA8, F_DATA16, F_REF_SIG8, F_REF_SUP4))
            or form == F_REF_SUP8
        ):
            size = address if form == F_ADDR else offset if form in _OFFSET_FORMS else fixed
            lines += [f"{v} = int.from_bytes(info[pos:pos + {size}], 'little')", f"pos += {size}"]
            if location and (
                form == F_SEC_OFFSET or (unit.version < 4 and form in (F_DATA4, F_DATA8))
            ):
                lines.append(f"{v} = LocListRef({v})")
        elif form in _CU_REF_FORMS:
            lines += [
                f"{v} = int.from_bytes(info[pos:pos + {fixed}], 'little') + unit.offset",
                f"pos += {fixed}",
            ]
        elif form in (F_EXPRLOC, F_BLOCK):
            lines += [
                "n = info[pos]",
                "if n < 0x80:",
                "    pos += 1",
                "else:",
                "    n, pos = uleb(info, pos)",
                f"{v} = info[pos:pos + n]",
                "pos += n",
            ]
        elif form == F_BLOCK1:
            lines += ["n = info[pos]", f"{v} = info[pos + 1:pos + 1 + n]", "pos += 1 + n"]
        elif form in (F_BLOCK2, F_BLOCK4):
            width = 2 if form == F_BLOCK2 else 4
            lines += [
                f"n = int.from_bytes(info[pos:pos + {width}], 'little')",
                f"{v} = info[pos + {width}:pos + {width} + n]",
                f"pos += {width} + n",
            ]
        elif form == F_FLAG_PRESENT:
            lines.append(f"{v} = True")
        elif form == F_IMPLICIT_CONST:
            lines.append(f"{v} = {implicit!r}")
        elif form in _ADDRX_FORMS or form in _STRX_FORMS or form in (F_LOCLISTX, F_RNGLISTX):
            if form in (F_ADDRX, F_STRX, F_LOCLISTX, F_RNGLISTX):
                lines.append("i, pos = uleb(info, pos)")
            else:
                lines += [
                    f"i = int.from_bytes(info[pos:pos + {fixed}], 'little')",
                    f"pos += {fixed}",
                ]
            if form in _ADDRX_FORMS:
                lines.append(f"{v} = sections.address(unit, i)")
            elif form in _STRX_FORMS:
                lines.append(f"{v} = sections.string_index(unit, i)")
            else:
                lines.append(f"{v} = sections.list_index(unit, i, {form == F_LOCLISTX})")
                if location:
                    lines.append(f"{v} = LocListRef({v})")
        elif form in (F_STRP, F_LINE_STRP):
            reader = "string" if form == F_STRP else "line_string"
            lines += [
                f"{v} = sections.{reader}(int.from_bytes(info[pos:pos + {offset}], 'little'))",
                f"pos += {offset}",
            ]
        elif form == F_STRP_SUP:
            lines.append(f"pos += {offset}")
            continue
        else:
            return None
        names.append((name, v))
    if abbrev.high_pc_relative and 0x11 in index and 0x12 in index:
        low, high = f"v{index[0x11]}", f"v{index[0x12]}"
        lines.append(f"{high} = {low} + {high}")
    result = ", ".join(f"{name!r}: {v}" for name, v in names)
    source = "def decode(info, pos, unit, sections):\n"
    source += "".join(f"    {line}\n" for line in lines)
    source += f"    return {{{result}}}, pos\n"
    namespace: dict[str, object] = {"uleb": uleb, "sleb": sleb, "LocListRef": LocListRef}
    exec(source, namespace)  # generated from the abbreviation alone, no input text
    return namespace["decode"]  # type: ignore[return-value]


def skip_entry(info: bytes, pos: int, unit: UnitHeader) -> tuple[Abbrev | None, int]:
    """The abbreviation of the entry at ``pos`` and the position after its attributes."""
    code = info[pos]
    if code < 0x80:
        pos += 1
    else:
        code, pos = uleb(info, pos)
    if code == 0:
        return None, pos
    abbrev = unit.abbrevs.get(code)
    if abbrev is None:
        raise DwarfFormatError(f"unknown abbreviation code {code} at {pos:#x}")
    if abbrev.fixed_size >= 0:
        return abbrev, pos + abbrev.fixed_size
    offset_size, address_size = unit.offset_size, unit.address_size
    for _, _, form, _ in abbrev.specs:
        if form == F_STRING:
            pos = info.index(b"\0", pos) + 1
        elif form in _ULEB_FORMS or form == F_SDATA:
            while info[pos] & 0x80:
                pos += 1
            pos += 1
        elif form in (F_EXPRLOC, F_BLOCK):
            size, pos = uleb(info, pos)
            pos += size
        elif form == F_BLOCK1:
            pos += 1 + info[pos]
        elif form == F_BLOCK2:
            pos += 2 + int.from_bytes(info[pos : pos + 2], "little")
        elif form == F_BLOCK4:
            pos += 4 + int.from_bytes(info[pos : pos + 4], "little")
        else:
            size = _form_size(form, offset_size, address_size)
            if size < 0:
                raise DwarfFormatError(f"unknown attribute form {form:#x} at {pos:#x}")
            pos += size
    return abbrev, pos


def skip_children(info: bytes, pos: int, unit: UnitHeader) -> int:
    """The position after the children of an entry whose first child is at ``pos``."""
    depth = 1
    while depth:
        abbrev, pos = skip_entry(info, pos, unit)
        if abbrev is None:
            depth -= 1
        elif abbrev.has_children:
            depth += 1
    return pos
