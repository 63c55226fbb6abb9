"""The walker's linking (stages/capture/walkload.py): the marker's 64-bit load in
godi_walk becomes the load of godi_walk_step's address, appended after it."""

from __future__ import annotations

import struct

import pytest

from stages.capture.walkload import STEP_MARKER, btf, link
from stages.errors import CaptureError


def _insn(code: int, regs: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, regs, off, imm)


def _ld_imm64(dst: int, value: int) -> bytes:
    lo, hi = value & 0xFFFFFFFF, value >> 32
    return _insn(0x18, dst, 0, struct.unpack("<i", struct.pack("<I", lo))[0]) + _insn(
        0, 0, 0, struct.unpack("<i", struct.pack("<I", hi))[0]
    )


MOV_R1_1 = _insn(0xB7, 1, 0, 1)
CALL_LOOP = _insn(0x85, 0, 0, 181)
EXIT = _insn(0x95)


def test_the_marker_load_names_the_step_function() -> None:
    walk = MOV_R1_1 + _ld_imm64(2, STEP_MARKER) + CALL_LOOP + EXIT  # 5 instructions
    step = _insn(0xB7, 0, 0, 0) + EXIT
    out = link(walk, step)
    assert len(out) == len(walk) + len(step)
    assert out[len(walk) :] == step
    code, regs, _, imm = struct.unpack_from("<BBhi", out, 8)
    assert code == 0x18 and regs == (4 << 4 | 2)  # BPF_PSEUDO_FUNC into r2
    assert 1 + imm + 1 == 5  # the verifier finds the step at i + imm + 1
    assert struct.unpack_from("<i", out, 16 + 4)[0] == 0
    # The rest is untouched.
    assert out[:8] == walk[:8] and out[24:40] == walk[24:40]


def test_code_without_the_marker_is_refused() -> None:
    with pytest.raises(CaptureError, match="marker"):
        link(_ld_imm64(3, 7) + EXIT, EXIT)


def test_every_marker_load_names_the_step_function() -> None:
    """clang may duplicate the walk's call along two paths of the dispatcher."""
    walk = _ld_imm64(2, STEP_MARKER) + CALL_LOOP + _ld_imm64(2, STEP_MARKER) + CALL_LOOP + EXIT
    out = link(walk, EXIT)
    n_walk = len(walk) // 8
    for i in (0, 3):
        code, regs, _, imm = struct.unpack_from("<BBhi", out, i * 8)
        assert code == 0x18 and regs == (4 << 4 | 2)
        assert i + imm + 1 == n_walk


def test_a_map_load_with_the_marker_value_is_not_taken_for_it() -> None:
    """Only a plain 64-bit constant (src_reg 0) is the marker."""
    lo = _ld_imm64(2, STEP_MARKER)
    map_load = lo[:1] + bytes([1 << 4 | 2]) + lo[2:]
    with pytest.raises(CaptureError, match="no load"):
        link(map_load + EXIT, EXIT)


def test_btf_header_and_sections() -> None:
    data = btf()
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        "<HBBIIIII", data
    )
    assert (magic, version, flags, hdr_len, type_off) == (0xEB9F, 1, 0, 24, 0)
    assert str_off == type_len and 24 + type_len + str_len == len(data)
    strings = data[24 + str_off :]
    assert strings.startswith(b"\0") and b"godi_walk_step\0" in strings


def test_btf_names_the_program() -> None:
    strings = btf(b"godi_dispatch").split(b"\0")
    assert b"godi_dispatch" in strings and b"godi_walk_step" in strings


@pytest.mark.parametrize("name", [b"", b"a b", b"x" * 16, b"caf\xc3\xa9", b"a\0b"])
def test_btf_refuses_what_is_not_a_program_name(name: bytes) -> None:
    with pytest.raises(CaptureError, match="program name"):
        btf(name)
