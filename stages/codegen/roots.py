"""Assembling a probe's captured variables into the event's root area.

For each variable, the DWARF location in force at the probe PC says which
registers and stack slots hold its bytes. This module decides the root offset of
each variable and the statement that fills each piece; bytes that eBPF cannot
read (vector registers, optimised-out pieces) are zeroed and marked unavailable
so the decoder never shows them as values. The bytes of redacted fields inside a
variable (``redacted.RedactedBytes``) are zeroed after the pieces are in, and a
piece that lies wholly inside them is not read at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import (
    AddressPiece,
    CfaPiece,
    MissingPiece,
    RegisterPiece,
    TypeIndex,
    Variable,
)
from ..layout import CaptureRole, PieceLayout, PieceSource, VariableLayout
from ..redaction import current as current_redaction
from ..redaction import is_redacted_ident, is_redacted_type
from .leaves import abi_leaves, place_pieces
from .redacted import RedactedBytes
from .render import c_comment

# DWARF x86-64 register numbers -> struct pt_regs members.
PT_REGS = {
    0: "ax",
    1: "dx",
    2: "cx",
    3: "bx",
    4: "si",
    5: "di",
    6: "bp",
    7: "sp",
    8: "r8",
    9: "r9",
    10: "r10",
    11: "r11",
    12: "r12",
    13: "r13",
    14: "r14",
    15: "r15",
}
MAX_ROOT = 16384
MAX_FAIL_BITS = 64


@dataclass
class Root:
    """The root area of one probe: variables, their fill statements, total size."""

    variables: list[VariableLayout]
    statements: list[str]
    size: int
    vector_registers: int = 0
    """Bit n: some piece is in XMM n (filled by decode from a floats record)."""


def _register_reason(reg: int) -> str:
    if 17 <= reg <= 32:
        return f"held in register xmm{reg - 17}: eBPF cannot read vector registers"
    return f"held in DWARF register {reg}, which eBPF cannot read"


_ZERO_CHUNK = 128
"""Bytes zeroed per GODI_ROOT_ZERO: clang inlines a memset that small in BPF, and
refuses a larger one (an unavailable argument of a kilobyte)."""


def _zero(dst: int, size: int, *notes: str) -> list[str]:
    """GODI_ROOT_ZERO statements for ``size`` bytes at root offset ``dst``, each
    commented with ``notes`` (each through ``c_comment``: a variable's name comes
    from the binary), joined by ``: ``."""
    note = ": ".join(c_comment(n) for n in notes)
    return [
        f"GODI_ROOT_ZERO(s, {dst + at}, {min(_ZERO_CHUNK, size - at)}); /* {note} */"
        for at in range(0, size, _ZERO_CHUNK)
    ]


def _uncovered(leaves: list[tuple[int, int]], pieces: list[PieceLayout]) -> list[tuple[int, int]]:
    """Leaves that no piece covers."""
    covered = [(p.offset, p.offset + p.size) for p in pieces]
    return [(at, n) for at, n in leaves if not any(lo <= at and at + n <= hi for lo, hi in covered)]


def _unread(var: Variable, role: CaptureRole, size: int, reason: str) -> VariableLayout:
    """The layout of a variable the probe does not read, saying why."""
    return VariableLayout(
        name=var.name, type=var.type, role=role, root_offset=None, size=size, reason=reason
    )


def build_root(
    pc: int,
    variables: list[tuple[Variable, CaptureRole]],
    types: TypeIndex,
    redacted: RedactedBytes | None = None,
) -> Root:
    """Place ``variables`` (as located at ``pc``) in a root area; ``redacted`` says
    which of their bytes are zeroed (by default, under the current environment)."""
    if redacted is None:
        redacted = RedactedBytes(types, current_redaction())
    out: list[VariableLayout] = []
    stmts: list[str] = []
    offset = 0
    fail_bit = 0
    vectors = 0
    for var, role in variables:
        size = types[var.type].size
        if is_redacted_ident(var.name) or is_redacted_type(types[var.type].name):
            # Never read: the decoder shows it redacted by its name or type.
            out.append(_unread(var, role, size, "redacted"))
            continue
        loc = next((r for r in var.locations if r.low_pc <= pc < r.high_pc), None)
        if loc is None and size == 0:
            # A zero-size value ([0]T, struct{}) has no bytes to locate: the
            # compiler gives it no location, yet its value is known.
            out.append(
                VariableLayout(name=var.name, type=var.type, role=role, root_offset=offset, size=0)
            )
            continue
        if loc is None:
            reason = var.unavailable or "no location at the probe address"
            out.append(_unread(var, role, size, reason))
            continue
        if offset + size > MAX_ROOT:
            out.append(_unread(var, role, size, f"does not fit the {MAX_ROOT}-byte capture root"))
            continue
        pieces: list[PieceLayout] = []
        label = c_comment(var.name)
        leaves = abi_leaves(var.type, types)
        places = place_pieces([p.size for p in loc.pieces], leaves, size)
        secrets = redacted.ranges(var.type)
        for piece, (at, psize) in zip(loc.pieces, places, strict=True):
            if psize <= 0 or at + psize > size:
                continue
            dst = offset + at
            # Wholly redacted: not read (the zeroing below covers it).
            hidden = any(lo <= at and at + psize <= lo + n for lo, n in secrets)
            if isinstance(piece, RegisterPiece) and piece.register in PT_REGS and psize <= 8:
                if not hidden:
                    stmts.append(
                        f"GODI_ROOT_REG(s, {dst}, regs->{PT_REGS[piece.register]}, {psize});"
                        f" /* {label} */"
                    )
                pieces.append(PieceLayout(offset=at, size=psize, source="register"))
            elif isinstance(piece, CfaPiece | AddressPiece) and fail_bit < MAX_FAIL_BITS:
                if isinstance(piece, CfaPiece):
                    addr = f"cfa + ({piece.offset})"
                    source: PieceSource = "stack"
                else:
                    addr = f"0x{piece.address:x}ULL"
                    source = "memory"
                if not hidden:
                    stmts.append(
                        f"GODI_ROOT_MEM(s, {dst}, {addr}, {psize}, {fail_bit}); /* {label} */"
                    )
                pieces.append(PieceLayout(offset=at, size=psize, source=source, fail_bit=fail_bit))
                fail_bit += 1
            elif isinstance(piece, RegisterPiece) and 17 <= piece.register <= 32 and psize <= 8:
                # eBPF cannot read XMM registers: zeros here, the value comes with
                # the hit's floats record (stages.floats), if any.
                xmm = piece.register - 17
                stmts.append(f"GODI_ROOT_ZERO(s, {dst}, {psize}); /* {label}: xmm{xmm} */")
                pieces.append(PieceLayout(offset=at, size=psize, source="vector", register=xmm))
                if not hidden:  # a redacted register is not asked for
                    vectors |= 1 << xmm
            else:
                if isinstance(piece, RegisterPiece):
                    reason = _register_reason(piece.register)
                elif isinstance(piece, MissingPiece):
                    reason = "optimised out"
                else:
                    reason = "too many memory pieces in one probe"
                stmts += _zero(dst, psize, var.name, reason)
                pieces.append(
                    PieceLayout(offset=at, size=psize, source="unavailable", reason=reason)
                )
        for gap_at, gap_size in _uncovered(leaves, pieces):
            stmts += _zero(offset + gap_at, gap_size, var.name)
            pieces.append(
                PieceLayout(
                    offset=gap_at,
                    size=gap_size,
                    source="unavailable",
                    reason="not described by the DWARF location",
                )
            )
        for lo, n in secrets:
            stmts += _zero(offset + lo, n, var.name, "redacted")
        pieces.sort(key=lambda p: p.offset)
        out.append(
            VariableLayout(
                name=var.name,
                type=var.type,
                role=role,
                root_offset=offset,
                size=size,
                pieces=pieces,
            )
        )
        offset += (size + 7) & ~7
    return Root(variables=out, statements=stmts, size=offset, vector_registers=vectors)
