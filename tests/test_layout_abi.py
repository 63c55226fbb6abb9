"""bpf/godi_event.h and stages/layout.py describe the same bytes."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from stages import layout
from stages.paths import bpf_dir

PROGRAM = r"""
#include <stddef.h>
#include <stdio.h>
#include "godi_event.h"
#define F(s, m) printf(#s "." #m " %zu %zu\n", offsetof(struct s, m), sizeof(((struct s *)0)->m))
int main(void) {
    printf("godi_event %zu\n", sizeof(struct godi_event));
    printf("godi_block %zu\n", sizeof(struct godi_block));
    F(godi_event, probe); F(godi_event, data_len); F(godi_event, ktime_ns);
    F(godi_event, goid); F(godi_event, tgid); F(godi_event, tid); F(godi_event, root_len);
    F(godi_event, stack_len); F(godi_event, flags); F(godi_event, fail_mask);
    F(godi_event, cfa); F(godi_event, stack_hi);
    F(godi_block, addr); F(godi_block, type); F(godi_block, count); F(godi_block, len);
    F(godi_block, flags);
    printf("flags %d %d %d %d %d %d %d %d\n", GODI_EVENT_FLAG_TRUNCATED,
           GODI_EVENT_FLAG_STACK_TRUNCATED, GODI_BLOCK_FLAG_READ_FAILED, GODI_BLOCK_FLAG_SHORT,
           GODI_BLOCK_FLAG_PARTIAL, GODI_SLOT_POINTER, GODI_SLOT_STRING, GODI_SLOT_SLICE);
    printf("rtypes %d %d %d %d %d %d %d\n", GODI_SLOT_RTYPE, GODI_RTYPE_ELEM,
           GODI_RTYPE_VALUE, GODI_RTYPE_FIELDS, GODI_RTYPE_ANY, GODI_RTYPE_COPY,
           GODI_RFIELDS_MAX);
    printf("godi_floats %zu\n", sizeof(struct godi_floats));
    F(godi_floats, status); F(godi_floats, mask); F(godi_floats, rip); F(godi_floats, expected);
    F(godi_floats, xmm);
    printf("floats %d %d %u %d %d %d %d\n", GODI_EVENT_FLAG_FLOATS_ASKED,
           GODI_EVENT_FLAG_FLOATS_REFUSED, GODI_FLOATS_PROBE_BIT, GODI_FLOATS_OK,
           GODI_FLOATS_PC_MISMATCH, GODI_FLOATS_READ_FAILED, GODI_FLOATS_SP_MISMATCH);
    return 0;
}
"""


def test_event_header_matches_python(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "abi.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "abi"
    subprocess.run([cc, "-DGODI_USERSPACE", f"-I{bpf_dir()}", "-o", str(exe), str(src)], check=True)
    out = dict(
        (line.split(" ", 1)[0], line.split(" ", 1)[1])
        for line in subprocess.run(
            [str(exe)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    assert int(out["godi_event"]) == layout.EVENT_HEADER_SIZE
    assert struct.calcsize(layout.EVENT_HEADER_FORMAT) == layout.EVENT_HEADER_SIZE
    assert int(out["godi_block"]) == layout.BLOCK_HEADER_SIZE
    assert struct.calcsize(layout.BLOCK_HEADER_FORMAT) == layout.BLOCK_HEADER_SIZE
    # The Python format strings read the members in declaration order: check each
    # member's offset and size against the struct module's idea of the format.
    for prefix, fmt in (
        ("godi_event", layout.EVENT_HEADER_FORMAT),
        ("godi_block", layout.BLOCK_HEADER_FORMAT),
    ):
        members = [(k, v) for k, v in out.items() if k.startswith(prefix + ".")]
        at = 0
        for (name, spec), code in zip(members, fmt[1:], strict=True):
            offset, size = map(int, spec.split())
            assert (offset, size) == (at, struct.calcsize("<" + code)), name
            at += size
    assert list(map(int, out["flags"].split())) == [
        layout.EVENT_FLAG_TRUNCATED,
        layout.EVENT_FLAG_STACK_TRUNCATED,
        layout.BLOCK_FLAG_READ_FAILED,
        layout.BLOCK_FLAG_SHORT,
        layout.BLOCK_FLAG_PARTIAL,
        layout.SLOT_POINTER,
        layout.SLOT_STRING,
        layout.SLOT_SLICE,
    ]
    # Heap descriptors (GODI_SLOT_RTYPE): the slot, its words, the bytes copied.
    assert list(map(int, out["rtypes"].split())) == [
        layout.SLOT_RTYPE,
        layout.RTYPE_ELEM,
        layout.RTYPE_VALUE,
        layout.RTYPE_FIELDS,
        layout.RTYPE_ANY,
        layout.RTYPE_COPY,
        layout.RFIELDS_MAX,
    ]
    # A floats record: the event header, then FLOATS_RECORD_FORMAT.
    floats = struct.calcsize(layout.FLOATS_RECORD_FORMAT)
    assert int(out["godi_floats"]) == layout.EVENT_HEADER_SIZE + floats
    at = layout.EVENT_HEADER_SIZE
    for name, code in (("status", "I"), ("mask", "I"), ("rip", "Q"), ("expected", "Q")):
        assert tuple(map(int, out[f"godi_floats.{name}"].split())) == (at, struct.calcsize(code))
        at += struct.calcsize(code)
    assert tuple(map(int, out["godi_floats.xmm"].split())) == (at, 16 * 8)
    assert list(map(int, out["floats"].split())) == [
        layout.EVENT_FLAG_FLOATS_ASKED,
        layout.EVENT_FLAG_FLOATS_REFUSED,
        layout.FLOATS_PROBE_BIT,
        layout.FLOATS_OK,
        layout.FLOATS_PC_MISMATCH,
        layout.FLOATS_READ_FAILED,
        layout.FLOATS_SP_MISMATCH,
    ]
