"""Stage 3, capture: run the generated program against a live process.

``capture(...)`` compiles ``probes.bpf.c``, attaches one uprobe per probe (before
the target's ``main`` when godi launches it), streams each event from the ring
buffer into the dump as it arrives, and when the target exits, the duration is
over, enough events came or the user interrupts, writes the per-probe counters
and detaches. The dump is complete and readable whatever stopped the capture.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..artifacts import load_c_source, load_layout, program_hash
from ..buildid import read_build_id
from ..dump import Counters, DumpHeader, DumpWriter, Notice, ProbeCounters
from ..errors import CaptureError, TargetError
from ..layout import Layout
from .target import Target, attach_pid, launch_stopped, resolve_executable, resume, stop

log = logging.getLogger(__name__)

__all__ = ["CaptureResult", "capture", "describe_attachments"]


@dataclass
class CaptureResult:
    """What a capture did: events written, counters, why it stopped."""

    events: int
    counters: dict[str, ProbeCounters]
    stop_reason: str
    exit_status: int | None
    attach_failures: list[tuple[str, str]]


@contextmanager
def _interruptible() -> Iterator[list[bool]]:
    flag = [False]

    def handler(_sig: int, _frame: object) -> None:
        flag[0] = True

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _check_binary(layout: Layout, binary: str) -> None:
    got = read_build_id(binary)
    if got != layout.binary_build_id:
        raise TargetError(
            f"{binary} has build id {got or '(none)'}, but the program was generated for "
            f"{layout.binary_build_id}: run irgen and codegen on this binary"
        )


def describe_attachments(program_dir: str, binary: str | None = None) -> list[str]:
    """What ``capture`` would attach, one line per uprobe (for ``--dry-run``)."""
    layout = load_layout(program_dir)
    where = binary or "<target binary>"
    lines = []
    for p in layout.probes:
        nvars = sum(1 for v in p.variables if v.root_offset is not None)
        lines.append(
            f"uprobe {where}:0x{p.pc:x}  {p.function} ({p.kind})  probe {p.probe_id} "
            f"v{p.probe_version}  -> {p.bpf_function}, {nvars}/{len(p.variables)} "
            f"variables readable" + (", condition decided in BPF" if p.decided else "")
        )
    for issue in layout.issues:
        lines.append(f"skipped probe {issue.probe_id}: {issue.message}")
    return lines


def capture(
    program_dir: str,
    out_path: str,
    *,
    command: list[str] | None = None,
    pid: int | None = None,
    binary: str | None = None,
    duration: float | None = None,
    max_events: int | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> CaptureResult:
    """Capture events from a launched ``command``, a running ``pid``, or every
    process running ``binary``; write them to ``out_path``. ``on_ready`` is called
    with the number of attached uprobes once they are in place.

    Raises TargetError when the target cannot be started or found, CaptureError
    when the program cannot be loaded or no probe attaches.
    """
    from .bpfload import Loaded

    layout = load_layout(program_dir)
    c_source = load_c_source(program_dir)
    phash = program_hash(program_dir)

    if not command and pid is None and not binary:
        raise TargetError("give a command to launch, a --pid, or a --binary")
    if command:
        _check_binary(layout, resolve_executable(command))
    elif binary:
        _check_binary(layout, binary)
    # Compile before starting anything: a program that does not load must not
    # leave a half-started target behind.
    loaded = Loaded(c_source, layout)
    target: Target | None = None
    try:
        if command:
            target = launch_stopped(command)
        elif pid is not None:
            target = attach_pid(pid)
            _check_binary(layout, target.binary)
        binary_path = target.binary if target else os.path.realpath(binary or "")
        loaded.set_target(target.pid if target else 0)
        failures = loaded.attach(binary_path, target.pid if target else -1)
        if not loaded.attached:
            detail = "; ".join(f"{layout.probes[i].probe_id}: {m}" for i, m in failures)
            raise CaptureError(f"no probe could be attached: {detail}")
        mode = "launch" if command else ("pid" if pid is not None else "binary")
        header = DumpHeader(
            tool_version=__version__,
            build_id=layout.binary_build_id,
            program_hash=phash,
            clock_offset_ns=time.clock_gettime_ns(time.CLOCK_REALTIME)
            - time.clock_gettime_ns(time.CLOCK_MONOTONIC),
            pid=target.pid if target else 0,
            command=target.command if target else [binary_path],
            mode=mode,
        )
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        with open(out_path, "wb") as out:
            writer = DumpWriter(out, header)
            for index, message in failures:
                p = layout.probes[index]
                log.warning("probe %s (%s) not attached: %s", p.probe_id, p.function, message)
                writer.notice(Notice(probe_id=p.probe_id, kind="attach_failed", message=message))
            loaded.open_reader(max_events)
            if on_ready is not None:
                on_ready(len(loaded.attached))
            reason = _run(loaded, writer, target, duration, max_events)
            # Detached first, so that the last drain takes every event the
            # counters count: emitted = events in the dump + lost_records.
            loaded.detach()
            writer.events(loaded.drain())
            counters = loaded.counters()
            # Only a target that ended on its own passes its status on.
            status = target.exit_status() if target and reason.startswith("target") else None
            writer.counters(
                Counters(probes=counters, lost_records=loaded.over_limit, stop_reason=reason)
            )
            writer.flush()
        return CaptureResult(
            events=loaded.kept,
            counters=counters,
            stop_reason=reason,
            exit_status=status,
            attach_failures=[(layout.probes[i].probe_id, m) for i, m in failures],
        )
    finally:
        loaded.close()
        if target is not None and target.launched is not None and target.alive():
            # Still stopped (setup failed) or still running (duration): it is ours.
            os.kill(target.pid, signal.SIGCONT)
            stop(target)


def _run(
    loaded: object,
    writer: DumpWriter,
    target: Target | None,
    duration: float | None,
    max_events: int | None,
) -> str:
    from .bpfload import Loaded

    assert isinstance(loaded, Loaded)
    deadline = time.monotonic() + duration if duration else None
    with _interruptible() as interrupted:
        if target is not None and target.launched is not None:
            resume(target)
        while True:
            writer.events(loaded.poll(50))
            if interrupted[0]:
                return "interrupted"
            if max_events is not None and loaded.kept >= max_events:
                return "max-events"
            if deadline is not None and time.monotonic() >= deadline:
                return "duration"
            if target is not None and not target.alive():
                status = target.exit_status()
                return "target exited" + (f" with status {status}" if status is not None else "")
