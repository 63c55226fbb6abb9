"""The only module that talks to BCC: compile, fill tables, attach, read, detach."""

from __future__ import annotations

import ctypes as ct
import logging
import os
from collections.abc import Callable
from typing import Any

from ..dump import ProbeCounters
from ..errors import CaptureError
from ..layout import Layout
from ..paths import bpf_dir

log = logging.getLogger(__name__)

RINGBUF_PAGES = 1024  # 4 MiB


def _bcc() -> Any:
    try:
        import bcc
    except ImportError as e:
        raise CaptureError(
            "BCC is not available to this Python (install python3-bpfcc and use the "
            "project's virtualenv: scripts/bootstrap.sh)"
        ) from e
    return bcc


def _ensure_tracefs() -> None:
    # BCC falls back to tracefs for uprobes and needs it to detach cleanly.
    if os.path.exists("/sys/kernel/tracing/uprobe_events"):
        return
    if os.path.exists("/sys/kernel/debug/tracing/uprobe_events"):
        return
    if os.path.isdir("/sys/kernel/tracing"):
        rc = os.system("mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null")
        if rc == 0:
            return
    raise CaptureError("tracefs is not mounted at /sys/kernel/tracing and cannot be mounted")


class Loaded:
    """A compiled and configured program, ready to attach."""

    def __init__(self, c_source: str, layout: Layout) -> None:
        if os.geteuid() != 0:
            raise CaptureError("capture needs root (CAP_BPF and CAP_PERFMON)")
        _ensure_tracefs()
        bcc = _bcc()
        self._bcc = bcc
        self.layout = layout
        cflags = [
            f"-I{bpf_dir()}",
            f"-DGODI_NCPUS={os.cpu_count() or 1}",
            f"-DGODI_RINGBUF_PAGES={RINGBUF_PAGES}",
            "-Wno-unused-function",
        ]
        try:
            self.bpf = bcc.BPF(text=c_source, cflags=cflags)
        except Exception as e:
            raise CaptureError(f"BCC could not compile the generated program: {e}") from e
        self._fill_types()
        self.set_target(0)
        walk = self.bpf.load_func("godi_walk", bcc.BPF.KPROBE)
        self.bpf["godi_progs"][ct.c_int(0)] = ct.c_int(walk.fd)
        self.attached: list[int] = []

    def _fill_types(self) -> None:
        table = self.bpf["godi_types"]
        for t in self.layout.types:
            leaf = table.Leaf()
            leaf.size = t.size
            leaf.n_slots = len(t.slots)
            for j, slot in enumerate(t.slots):
                leaf.slots[j].offset = slot.offset
                leaf.slots[j].kind = slot.kind
                leaf.slots[j].target = slot.target
            table[ct.c_int(t.index)] = leaf

    def set_target(self, target_tgid: int) -> None:
        """Only events of process ``target_tgid`` (0: any process) are captured."""
        table = self.bpf["godi_config"]
        leaf = table.Leaf()
        leaf.target_tgid = target_tgid
        leaf.goid_offset = self.layout.goid_offset
        leaf.stack_hi_offset = self.layout.stack_hi_offset
        table[ct.c_int(0)] = leaf

    def attach(self, binary: str, pid: int) -> list[tuple[int, str]]:
        """Attach every probe's uprobe; returns (probe index, error) for failures."""
        failures: list[tuple[int, str]] = []
        for p in self.layout.probes:
            try:
                self.bpf.attach_uprobe(
                    name=binary, addr=p.pc, fn_name=p.bpf_function, pid=pid if pid > 0 else -1
                )
                self.attached.append(p.index)
            except Exception as e:
                failures.append((p.index, str(e)))
        return failures

    def on_event(self, callback: Callable[[bytes], None]) -> None:
        """Call ``callback`` with each raw event's bytes while polling."""

        def _cb(_ctx: Any, data: Any, size: int) -> int:
            callback(ct.string_at(data, size))
            return 0

        self._cb = _cb  # keep a reference: BCC holds only a ctypes pointer
        self.bpf["godi_events"].open_ring_buffer(_cb)

    def poll(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` for events and deliver them."""
        self.bpf.ring_buffer_poll(timeout_ms)

    def drain(self) -> None:
        """Deliver every event already in the ring buffer."""
        self.bpf.ring_buffer_consume()

    def counters(self) -> dict[str, ProbeCounters]:
        """Per-probe counters, summed over CPUs."""
        table = self.bpf["godi_counters"]
        out: dict[str, ProbeCounters] = {}
        for p in self.layout.probes:
            per_cpu = table[ct.c_int(p.index)]
            out[str(p.index)] = ProbeCounters(
                hits=sum(c.hits for c in per_cpu),
                emitted=sum(c.emitted for c in per_cpu),
                dropped=sum(c.dropped for c in per_cpu),
                truncated=sum(c.truncated for c in per_cpu),
            )
        return out

    def close(self) -> None:
        """Detach every probe and free the program."""
        try:
            self.bpf.cleanup()
        except Exception as e:  # detaching must not hide the capture's result
            log.warning("detaching probes: %s", e)
