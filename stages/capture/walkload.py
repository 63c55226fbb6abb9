"""Programs that walk values: a program with bpf_loop's callback linked in.

The walker (bpf/godi.h, godi_walk_here) walks a hit's values in one ``bpf_loop``
whose callback, godi_walk_step, does one step of the walk: the verifier checks
the step's code once, and the walk may take up to GODI_MAX_STEPS steps. It runs
in the uprobe_multi dispatcher godi_dispatch, loaded sleepable so that a read may
fault a page in, or, on kernels without uprobe_multi, in the tail-called program
godi_walk. BCC 0.26 compiles each program into its own section and drops the
relocation of a reference to another function, so the walker passes a marker
constant (GODI_STEP_MARKER) where the callback goes. This module appends the
step's code to the program's and turns the marker's 64-bit load into the load of
a ``BPF_PSEUDO_FUNC`` whose immediate is the step's distance in instructions, as
libbpf does when it links a callback; then loads the result with ``bpf(2)``.
"""

from __future__ import annotations

import ctypes as ct
import os
import struct

from ..errors import CaptureError

STEP_MARKER = 0x9D1C0A1B5EE9F00D
"""GODI_STEP_MARKER in bpf/godi.h."""

BPF_PROG_LOAD = 5
BPF_PROG_TYPE_KPROBE = 2
BPF_F_SLEEPABLE = 1 << 4
_LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW: two instruction slots
_PSEUDO_FUNC = 4  # src_reg of a 64-bit load of a subprogram's address
_SYS_BPF = 321  # x86-64
_INSN = 8
_LOG_SIZE = 4 << 20

_libc = ct.CDLL(None, use_errno=True)
_libc.syscall.restype = ct.c_long


class WalkerLoadError(Exception):
    """The kernel refused the walker: ``log`` is the verifier's log (its end)."""

    def __init__(self, message: str, log_text: str) -> None:
        super().__init__(message)
        self.log = log_text


def link(walk: bytes, step: bytes) -> bytes:
    """The program's instructions (``walk``) followed by godi_walk_step's, each
    load of the marker turned into the load of the step's address. There must be
    one (clang may duplicate it along two paths; none means the code is not what
    this module expects)."""
    if len(walk) % _INSN or len(step) % _INSN or not walk or not step:
        raise CaptureError("the walker's code is not whole BPF instructions")
    out = bytearray(walk + step)
    n_walk = len(walk) // _INSN
    found = 0
    i = 0
    while i < n_walk:
        at = i * _INSN
        if out[at] != _LD_IMM64:
            i += 1
            continue
        if i + 1 >= n_walk:
            raise CaptureError("the walker's code ends inside a 64-bit load")
        lo = struct.unpack_from("<I", out, at + 4)[0]
        hi = struct.unpack_from("<I", out, at + _INSN + 4)[0]
        if out[at + 1] >> 4 == 0 and (hi << 32 | lo) == STEP_MARKER:
            out[at + 1] = (out[at + 1] & 0x0F) | (_PSEUDO_FUNC << 4)
            # The verifier finds the subprogram at i + imm + 1.
            struct.pack_into("<i", out, at + 4, n_walk - i - 1)
            struct.pack_into("<i", out, at + _INSN + 4, 0)
            found += 1
        i += 2
    if not found:
        raise CaptureError("the walker's code has no load of its step function's marker")
    return bytes(out)


_BTF_LOAD = 18
_BTF_INT, _BTF_PTR, _BTF_FUNC, _BTF_FUNC_PROTO = 1, 2, 12, 13
_STATIC, _GLOBAL = 0, 1


def btf(program: bytes = b"godi_walk") -> bytes:
    """The BTF the kernel wants for a program with a callback: the program
    ``program`` (``long (void *ctx)``, type 5) and the static godi_walk_step (``long
    (long index, void *ctx)``, type 6)."""
    if not program.isascii() or not program.replace(b"_", b"").isalnum() or len(program) > 15:
        raise CaptureError(f"not a program name: {program!r}")
    names = b"\0long\0ctx\0index\0" + program + b"\0godi_walk_step\0"

    def name(text: bytes) -> int:
        return names.index(text + b"\0")

    def head(name_off: int, kind: int, vlen: int, size_or_type: int) -> bytes:
        return struct.pack("<III", name_off, kind << 24 | vlen, size_or_type)

    types = b"".join(
        (
            head(name(b"long"), _BTF_INT, 0, 8) + struct.pack("<I", 1 << 24 | 64),  # 1
            head(0, _BTF_PTR, 0, 0),  # 2: void *
            head(0, _BTF_FUNC_PROTO, 1, 1) + struct.pack("<II", name(b"ctx"), 2),  # 3: walk's
            head(0, _BTF_FUNC_PROTO, 2, 1)  # 4: step's
            + struct.pack("<IIII", name(b"index"), 1, name(b"ctx"), 2),
            head(name(program), _BTF_FUNC, _GLOBAL, 3),  # 5
            head(name(b"godi_walk_step"), _BTF_FUNC, _STATIC, 4),  # 6
        )
    )
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(names))
    return header + types + names


_WALK_FUNC, _STEP_FUNC = 5, 6
"""Type ids of the two functions in ``btf()``."""


def _btf_load(data: bytes) -> int:
    buf = ct.create_string_buffer(data, len(data))
    attr = ct.create_string_buffer(32)
    struct.pack_into("<QQI", attr, 0, ct.addressof(buf), 0, len(data))
    fd = int(_libc.syscall(_SYS_BPF, _BTF_LOAD, attr, len(attr)))
    if fd < 0:
        err = ct.get_errno()
        raise WalkerLoadError(f"Failed to load the walker's BTF: {os.strerror(err)}", "")
    return fd


def _prog_load(
    insns: bytes,
    license: bytes,
    kern_version: int,
    attach_type: int,
    btf_fd: int,
    step_at: int,
    program: bytes,
    flags: int,
    log_buf: ct.Array[ct.c_char] | None,
) -> int:
    code = ct.create_string_buffer(insns, len(insns))
    lic = ct.create_string_buffer(license)
    # One bpf_func_info (instruction offset, BTF type id) per function.
    funcs = struct.pack("<IIII", 0, _WALK_FUNC, step_at, _STEP_FUNC)
    func_info = ct.create_string_buffer(funcs, len(funcs))
    attr = ct.create_string_buffer(128)
    log_addr, log_size, log_level = 0, 0, 0
    if log_buf is not None:
        log_addr, log_size, log_level = ct.addressof(log_buf), len(log_buf), 1
    struct.pack_into(
        "<IIQQIIQII16sIIIIQI",
        attr,
        0,
        BPF_PROG_TYPE_KPROBE,
        len(insns) // _INSN,
        ct.addressof(code),
        ct.addressof(lic),
        log_level,
        log_size,
        log_addr,
        kern_version,
        flags,
        program,
        0,
        max(attach_type, 0),
        btf_fd,
        8,  # func_info_rec_size
        ct.addressof(func_info),
        2,  # func_info_cnt
    )
    fd = int(_libc.syscall(_SYS_BPF, BPF_PROG_LOAD, attr, len(attr)))
    if fd < 0:
        return -ct.get_errno()
    return fd


def load(
    walk: bytes,
    step: bytes,
    license: bytes,
    kern_version: int,
    attach_type: int,
    program: bytes = b"godi_walk",
    sleepable: bool = False,
) -> int:
    """Link and load ``program`` (its code ``walk``) as a kprobe program
    (``attach_type``: BPF_TRACE_UPROBE_MULTI for the dispatcher and the walker it
    tail-calls on such kernels, -1 for none), ``sleepable`` or not; returns its
    fd. On failure it is loaded again with the verifier's log, for
    WalkerLoadError."""
    insns = link(walk, step)
    btf_fd = _btf_load(btf(program))
    flags = BPF_F_SLEEPABLE if sleepable else 0
    try:
        args = (
            insns,
            license,
            kern_version,
            attach_type,
            btf_fd,
            len(walk) // _INSN,
            program,
            flags,
        )
        fd = _prog_load(*args, None)
        if fd >= 0:
            return fd
        log_buf = ct.create_string_buffer(_LOG_SIZE)
        again = _prog_load(*args, log_buf)
        if again >= 0:  # loaded this time: keep it
            return again
    finally:
        os.close(btf_fd)
    text = log_buf.value.decode(errors="replace")
    raise WalkerLoadError(f"Failed to load BPF program {program!r}: {os.strerror(-fd)}", text)
