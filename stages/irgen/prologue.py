"""Where a probe can go: the PC after a function's prologue, and its returns.

The Go assembler emits one prologue shape (``cmd/internal/obj/x86/obj6.go``):
an optional load of ``g`` from TLS (ABI0 functions), the stack-bound check that
may call ``runtime.morestack`` and re-run the function from its first
instruction, then the frame set-up. Only those instructions are recognised;
disassembly stops at the first other one, so an unusual function simply gets an
earlier entry PC with the CFA offset that is true there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from capstone import CS_ARCH_X86, CS_MODE_64, Cs

# A Go prologue is at most ~10 instructions; the huge-frame check is the longest.
PROLOGUE_WINDOW = 64
# The longest shape: g load, huge-frame check (5), push, mov, sub, save, lea, and
# the instruction after them.
PROLOGUE_INSTRUCTIONS = 12
RETURN_ADDRESS_SIZE = 8
_WORD = 8

_disassembler = Cs(CS_ARCH_X86, CS_MODE_64)

_IMM = r"(-?(?:0x[0-9a-f]+|\d+))"
_TLS_G_LOAD = re.compile(r"(\w+), qword ptr fs:\[0x[0-9a-f]+\]")
# g.stackguard0 is at offset 0x10 of runtime.g in every Go version.
_CMP_SP_GUARD = re.compile(r"rsp, qword ptr \[(\w+) \+ 0x10\]")
_CMP_R12_GUARD = re.compile(r"r12, qword ptr \[(\w+) \+ 0x10\]")
_LEA_R12 = re.compile(r"r12, \[rsp - 0x[0-9a-f]+\]")
_SUB_R12 = re.compile(r"r12, " + _IMM)
_SUB_RSP = re.compile(r"rsp, " + _IMM)
_SAVE_RBP = re.compile(r"qword ptr \[rsp \+ " + _IMM + r"\], rbp")
_LEA_RBP = re.compile(r"rbp, \[rsp \+ " + _IMM + r"\]")


@dataclass(frozen=True)
class Prologue:
    """The first PC after the prologue; CFA = RSP + ``cfa_offset`` there."""

    entry_pc: int
    cfa_offset: int
    frame_pointer: bool


# One instruction as the matcher sees it: (address, size, mnemonic, operands).
_Insn = tuple[int, int, str, str]


def _stack_check_length(insns: list[_Insn]) -> int:
    """How many leading instructions form the stack-bound check (0 if none)."""
    shapes = (
        # frame <= StackSmall: CMPQ SP, stackguard0(g); JLS morestack
        (("cmp", _CMP_SP_GUARD), ("jbe", None)),
        # frame <= StackBig: LEAQ -(n)(SP), R12; CMPQ R12, stackguard0(g); JLS
        (("lea", _LEA_R12), ("cmp", _CMP_R12_GUARD), ("jbe", None)),
        # huge frames: MOVQ SP, R12; SUBQ $n, R12; JCS morestack; CMPQ ...; JLS
        (
            ("mov", re.compile(r"r12, rsp")),
            ("sub", _SUB_R12),
            ("jb", None),
            ("cmp", _CMP_R12_GUARD),
            ("jbe", None),
        ),
    )
    for shape in shapes:
        if len(insns) < len(shape):
            continue
        if all(
            insn[2] == mnemonic and (pattern is None or pattern.fullmatch(insn[3]))
            for insn, (mnemonic, pattern) in zip(insns, shape, strict=False)
        ):
            return len(shape)
    return 0


def analyse_prologue(code: bytes, low_pc: int) -> Prologue:
    """Find the entry PC of the function whose code (from ``low_pc``) is ``code``.

    ``code`` needs only the first ``PROLOGUE_WINDOW`` bytes. The CFA offset starts
    at 8 (the return address) and grows with ``push rbp`` and ``sub rsp, N``.
    """
    insns: list[_Insn] = list(
        _disassembler.disasm_lite(code[:PROLOGUE_WINDOW], low_pc, PROLOGUE_INSTRUCTIONS)
    )
    if not insns:
        return Prologue(entry_pc=low_pc, cfa_offset=RETURN_ADDRESS_SIZE, frame_pointer=False)
    i = 0
    # ABI0 functions load g from TLS first; only worth skipping before a check or frame.
    if insns[0][2] == "mov" and _TLS_G_LOAD.fullmatch(insns[0][3]):
        i = 1
    i += _stack_check_length(insns[i:])
    cfa = RETURN_ADDRESS_SIZE
    frame_pointer = False
    end = i
    pushed = False
    if i < len(insns) and insns[i][2:] == ("push", "rbp"):
        cfa += _WORD
        pushed = True
        i += 1
        end = i
        if i < len(insns) and insns[i][2:] == ("mov", "rbp, rsp"):
            frame_pointer = True
            i += 1
            end = i
    if i < len(insns):
        grown = _rsp_growth(insns[i])
        if grown is not None:
            cfa += grown
            i += 1
            end = i
            # Before Go 1.21's PUSH BP: SUBQ $n, SP; MOVQ BP, n-8(SP); LEAQ n-8(SP), BP.
            if not pushed and i + 1 < len(insns):
                save = _SAVE_RBP.fullmatch(insns[i][3]) if insns[i][2] == "mov" else None
                lea = _LEA_RBP.fullmatch(insns[i + 1][3]) if insns[i + 1][2] == "lea" else None
                slot = grown - _WORD
                if save and lea and int(save[1], 0) == slot and int(lea[1], 0) == slot:
                    frame_pointer = True
                    end = i + 2
    if end == 1 and i == 1 and cfa == RETURN_ADDRESS_SIZE:
        end = 0  # only the g load matched: nothing worth skipping
    entry_pc = insns[end][0] if end < len(insns) else insns[-1][0] + insns[-1][1]
    return Prologue(entry_pc=entry_pc, cfa_offset=cfa, frame_pointer=frame_pointer)


def _rsp_growth(insn: _Insn) -> int | None:
    """Bytes a ``sub rsp, N`` (or ``add rsp, -N``) allocates, None otherwise."""
    _, _, mnemonic, operands = insn
    match = _SUB_RSP.fullmatch(operands)
    if match is None:
        return None
    value = int(match[1], 0)
    if mnemonic == "sub" and value > 0:
        return value
    if mnemonic == "add" and value < 0:
        return -value
    return None


_RSP = 7
_RET = b"\xc3"
_NOP_RET = b"\x90\xc3"


def returns_from_frame(
    code: bytes, low_pc: int, rows: Sequence[tuple[int, int, int]]
) -> list[int] | None:
    """The PCs of every ``ret``, from a function's CFA rows (pc, register, offset).

    In a function with a frame, every epilogue ends by making the CFA RSP+8 again,
    and a ``ret`` can only be in such a row's range (which also holds the
    stack-growth call path); only those ranges are disassembled. None for a
    function without a frame, whose CFA never moves: ``find_returns`` must sweep it.
    """
    if all(register == _RSP and offset == RETURN_ADDRESS_SIZE for _, register, offset in rows):
        return None
    # A row repeating its predecessor's rule can start inside an instruction (the
    # compiler splits rows at its own boundaries): only rule changes are trusted.
    changes: list[tuple[int, int, int]] = []
    for row in rows:
        if not changes or row[1:] != changes[-1][1:]:
            changes.append(row)
    returns: list[int] = []
    for k, (pc, register, offset) in enumerate(changes):
        start = pc - low_pc
        if start <= 0 or register != _RSP or offset != RETURN_ADDRESS_SIZE:
            continue
        end = changes[k + 1][0] - low_pc if k + 1 < len(changes) else len(code)
        # Most such ranges are an epilogue's end, "ret" or "nop; ret": no need
        # for the disassembler to see those.
        if code[start:end] == _RET:
            returns.append(pc)
        elif code[start:end] == _NOP_RET:
            returns.append(pc + 1)
        else:
            returns.extend(find_returns(code[start:end], pc))
    return returns


def find_returns(code: bytes, low_pc: int) -> list[int]:
    """The PCs of every ``ret`` in ``code`` (a whole function), by linear sweep.

    Go lays functions out contiguously and pads them with int3; an undecodable
    byte is skipped rather than ending the sweep.
    """
    returns: list[int] = []
    pos = 0
    while pos < len(code):
        last_end = pos
        for address, size, mnemonic, _ in _disassembler.disasm_lite(code[pos:], low_pc + pos):
            if mnemonic == "ret":
                returns.append(address)
            last_end = address - low_pc + size
        pos = last_end if last_end > pos else pos + 1
    return returns
