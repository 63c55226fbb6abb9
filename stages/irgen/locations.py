"""DWARF location expressions and lists -> ``LocationRange`` pieces.

Only the operations Go emits for variables are understood: registers, the frame
base (``DW_OP_call_frame_cfa``, ``DW_OP_fbreg`` over it), fixed addresses and
``DW_OP_piece`` composites. Anything else is reported as unsupported, never
guessed: a range whose expression cannot be read is left out, and a variable with
no readable range gets ``unavailable`` with the first reason met.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from elftools.dwarf.dwarf_expr import DW_OP_opcode2name

from ..ir import AddressPiece, CfaPiece, LocationRange, MissingPiece, Piece, RegisterPiece
from .dies import DwarfFormatError
from .dwarf import DwarfReader, Entry, ExprLoc, LocListRef

DW_OP_addr = 0x03
DW_OP_plus_uconst = 0x23
DW_OP_reg0 = 0x50
DW_OP_reg31 = 0x6F
DW_OP_regx = 0x90
DW_OP_fbreg = 0x91
DW_OP_piece = 0x93
DW_OP_call_frame_cfa = 0x9C

NO_LOCATION_RESULT = "no location (results are read at return sites from the ABI)"
NO_LOCATION = "no location (optimised out)"


class UnsupportedLocation(Exception):
    """A location expression irgen does not understand; the message says why."""


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    """A ULEB128 at ``pos``: (value, next position). IndexError when truncated."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _sleb(expr: bytes, pos: int) -> tuple[int, int]:
    start = pos
    value, pos = _uleb(expr, pos)
    bits = 7 * (pos - start)
    if value & (1 << (bits - 1)):
        value -= 1 << bits
    return value, pos


def _op_name(op: int) -> str:
    return DW_OP_opcode2name.get(op, f"DW_OP_0x{op:02x}")


# A decoded operation: (opcode, operand); the operand is 0 when there is none.
_Op = tuple[int, int]


def _decode_ops(expr: bytes) -> list[_Op]:
    try:
        return _decode_ops_unchecked(expr)
    except IndexError as e:
        raise UnsupportedLocation("truncated DWARF location expression") from e


def _decode_ops_unchecked(expr: bytes) -> list[_Op]:
    ops: list[_Op] = []
    pos = 0
    while pos < len(expr):
        op = expr[pos]
        pos += 1
        arg = 0
        if op == DW_OP_addr:
            if pos + 8 > len(expr):
                raise IndexError("DW_OP_addr")
            arg = int.from_bytes(expr[pos : pos + 8], "little")
            pos += 8
        elif op in (DW_OP_plus_uconst, DW_OP_regx, DW_OP_piece):
            arg, pos = _uleb(expr, pos)
        elif op == DW_OP_fbreg:
            arg, pos = _sleb(expr, pos)
        elif op == DW_OP_call_frame_cfa or DW_OP_reg0 <= op <= DW_OP_reg31:
            pass
        else:
            raise UnsupportedLocation(f"unsupported DWARF location operation {_op_name(op)}")
        ops.append((op, arg))
    return ops


def _piece(ops: list[_Op], size: int | None, frame_base_cfa: bool) -> Piece:
    """One piece from the operations that describe it."""
    if not ops:
        return MissingPiece(size=size)
    (op, arg), rest = ops[0], ops[1:]
    if DW_OP_reg0 <= op <= DW_OP_reg31 or op == DW_OP_regx:
        if rest:
            raise UnsupportedLocation("register location followed by more operations")
        return RegisterPiece(size=size, register=op - DW_OP_reg0 if op != DW_OP_regx else arg)
    offset = 0
    for extra_op, extra_arg in rest:
        if extra_op != DW_OP_plus_uconst:
            names = ", ".join(_op_name(o) for o, _ in ops)
            raise UnsupportedLocation(f"unsupported DWARF location expression: {names}")
        offset += extra_arg
    if op == DW_OP_call_frame_cfa:
        return CfaPiece(size=size, offset=offset)
    if op == DW_OP_fbreg:
        if not frame_base_cfa:
            raise UnsupportedLocation("DW_OP_fbreg with a frame base other than the CFA")
        return CfaPiece(size=size, offset=arg + offset)
    if op == DW_OP_addr:
        return AddressPiece(size=size, address=arg + offset)
    raise UnsupportedLocation(f"unsupported DWARF location expression: {_op_name(op)}")


# Decoded expressions, shared: a binary repeats the same few hundred expressions
# (a register, a frame offset, a register pair) across all its variables. The
# pieces are immutable Structs; callers must not mutate the returned lists.
_DECODED: dict[tuple[bytes, bool], list[Piece] | UnsupportedLocation] = {}
_DECODED_LIMIT = 1 << 16


def decode_expression(expr: bytes, frame_base_cfa: bool) -> list[Piece]:
    """The pieces a location expression describes; [] for an empty expression.

    ``frame_base_cfa`` tells whether the function's frame base is the CFA, which
    ``DW_OP_fbreg`` offsets are relative to. Raises ``UnsupportedLocation``.
    """
    key = (expr, frame_base_cfa)
    cached = _DECODED.get(key)
    if cached is None:
        try:
            cached = _decode_expression(expr, frame_base_cfa)
        except UnsupportedLocation as e:
            cached = e
        if len(_DECODED) < _DECODED_LIMIT:
            _DECODED[key] = cached
    if isinstance(cached, UnsupportedLocation):
        raise UnsupportedLocation(str(cached))
    return cached


def _decode_expression(expr: bytes, frame_base_cfa: bool) -> list[Piece]:
    pieces: list[Piece] = []
    current: list[_Op] = []
    for op, arg in _decode_ops(expr):
        if op == DW_OP_piece:
            pieces.append(_piece(current, arg, frame_base_cfa))
            current = []
        else:
            current.append((op, arg))
    if current:
        if pieces:
            raise UnsupportedLocation("location operations after the last DW_OP_piece")
        pieces.append(_piece(current, None, frame_base_cfa))
    return pieces


def frame_base_is_cfa(reader: DwarfReader, subprogram: Entry) -> bool:
    """Whether a subprogram's ``DW_AT_frame_base`` is ``DW_OP_call_frame_cfa``."""
    loc = reader.location(subprogram, "DW_AT_frame_base")
    return isinstance(loc, ExprLoc) and loc.expr == bytes([DW_OP_call_frame_cfa])


def variable_locations(
    reader: DwarfReader,
    variable: Entry,
    function_range: tuple[int, int],
    frame_base_cfa: bool,
    result: bool,
) -> tuple[list[LocationRange], str | None]:
    """The location ranges of a variable, and why there are none when empty.

    A single expression covers ``function_range``; a location list's ranges are
    made absolute against the unit's base address and its base address entries.
    """
    empty_reason = NO_LOCATION_RESULT if result else NO_LOCATION
    value = variable.attrs.get("DW_AT_location")
    if isinstance(value, LocListRef):
        return _from_list(reader, variable, value, frame_base_cfa, empty_reason)
    loc = ExprLoc(value) if isinstance(value, bytes) else None
    if loc is None:
        if "DW_AT_const_value" in variable.attrs:
            return [], "constant value (DW_AT_const_value) not supported"
        if "DW_AT_location" in variable.attrs:
            value = variable.attrs["DW_AT_location"]
            return [], f"unsupported DW_AT_location value {type(value).__name__}"
        return [], empty_reason
    if isinstance(loc, ExprLoc):
        if not loc.expr:
            return [], empty_reason
        try:
            pieces = decode_expression(loc.expr, frame_base_cfa)
        except UnsupportedLocation as e:
            return [], str(e)
        low, high = function_range
        return [LocationRange(low_pc=low, high_pc=high, pieces=pieces)], None
    return _from_list(reader, variable, loc, frame_base_cfa, empty_reason)


def _from_list(
    reader: DwarfReader, variable: Entry, ref: LocListRef, frame_base_cfa: bool, empty_reason: str
) -> tuple[list[LocationRange], str | None]:
    unit = variable.unit
    data = reader.loclist_data(unit)
    try:
        if unit.version >= 5:
            entries, default = absolute_v5(
                data, ref.offset, unit.low_pc, lambda i: reader.indexed_address(unit, i)
            )
        else:
            entries, default = absolute_v4(data, ref.offset, unit.low_pc), False
    except IndexError as e:
        raise DwarfFormatError(f"location list at {ref.offset:#x} runs past its section") from e
    ranges: list[LocationRange] = []
    # DW_LLE_default_location has no PC range to attach it to.
    reason: str | None = "unsupported default location list entry" if default else None
    for low, high, expr in entries:
        if high <= low or not expr:
            continue
        try:
            pieces = decode_expression(expr, frame_base_cfa)
        except UnsupportedLocation as e:
            reason = reason or str(e)
            continue
        ranges.append(LocationRange(low_pc=low, high_pc=high, pieces=pieces))
    if ranges:
        return ranges, None
    return [], reason or empty_reason


# ------------------------------------------------------------- location lists
# Decoded here rather than by pyelftools, whose generic parser dominated the time
# of a whole-binary run; tests/irgen/test_dwarf_parsers.py checks both agree.

_ADDRESS_SIZE = 8


# DW_LLE_* codes of DWARF 5 .debug_loclists.
_LLE_END = 0
_LLE_BASE_ADDRESSX = 1
_LLE_STARTX_ENDX = 2
_LLE_STARTX_LENGTH = 3
_LLE_OFFSET_PAIR = 4
_LLE_DEFAULT = 5
_LLE_BASE_ADDRESS = 6
_LLE_START_END = 7
_LLE_START_LENGTH = 8


def _addr(data: bytes, pos: int) -> tuple[int, int]:
    return int.from_bytes(data[pos : pos + _ADDRESS_SIZE], "little"), pos + _ADDRESS_SIZE


def absolute_v5(
    data: bytes, pos: int, base: int, address: Callable[[int], int]
) -> tuple[list[tuple[int, int, bytes]], bool]:
    """The (low, high, expression) entries of a .debug_loclists list, made absolute,
    and whether it has a default entry. Raises ``IndexError`` when truncated."""
    out: list[tuple[int, int, bytes]] = []
    default = False
    while True:
        kind = data[pos]
        pos += 1
        if kind == _LLE_OFFSET_PAIR:  # what Go writes, nearly always
            # Offsets from the function's start: one or two ULEB128 bytes.
            begin = data[pos]
            if begin < 0x80:
                pos += 1
            elif data[pos + 1] < 0x80:
                begin = (begin & 0x7F) | data[pos + 1] << 7
                pos += 2
            else:
                begin, pos = _uleb(data, pos)
            end = data[pos]
            if end < 0x80:
                pos += 1
            elif data[pos + 1] < 0x80:
                end = (end & 0x7F) | data[pos + 1] << 7
                pos += 2
            else:
                end, pos = _uleb(data, pos)
            begin, end = begin + base, end + base
        elif kind == _LLE_END:
            return out, default
        elif kind == _LLE_BASE_ADDRESSX:
            index, pos = _uleb(data, pos)
            base = address(index)
            continue
        elif kind == _LLE_BASE_ADDRESS:
            base, pos = _addr(data, pos)
            continue
        elif kind == _LLE_STARTX_ENDX:
            a, pos = _uleb(data, pos)
            b, pos = _uleb(data, pos)
            begin, end = address(a), address(b)
        elif kind == _LLE_STARTX_LENGTH:
            a, pos = _uleb(data, pos)
            length, pos = _uleb(data, pos)
            begin = address(a)
            end = begin + length
        elif kind == _LLE_DEFAULT:
            size, pos = _uleb(data, pos)
            pos += size
            default = True
            continue
        elif kind == _LLE_START_END:
            begin, pos = _addr(data, pos)
            end, pos = _addr(data, pos)
        elif kind == _LLE_START_LENGTH:
            begin, pos = _addr(data, pos)
            length, pos = _uleb(data, pos)
            end = begin + length
        else:
            raise DwarfFormatError(f"unknown location list entry kind {kind:#x}")
        size = data[pos]
        if size < 0x80:
            pos += 1
        else:
            size, pos = _uleb(data, pos)
        out.append((begin, end, data[pos : pos + size]))
        pos += size


def absolute_v4(data: bytes, pos: int, base: int) -> list[tuple[int, int, bytes]]:
    """The (low, high, expression) entries of a .debug_loc list, made absolute.

    Raises ``IndexError`` when truncated."""
    out: list[tuple[int, int, bytes]] = []
    max_address = (1 << (8 * _ADDRESS_SIZE)) - 1
    while True:
        if pos + 16 > len(data):
            raise IndexError(pos)
        begin, end = struct.unpack_from("<QQ", data, pos)
        pos += 16
        if begin == 0 and end == 0:
            return out
        if begin == max_address:
            base = end
            continue
        length = data[pos] | data[pos + 1] << 8
        pos += 2
        out.append((begin + base, end + base, data[pos : pos + length]))
        pos += length
