"""The only module that talks to BCC: compile, fill tables, attach, read, detach.

The generated program has one dispatcher (``godi_dispatch``) attached to every
probe address through a single uprobe_multi link, the attach cookie naming the
probe. When the verifier rejects the dispatcher, each probe is loaded alone to
find the culprits (their verifier message is kept), and the program is rebuilt
without them. Kernels without uprobe_multi get one BCC uprobe per probe.
"""

from __future__ import annotations

import contextlib
import ctypes as ct
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..dump import ProbeCounters
from ..errors import CaptureError
from ..layout import SLOT_KEY_GUARD, SLOT_ZERO, Layout
from ..paths import bpf_dir
from ..redaction import fold_table, guard_hashes
from . import walkload
from ._ringbuf import RingReader
from .disarm import ENTRY, RETURN, Disarmer, DisarmStats, DisarmThread, disarmable_slots
from .floats import FloatsPlan
from .links import BPF_TRACE_UPROBE_MULTI, attach_uprobe_multi, file_offsets

log = logging.getLogger(__name__)

RINGBUF_PAGES = 1024  # 4 MiB


MAX_REDACTED = 8192
"""GODI_MAX_REDACTED in bpf/godi.h: spellings of redacted identifiers (hashes)."""


def wakeup_bytes(ncpus: int) -> int:
    """``GODI_WAKEUP_BYTES``: what one CPU emits before it wakes the reader. With
    every CPU at that point, a quarter of the ring is waiting; the reader's poll
    timer takes whatever comes slower."""
    return max(16 * 1024, RINGBUF_PAGES * 4096 // (4 * ncpus))


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
    # BCC's per-probe uprobes fall back to tracefs and need it to detach cleanly.
    for path in ("/sys/kernel/tracing/uprobe_events", "/sys/kernel/debug/tracing/uprobe_events"):
        if os.path.exists(path):
            return
    if os.path.isdir("/sys/kernel/tracing"):
        os.system("mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null")


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Collect what C code (libbcc printing verifier logs) writes to fd 2."""
    out: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


def verifier_reason(log_text: str, error: str) -> str:
    """A one-line reason from a verifier log: its last meaningful line."""
    lines = [
        ln.strip()
        for ln in log_text.splitlines()
        if ln.strip() and not ln.startswith(("processed ", "HINT", ";")) and ":" not in ln[:5]
    ]
    return lines[-1] if lines else error


class Loaded:
    """A compiled and configured program, ready to attach."""

    def __init__(self, c_source: str, layout: Layout, floats: FloatsPlan | None = None) -> None:
        if os.geteuid() != 0:
            raise CaptureError("capture needs root (CAP_BPF and CAP_PERFMON)")
        _ensure_tracefs()
        self._bcc = _bcc()
        self.layout = layout
        self._guard: tuple[set[int], int] | None = None
        self._key_guard()  # too many spellings: refused before anything is loaded
        self.floats = floats or FloatsPlan()
        self._sigtramp_fd: int | None = None
        self._walk_fd: int | None = None
        self._dispatch_fd: int | None = None
        self._source = c_source
        self.rejected: dict[int, str] = {}
        self.attached: list[int] = []
        self._links: dict[tuple[int, str], int] = {}
        """Link fds: (-1, "all") for the probes that stay armed, (slot, part) for a
        disarmable slot's entry or return sites."""
        self._groups: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
        self._attach_to: tuple[str, int] = ("", 0)
        self.disarmable: set[int] = set()
        self._disarm_thread: DisarmThread | None = None
        self._disarm_stats: dict[int, DisarmStats] = {}
        self._ctl: RingReader | None = None
        self._closers: list[threading.Thread] = []
        self._reader: RingReader | None = None
        self.multi = True
        self.sleepable = True
        """The dispatcher is sleepable and walks in place (bpf/godi.h, godi_read_mem);
        otherwise the walker is a tail-called program that cannot fault pages in."""
        self.bpf = self._compile(())
        try:
            self._load_dispatch()
        except _LoadError as e:
            if "Invalid argument" in str(e) and "processed" not in e.log:
                # The kernel does not know the uprobe_multi attach type.
                log.info("no uprobe_multi links: attaching one uprobe per probe")
                self.multi = self.sleepable = False
                self.bpf.cleanup()
                self.bpf = self._compile((), separate=True)
            elif not self._load_not_sleepable(e):
                self._find_rejected()
        self._setup_tables()

    # -- building ---------------------------------------------------------------

    def _compile(self, skip: tuple[int, ...], separate: bool = False) -> Any:
        cflags = [
            f"-I{bpf_dir()}",
            f"-DGODI_NCPUS={os.cpu_count() or 1}",
            f"-DGODI_RINGBUF_PAGES={RINGBUF_PAGES}",
            f"-DGODI_WAKEUP_BYTES={wakeup_bytes(os.cpu_count() or 1)}",
            "-Wno-unused-function",
            *(f"-DGODI_SKIP_{i}" for i in skip),
        ]
        # Fault injection for the tests: floats records then expect a wrong PC, and
        # the frame check must fail (stages.capture.floats).
        skew = os.environ.get("GODI_FAULT_FLOATS_SKEW", "")
        if skew.isdigit():
            cflags.append(f"-DGODI_FLOATS_SKEW={int(skew)}")
        # Fault injection for the tests: a walk cut short after this many steps.
        steps = os.environ.get("GODI_FAULT_WALK_STEPS", "")
        if steps.isdigit() and 0 < int(steps) <= 1 << 23:
            cflags.append(f"-DGODI_MAX_STEPS={int(steps)}")
        # Fault injection for the tests: the walker's step takes this many bytes
        # more stack, as if it did not fit in the sleepable dispatcher's.
        pad = os.environ.get("GODI_FAULT_STEP_STACK", "")
        if pad.isdigit() and 0 < int(pad) <= 512:
            cflags.append(f"-DGODI_STEP_STACK_PAD={int(pad)}")
        if separate:
            cflags.append("-DGODI_SEPARATE_PROBES")
        elif self.sleepable:
            # The dispatcher is loaded sleepable and walks in place (bpf/godi.h).
            cflags.append("-DGODI_SLEEPABLE")
        try:
            return self._bcc.BPF(text=self._source.encode(), cflags=cflags)
        except Exception as e:
            raise CaptureError(f"BCC could not compile the generated program: {e}") from e

    def _load(self, name: str, attach_type: int = -1) -> Any:
        with _captured_stderr() as text:
            try:
                return self.bpf.load_func(name, self._bcc.BPF.KPROBE, attach_type=attach_type)
            except Exception as e:
                error = str(e)
        raise _LoadError(error, "".join(text))

    def _find_rejected(self) -> None:
        """Load each probe alone to learn which the verifier rejects, and why; then
        rebuild the dispatcher without them.

        All the per-probe programs are compiled at once first; but clang does not
        always keep another probe's code out of a program (it merges the cases of
        the shared switch), so a probe that fails there is compiled again with
        every other probe left out before it is believed rejected."""
        self.bpf.cleanup()
        self.bpf = self._compile((), separate=True)
        suspects = []
        for p in self.layout.probes:
            try:
                self._load(f"{p.bpf_function}_prog")
            except _LoadError:
                suspects.append(p)
        self.bpf.cleanup()
        every = [p.index for p in self.layout.probes]
        for p in suspects:
            self.bpf = self._compile(tuple(i for i in every if i != p.index), separate=True)
            try:
                self._load(f"{p.bpf_function}_prog")
            except _LoadError as e:
                self.rejected[p.index] = (
                    f"rejected by the BPF verifier: {verifier_reason(e.log, str(e))}"
                )
            finally:
                self.bpf.cleanup()
        if len(self.rejected) == len(self.layout.probes):
            raise CaptureError(
                "the BPF verifier rejected every probe: "
                + "; ".join(sorted(set(self.rejected.values())))
            )
        self.bpf = self._compile(tuple(sorted(self.rejected)))
        try:
            self._load_dispatch()
        except _LoadError as e:
            if self._load_not_sleepable(e):
                return
            raise CaptureError(
                f"the BPF verifier rejected the probe dispatcher: {verifier_reason(e.log, str(e))}"
            ) from e

    def _load_not_sleepable(self, e: _LoadError) -> bool:
        """When the sleepable dispatcher is refused for its stack (the walker's
        step runs on top of the probes' frame, and the two share 512 bytes), load
        a dispatcher that tail-calls the walker instead, which cannot fault pages
        in. Returns whether that one loaded; False: ``e`` is another refusal."""
        if not self.sleepable or "combined stack size" not in e.log:
            return False
        log.warning(
            "the probes and the value walker do not fit in one sleepable program's "
            "stack (%s): values in pages the program has not touched yet will be "
            "unavailable",
            verifier_reason(e.log, str(e)),
        )
        self.sleepable = False
        skip = tuple(sorted(self.rejected))
        self.bpf.cleanup()
        self.bpf = self._compile(skip)
        try:
            self._load_dispatch()
        except _LoadError as again:
            if skip:  # probes are left out already: it is the dispatcher itself
                raise CaptureError(
                    "the BPF verifier rejected the probe dispatcher: "
                    + verifier_reason(again.log, str(again))
                ) from again
            self._find_rejected()
        return True

    def _load_dispatch(self) -> None:
        """godi_dispatch: ``sleepable``, with the walker's bpf_loop step linked in,
        so that a value in a page the program has not touched yet is read by
        faulting it in, as a debugger reads it; else as BCC loads it,
        tail-calling the walker."""
        if self.sleepable:
            fd = self._linked(b"godi_dispatch", BPF_TRACE_UPROBE_MULTI, sleepable=True)
        else:
            fd = os.dup(self._load("godi_dispatch", BPF_TRACE_UPROBE_MULTI).fd)
        if self._dispatch_fd is not None:
            os.close(self._dispatch_fd)
        self._dispatch_fd = fd

    def _load_walker(self) -> int:
        """godi_walk with its bpf_loop step linked in; returns its fd, closed with
        the program."""
        try:
            # A tail call target must have the attach type of the program calling it.
            fd = self._linked(b"godi_walk", BPF_TRACE_UPROBE_MULTI if self.multi else -1)
        except _LoadError as e:
            raise CaptureError(
                f"the BPF verifier rejected the value walker: {verifier_reason(e.log, str(e))}"
            ) from e
        if self._walk_fd is not None:
            os.close(self._walk_fd)
        self._walk_fd = fd
        return fd

    def _linked(self, program: bytes, attach_type: int, sleepable: bool = False) -> int:
        """Load ``program`` with godi_walk_step linked in (stages/capture/walkload.py);
        returns its fd."""
        lib = self._bcc.libbcc.lib
        module = self.bpf.module
        try:
            return walkload.load(
                self.bpf.dump_func(program),
                self.bpf.dump_func(b"godi_walk_step"),
                lib.bpf_module_license(module),
                lib.bpf_module_kern_version(module),
                attach_type,
                program=program,
                sleepable=sleepable,
            )
        except walkload.WalkerLoadError as e:
            raise _LoadError(str(e), e.log) from e

    def _setup_tables(self) -> None:
        if not self.sleepable:
            # The programs tail-call the walker (the sleepable dispatcher walks in place).
            self.bpf["godi_progs"][ct.c_int(0)] = ct.c_int(self._load_walker())
        table = self.bpf["godi_types"]
        for t in self.layout.types:
            leaf = table.Leaf()
            leaf.size = t.size
            leaf.n_slots = len(t.slots)
            # What precedes an untouched page is kept (GODI_BLOCK_FLAG_PARTIAL): the
            # map and channel renderers read a map header, bucket, group or hchan
            # only up to where it was read.
            leaf.n_guards = next(
                (j for j, slot in enumerate(t.slots) if slot.kind != SLOT_KEY_GUARD), len(t.slots)
            )
            leaf.n_zeros = sum(slot.kind == SLOT_ZERO for slot in t.slots)
            for j, slot in enumerate(t.slots):
                leaf.slots[j].offset = slot.offset
                leaf.slots[j].kind = slot.kind
                leaf.slots[j].target = slot.target
                leaf.slots[j].aux = slot.aux
                leaf.slots[j].shift = slot.shift
            table[ct.c_int(t.index)] = leaf
        rtypes = self.bpf["godi_rtypes"]
        for rt in self.layout.runtime_types:
            if rt.capture_type is not None:
                rtypes[ct.c_uint64(rt.address)] = ct.c_uint32(rt.capture_type)
        probes = self.bpf["godi_probes"]
        # A return is recognised as its entry's call by the entry's index (godi_frames
        # in bpf/godi.h); a return without an entry probe has its own, which no entry
        # writes: it always reads runtime.g.
        entries = {
            (p.probe_id, p.function): p.index for p in self.layout.probes if p.kind == "entry"
        }
        for p in self.layout.probes:
            info = probes.Leaf()
            info.kind = {"entry": 0, "return": 1, "line": 2}[p.kind]
            info.rate_slot = p.rate_slot
            info.gated = int(p.gated)
            info.cfa_offset = p.cfa_offset
            info.root_type = p.root_type
            info.root_size = p.root_size
            info.pushed_bp = int(p.pushed_bp)
            info.want_stack = int(p.want_stack)
            info.root_refs = p.root_refs
            info.max_depth = p.limits.max_reference_depth
            info.max_len = p.limits.max_length
            info.max_coll = p.limits.max_collection_size
            info.decided = int(p.decided)
            info.call_probe = entries.get((p.probe_id, p.function), p.index)
            mask, length, sp_delta = self.floats.probes.get(p.index, (0, 0, None))
            info.fp_mask, info.fp_next = mask, length
            info.fp_sp_known = int(sp_delta is not None)
            info.fp_sp_delta = sp_delta or 0
            probes[ct.c_int(p.index)] = info
        redacted = self.bpf["godi_redacted"]
        hashes, _ = self._key_guard()
        for h in sorted(hashes):
            redacted[ct.c_uint64(h)] = ct.c_uint8(1)
        fold = self.bpf["godi_fold"]
        leaf = fold.Leaf()
        lower, keep = fold_table()
        ct.memmove(leaf.c, lower, 256)
        ct.memmove(leaf.keep, keep, 256)
        fold[ct.c_int(0)] = leaf
        rates = self.bpf["godi_rates"]
        for r in self.layout.rates:
            leaf = rates.Leaf()
            if r.per_second:
                leaf.interval_ns = max(1, int(1e9 / r.per_second))
                # Up to one second's worth of hits may come at once.
                leaf.burst_ns = max(0, 1_000_000_000 - leaf.interval_ns)
            rates[ct.c_int(r.slot)] = leaf
        self.set_target(0)

    def _key_guard(self) -> tuple[set[int], int]:
        """The hashes of every spelling of the redacted identifiers that the BPF key
        guard can see (``redaction.guard_hashes``), and the longest's bytes."""
        if self._guard is None:
            try:
                self._guard = guard_hashes(self.layout.redacted_keys, MAX_REDACTED)
            except ValueError as e:
                raise CaptureError(
                    f"{e}: the BPF program checks map keys against at most {MAX_REDACTED}"
                ) from e
        return self._guard

    def set_target(self, target_tgid: int) -> None:
        """Only events of process ``target_tgid`` (0: any process) are captured."""
        self._target = target_tgid
        table = self.bpf["godi_config"]
        leaf = table.Leaf()
        leaf.target_tgid = target_tgid
        goid, stack_hi = self.layout.goid_offset, self.layout.stack_hi_offset
        leaf.goid_offset = goid
        leaf.stack_hi_offset = stack_hi
        leaf.read_g = 1
        leaf.floats = int(self.floats.enabled)
        leaf.sig_wanted = self.floats.sig_wanted
        # Map keys longer than this (normalised) are never redacted (godi_key_redacted).
        leaf.key_max = self._key_guard()[1]
        # Descriptors reflect made on the heap are copied (godi_rtype_ref).
        rtype = next((t.index for t in self.layout.types if t.role == "rtype"), 0)
        if rtype and self.layout.types_end > self.layout.types_start:
            leaf.types_lo = self.layout.types_start
            leaf.types_hi = self.layout.types_end
            leaf.rtype_type = rtype
        table[ct.c_int(0)] = leaf

    # -- attaching --------------------------------------------------------------

    def attach(
        self,
        binary: str,
        pid: int,
        refused: dict[int, str] | None = None,
        disarm: bool = True,
    ) -> list[tuple[int, str]]:
        """Attach every probe but the ``refused`` ones (probe index -> why) to the
        file ``binary``; returns (probe index, reason) for those not attached.

        With ``disarm`` (and uprobe_multi links), the probes ``disarm.py`` may take
        out while their budget is spent get links of their own, for
        ``start_disarming``."""
        skipped = {**self.rejected, **(refused or {})}
        failures = sorted(skipped.items())
        # Uprobes on one instruction run last attached first: a return probe on a
        # body that is a bare RET (at its entry's address) is attached before the
        # entry, so that the entry runs first and the return pairs with it.
        wanted = sorted(
            (p for p in self.layout.probes if p.index not in skipped),
            key=lambda p: (p.pc, p.kind != "return"),
        )
        if not wanted:
            return failures
        self._attach_sigtramp(binary, pid)
        if self.multi:
            offsets = dict(
                zip(
                    (p.index for p in wanted),
                    file_offsets(binary, [p.pc for p in wanted]),
                    strict=True,
                )
            )
            self.disarmable = disarmable_slots(self.layout) if disarm else set()
            groups: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
            for p in wanted:
                if p.rate_slot in self.disarmable:
                    key = (p.rate_slot, RETURN if p.kind == "return" else ENTRY)
                else:
                    key = (-1, "all")
                offs, cookies = groups.setdefault(key, ([], []))
                offs.append(offsets[p.index])
                cookies.append(p.index)
            self._groups = groups
            self._attach_to = (binary, pid)
            # Returns before entries: a call whose entry is captured finds its return.
            for key in sorted(groups, key=lambda k: k[1] != RETURN):
                try:
                    self._link(key)
                except OSError as e:
                    raise CaptureError(f"attaching the uprobes to {binary} failed: {e}") from e
            self.attached = [p.index for p in wanted]
            rates = self.bpf["godi_rates"]
            for slot in self.disarmable:
                leaf = rates[ct.c_int(slot)]
                leaf.disarm = 1
                rates[ct.c_int(slot)] = leaf
            return failures
        for p in wanted:
            try:
                self.bpf.attach_uprobe(
                    name=binary,
                    addr=p.pc,
                    fn_name=f"{p.bpf_function}_prog",
                    pid=pid if pid > 0 else -1,
                )
                self.attached.append(p.index)
            except Exception as e:
                failures.append((p.index, str(e)))
        return failures

    def _attach_sigtramp(self, binary: str, pid: int) -> None:
        """The floats uprobe on the runtime's signal entry, before the probes that
        signal; when it cannot be loaded or attached, floats are turned off (the
        probes go on without them)."""
        plan = self.floats
        if not plan.enabled or plan.sigtrampgo is None:
            return
        try:
            prog = self._load("godi_sigtramp", BPF_TRACE_UPROBE_MULTI if self.multi else -1)
            if self.multi:
                (offset,) = file_offsets(binary, [plan.sigtrampgo])
                self._sigtramp_fd = attach_uprobe_multi(prog.fd, binary, [offset], [0], pid)
            else:
                self.bpf.attach_uprobe(
                    name=binary,
                    addr=plan.sigtrampgo,
                    fn_name="godi_sigtramp",
                    pid=pid if pid > 0 else -1,
                )
        except Exception as e:  # floats are optional: the probes go on without them
            reason = verifier_reason(e.log, str(e)) if isinstance(e, _LoadError) else str(e)
            log.warning("floats: the signal-entry probe cannot be installed (%s): off", reason)
            plan.enabled = False
            plan.notes += [(i, f"floats off: {reason}") for i in sorted(plan.probes)]
            plan.probes.clear()
            self.set_target(self._target)
            return

    def _link(self, key: tuple[int, str]) -> None:
        offs, cookies = self._groups[key]
        binary, pid = self._attach_to
        if self._dispatch_fd is None:
            raise CaptureError("the probe dispatcher is not loaded")
        self._links[key] = attach_uprobe_multi(self._dispatch_fd, binary, offs, cookies, pid)

    def _unlink(self, key: tuple[int, str], wait: bool = True) -> None:
        """Close a link. The kernel takes the breakpoints out at once, then waits
        for an RCU grace period (tens of ms) before close returns: without
        ``wait`` that wait is left to a thread of its own, so that the disarmer
        can take the next step (a probe's returns after its entry) meanwhile."""
        fd = self._links.pop(key, None)
        if fd is None:
            return
        if wait:
            os.close(fd)
            return
        closer = threading.Thread(target=os.close, args=(fd,), name="godi-unlink", daemon=True)
        closer.start()
        self._closers = [t for t in self._closers if t.is_alive()] + [closer]

    def _set_armed(self, slot: int, part: str, armed: bool) -> bool:
        key = (slot, part)
        if key not in self._groups:
            return True
        try:
            if armed and key not in self._links:
                self._link(key)
            elif not armed:
                self._unlink(key, wait=False)
        except OSError as e:
            log.info("rate slot %d: %s %s: %s", slot, "arming" if armed else "disarming", part, e)
            return False
        return True

    def _rate(self, slot: int) -> Any:
        return self.bpf["godi_rates"][ct.c_int(slot)]

    def _spent_until(self, slot: int) -> int | None:
        """When ``slot``'s next token is due, if its budget has been spent for a
        while (its last allowed hit 5 ms ago or more: that hit has counted its
        call in flight by then); None otherwise."""
        r = self._rate(slot)
        now = time.monotonic_ns()
        due = int(r.tat) - int(r.burst_ns)
        last_allowed = int(r.tat) - int(r.interval_ns)
        return due if due > now and last_allowed + 5_000_000 < now else None

    def _wait_returns(self, slot: int, n: int) -> None:
        """BPF tells the disarmer when ``slot``'s calls in flight fall below ``n``
        (0: never)."""
        self.bpf["godi_waiting"][ct.c_int(slot)] = ct.c_uint64(n)

    def start_disarming(self) -> None:
        """Take the disarmable probes out while their budget is spent (disarm.py),
        in a thread, until ``detach``."""
        if not self.disarmable or self._disarm_thread is not None:
            return
        slots = {s: (s, RETURN) in self._groups for s in self.disarmable}
        disarmer = Disarmer(
            slots,
            self._set_armed,
            self._spent_until,
            lambda slot: int(self._rate(slot).inflight),
            time.monotonic_ns(),
            self._wait_returns,
        )
        ctl = RingReader(self.bpf["godi_ctl"].map_fd, -1)
        self._ctl = ctl
        self._disarm_thread = DisarmThread(disarmer, ctl.poll)
        self._disarm_thread.start()

    def disarm_stats(self) -> dict[int, DisarmStats]:
        """Per disarmable rate slot, what disarming did (empty when nothing was)."""
        return self._disarm_stats

    def _stop_disarming(self) -> None:
        thread = self._disarm_thread
        if thread is None:
            return
        thread.stop()
        self._disarm_stats = thread.disarmer.stats(time.monotonic_ns())
        self._disarm_thread = None
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None

    # -- reading ----------------------------------------------------------------

    def open_reader(self, limit: int | None = None) -> None:
        """Map the events ring buffer for ``poll`` and ``drain``, keeping at most
        ``limit`` events (None: all); later ones are consumed and not kept."""
        self._reader = RingReader(self.bpf["godi_events"].map_fd, -1 if limit is None else limit)

    def poll(self, timeout_ms: int) -> bytes:
        """Wait up to ``timeout_ms`` for a wakeup, then take every event in the ring:
        framed dump EVENT records (``DumpWriter.events``)."""
        return self._ring().poll(timeout_ms)

    def drain(self) -> bytes:
        """Every event already in the ring, as ``poll`` gives them."""
        return self._ring().drain()

    @property
    def kept(self) -> int:
        """Events taken from the ring so far (within the limit)."""
        return self._ring().kept

    @property
    def over_limit(self) -> int:
        """Events taken from the ring and not kept: beyond the limit."""
        return self._ring().over_limit

    def _ring(self) -> RingReader:
        if self._reader is None:
            raise CaptureError("the ring buffer reader is not open (open_reader)")
        return self._reader

    def counters(self) -> dict[str, ProbeCounters]:
        """Per-probe counters, summed over CPUs."""
        table = self.bpf["godi_counters"]
        out: dict[str, ProbeCounters] = {}
        for p in self.layout.probes:
            per_cpu = table[ct.c_int(p.index)]
            hits = sum(c.hits for c in per_cpu)
            disarmed = self._disarm_stats.get(p.rate_slot) if p.kind != "return" else None
            out[str(p.index)] = ProbeCounters(
                disarmed_ns=disarmed.disarmed_ns if disarmed else 0,
                not_observed=disarmed.not_observed_estimate(hits) if disarmed else 0,
                hits=hits,
                emitted=sum(c.emitted for c in per_cpu),
                dropped=sum(c.dropped for c in per_cpu),
                truncated=sum(c.truncated for c in per_cpu),
                sampled_out=sum(c.sampled_out for c in per_cpu),
                condition_false=sum(c.condition_false for c in per_cpu),
            )
        return out

    # -- detaching --------------------------------------------------------------

    def detach(self) -> None:
        """Remove every uprobe (the program stays loaded: counters remain readable)."""
        self._stop_disarming()
        # Each close waits for its own RCU grace period (tens of ms): one after the
        # other, a disarming capture's ~2 links per probe took 26 s to detach 500
        # probes; closed side by side the waits overlap (under 1 s).
        fds = [self._links.pop(key) for key in list(self._links)]
        with ThreadPoolExecutor(max_workers=64, thread_name_prefix="godi-unlink") as pool:
            list(pool.map(os.close, fds))
        for closer in self._closers:
            closer.join()
        self._closers = []
        # After the probes: no hit can ask for a frame any more.
        if self._sigtramp_fd is not None:
            os.close(self._sigtramp_fd)
            self._sigtramp_fd = None
        for name in list(self.bpf.uprobe_fds):
            self.bpf.detach_uprobe_event(name)

    def close(self) -> None:
        """Detach every probe and free the program."""
        try:
            if self._reader is not None:
                self._reader.close()
            self.detach()
            self.bpf.cleanup()
            for fd in (self._walk_fd, self._dispatch_fd):
                if fd is not None:
                    os.close(fd)
            self._walk_fd = self._dispatch_fd = None
        except Exception as e:  # detaching must not hide the capture's result
            log.warning("detaching probes: %s", e)


class _LoadError(Exception):
    def __init__(self, message: str, log_text: str) -> None:
        super().__init__(message)
        self.log = log_text
