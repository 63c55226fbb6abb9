"""What floats need of the probed instruction (``stages.capture.floats``): its
length, the XMM registers it writes, what it does to RSP, whether it jumps."""

from __future__ import annotations

from stages.capture.floats import probed_instruction


def test_an_instruction_writing_the_wanted_register_is_seen() -> None:
    insn = probed_instruction(bytes.fromhex("f20f58c0"), 0x1000)  # addsd xmm0, xmm0
    assert insn is not None
    assert (insn.size, insn.writes_xmm, insn.sp_delta, insn.control) == (4, 0b1, 0, False)
    store = probed_instruction(bytes.fromhex("660fd6442408"), 0x1000)  # movq [rsp+8], xmm0
    assert store is not None and store.writes_xmm == 0 and store.size == 6
    cvt = probed_instruction(bytes.fromhex("f30f5ac0"), 0x1000)  # cvtss2sd xmm0, xmm0
    assert cvt is not None and cvt.writes_xmm == 1
    xor = probed_instruction(bytes.fromhex("0f57e4"), 0x1000)  # xorps xmm4, xmm4
    assert xor is not None and xor.writes_xmm == 1 << 4


def test_returns_jumps_and_the_stack_pointer() -> None:
    ret = probed_instruction(b"\xc3", 0x1000)
    assert ret is not None and ret.is_return and not ret.control and ret.sp_delta == 8
    call = probed_instruction(bytes.fromhex("e800000000"), 0x1000)
    assert call is not None and call.control
    jmp = probed_instruction(bytes.fromhex("eb00"), 0x1000)
    assert jmp is not None and jmp.control
    push = probed_instruction(b"\x55", 0x1000)
    assert push is not None and push.sp_delta == -8
    sub = probed_instruction(bytes.fromhex("4883ec18"), 0x1000)  # sub rsp, 0x18
    assert sub is not None and sub.sp_delta == -0x18
    add = probed_instruction(bytes.fromhex("4881c400010000"), 0x1000)  # add rsp, 0x100
    assert add is not None and add.sp_delta == 0x100
    lea = probed_instruction(bytes.fromhex("488d642408"), 0x1000)  # lea rsp, [rsp+8]
    assert lea is not None and lea.sp_delta is None
    cmp = probed_instruction(bytes.fromhex("493b6610"), 0x1000)  # the stack check
    assert cmp is not None and cmp.sp_delta == 0 and cmp.writes_xmm == 0
    assert probed_instruction(b"", 0x1000) is None
