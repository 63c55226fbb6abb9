"""Map the target's non-executable pages of its own binary before probes read them.

A uprobe program reads user memory with page faults disabled: a page the process
has never touched has no page-table entry, and the read fails although the bytes
exist. For the binary's read-only data (string literals, type descriptors) the
bytes are those of the file, but a failed read still makes the value unavailable.

Reading those mappings once through ``/proc/PID/mem`` makes the kernel install
their page-table entries in the target (a remote read faults pages in as the
process's own read would), so later probe reads find them. The read never writes
and never changes a value: a private writable page of the binary that is faulted
in for reading still holds its current bytes, and the process's first write
copies it as before. Executable mappings are left alone (probes read data, not
code), and the total is bounded (``LIMIT``), so the cost is a fraction of the
binary's data, read once.

Only when the programs are not sleepable (kernels without uprobe_multi links,
or probes too big to share a sleepable program's stack with the walker): the
sleepable dispatcher faults such a page in when it reads it (bpf/godi.h,
godi_read_mem).
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

LIMIT = 256 << 20
"""At most this many bytes are read (a larger data part is read up to it)."""

CHUNK = 1 << 20


def binary_data_ranges(pid: int, binary: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each non-executable mapping of ``binary`` (same
    device and inode) in process ``pid``."""
    st = os.stat(binary)
    ranges = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or "x" in fields[1] or "r" not in fields[1]:
                continue
            major, minor = (int(x, 16) for x in fields[3].split(":"))
            if int(fields[4]) != st.st_ino or os.makedev(major, minor) != st.st_dev:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def prefault(pid: int, binary: str) -> int:
    """Fault in the data mappings of ``binary`` in ``pid``; the bytes read.

    Best effort: a process that exits or a range that cannot be read is logged and
    skipped (probes then report the values they could not read, as without it).
    """
    done = 0
    try:
        ranges = binary_data_ranges(pid, binary)
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except OSError as e:
        log.debug("prefault of PID %d: %s", pid, e)
        return 0
    try:
        for start, end in ranges:
            at = start
            while at < end and done < LIMIT:
                size = min(CHUNK, end - at, LIMIT - done)
                try:
                    got = len(os.pread(fd, size, at))
                except OSError as e:
                    log.debug("prefault of PID %d at 0x%x: %s", pid, at, e)
                    break
                if got == 0:
                    break
                done += got
                at += got
    finally:
        os.close(fd)
    log.debug("prefault of PID %d: %d bytes of %s", pid, done, binary)
    return done


def prefault_after_exec(pid: int, binary: str, timeout: float = 2.0) -> int:
    """``prefault`` once process ``pid`` runs ``binary`` (a launched target leaves
    its gate by exec); 0 if it does not within ``timeout`` seconds or exits.

    The target runs meanwhile: calls it makes in the first moments may still find
    a page unmapped (then unavailable, as without this)."""
    try:
        want = os.stat(binary)
    except OSError:
        return 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            st = os.stat(f"/proc/{pid}/exe")
        except OSError:
            return 0
        if (st.st_ino, st.st_dev) == (want.st_ino, want.st_dev):
            return prefault(pid, binary)
        if time.monotonic() >= deadline:
            return 0
        time.sleep(0.0002)
