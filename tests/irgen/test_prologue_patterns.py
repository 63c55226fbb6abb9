"""Prologue recognition on hand-assembled x86-64, one shape per test."""

from __future__ import annotations

import pytest

from stages.irgen.prologue import Prologue, analyse_prologue, find_returns

BASE = 0x401000

TLS_G = bytes.fromhex("644c8b3425f8ffffff")  # mov r14, qword ptr fs:[-8]
CMP_SP = bytes.fromhex("493b6610")  # cmp rsp, qword ptr [r14+0x10]
JBE8 = bytes.fromhex("7640")  # jbe +0x40
LEA_R12 = bytes.fromhex("4c8d6424d8")  # lea r12, [rsp-0x28]
CMP_R12 = bytes.fromhex("4d3b6610")  # cmp r12, qword ptr [r14+0x10]
JBE32 = bytes.fromhex("0f8600010000")  # jbe +0x100
MOV_R12_SP = bytes.fromhex("4989e4")  # mov r12, rsp
SUB_R12 = bytes.fromhex("4981ec880f0000")  # sub r12, 0xf88
JB32 = bytes.fromhex("0f8200010000")  # jb +0x100
PUSH_BP = bytes.fromhex("55")  # push rbp
MOV_BP_SP = bytes.fromhex("4889e5")  # mov rbp, rsp
SUB_SP_50 = bytes.fromhex("4883ec50")  # sub rsp, 0x50
ADD_SP_M80 = bytes.fromhex("4883c480")  # add rsp, -0x80
SUB_SP_30 = bytes.fromhex("4883ec30")  # sub rsp, 0x30
SAVE_BP_28 = bytes.fromhex("48896c2428")  # mov qword ptr [rsp+0x28], rbp
LEA_BP_28 = bytes.fromhex("488d6c2428")  # lea rbp, [rsp+0x28]
BODY = bytes.fromhex("4889c1")  # mov rcx, rax
RET = bytes.fromhex("c3")
INT3 = bytes.fromhex("cc")


def entry(*parts: bytes) -> Prologue:
    return analyse_prologue(b"".join(parts) + BODY + RET, BASE)


def at(*parts: bytes) -> int:
    return BASE + sum(len(p) for p in parts)


@pytest.mark.parametrize(
    ("parts", "cfa", "frame_pointer"),
    [
        ((), 8, False),
        ((CMP_SP, JBE8, PUSH_BP, MOV_BP_SP, SUB_SP_50), 8 + 8 + 0x50, True),
        ((LEA_R12, CMP_R12, JBE32, PUSH_BP, MOV_BP_SP, SUB_SP_50), 8 + 8 + 0x50, True),
        ((MOV_R12_SP, SUB_R12, JB32, CMP_R12, JBE32, PUSH_BP, MOV_BP_SP), 16, True),
        ((TLS_G, CMP_SP, JBE8, PUSH_BP, MOV_BP_SP, SUB_SP_50), 8 + 8 + 0x50, True),
        ((PUSH_BP, MOV_BP_SP, SUB_SP_50), 8 + 8 + 0x50, True),
        ((PUSH_BP, MOV_BP_SP), 16, True),
        ((PUSH_BP, MOV_BP_SP, ADD_SP_M80), 8 + 8 + 0x80, True),
        ((CMP_SP, JBE8), 8, False),
        ((SUB_SP_50,), 8 + 0x50, False),
        ((SUB_SP_30, SAVE_BP_28, LEA_BP_28), 8 + 0x30, True),
    ],
)
def test_shapes(parts: tuple[bytes, ...], cfa: int, frame_pointer: bool) -> None:
    assert entry(*parts) == Prologue(
        entry_pc=at(*parts), cfa_offset=cfa, frame_pointer=frame_pointer
    )


def test_a_lone_g_load_is_not_skipped() -> None:
    assert entry(TLS_G).entry_pc == BASE


def test_stops_at_the_first_other_instruction() -> None:
    # The check must come first: a body instruction before it ends the prologue.
    assert entry(BODY, CMP_SP, JBE8, PUSH_BP) == Prologue(BASE, 8, False)


def test_returns() -> None:
    code = PUSH_BP + MOV_BP_SP + BODY + RET + BODY + RET + INT3 * 3
    assert find_returns(code, BASE) == [
        at(PUSH_BP, MOV_BP_SP, BODY),
        at(PUSH_BP, MOV_BP_SP, BODY, RET, BODY),
    ]


def test_returns_skip_undecodable_bytes() -> None:
    bad = bytes.fromhex("06")  # push es: invalid in 64-bit mode
    assert find_returns(bad + RET, BASE) == [BASE + 1]
