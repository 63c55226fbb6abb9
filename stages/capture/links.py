"""uprobe_multi links: every probe address of a binary attached with one syscall.

BCC 0.26 attaches one perf event per uprobe, and detaching each one waits for an
RCU grace period: 100 probes take seconds to remove. A ``BPF_TRACE_UPROBE_MULTI``
link (Linux 6.6+) attaches one program at many file offsets, each with a cookie
(``bpf_get_attach_cookie``) naming the probe, and is removed with one close.
"""

from __future__ import annotations

import ctypes as ct
import os
import struct

from elftools.elf.elffile import ELFFile

from ..errors import CaptureError

BPF_LINK_CREATE = 28
BPF_TRACE_UPROBE_MULTI = 48
_SYS_BPF = 321  # x86-64

_libc = ct.CDLL(None, use_errno=True)
_libc.syscall.restype = ct.c_long


def file_offsets(binary: str, addresses: list[int]) -> list[int]:
    """The file offsets of virtual ``addresses`` in the executable segments of ``binary``."""
    with open(binary, "rb") as f:
        segments = [
            (s["p_vaddr"], s["p_filesz"], s["p_offset"])
            for s in ELFFile(f).iter_segments()
            if s["p_type"] == "PT_LOAD" and s["p_flags"] & 1  # PF_X
        ]
    out = []
    for addr in addresses:
        for vaddr, size, offset in segments:
            if vaddr <= addr < vaddr + size:
                out.append(addr - vaddr + offset)
                break
        else:
            raise CaptureError(f"address 0x{addr:x} is not in an executable segment of {binary}")
    return out


def attach_uprobe_multi(
    prog_fd: int, binary: str, offsets: list[int], cookies: list[int], pid: int = 0
) -> int:
    """Create the link; returns its fd (close it to detach every probe at once).

    Raises OSError with the kernel's errno when the link cannot be created (EINVAL
    on kernels without uprobe_multi, or a bad offset).
    """
    n = len(offsets)
    path = ct.create_string_buffer(os.fsencode(binary))
    offs = (ct.c_uint64 * n)(*offsets)
    cooks = (ct.c_uint64 * n)(*cookies)
    attr = ct.create_string_buffer(128)
    struct.pack_into("<IIII", attr, 0, prog_fd, 0, BPF_TRACE_UPROBE_MULTI, 0)
    struct.pack_into(
        "<QQQQIII",
        attr,
        16,
        ct.addressof(path),
        ct.addressof(offs),
        0,
        ct.addressof(cooks),
        n,
        0,
        max(pid, 0),
    )
    fd = int(_libc.syscall(_SYS_BPF, BPF_LINK_CREATE, attr, 64))
    if fd < 0:
        err = ct.get_errno()
        raise OSError(err, os.strerror(err))
    return fd
