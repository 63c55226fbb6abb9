"""Stage 3, capture: run the generated program against a live process.

``capture(...)`` checks the binary the probes go into (``identity``: the very
file, its content, each address an instruction start), compiles ``probes.bpf.c``,
attaches one uprobe per probe (before the target's first instruction when godi
launches it, behind the gate of ``target``), streams each event from the ring
buffer into the dump as it arrives, and when the target exits, the duration is
over, enough events came or the user interrupts, writes the per-probe counters
and detaches. The dump is complete and readable whatever stopped the capture; a
full disk stops it early, with what was written still readable up to the cut.
godi never signals a target: one it launched runs on, or ends on its own terms.
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
from typing import TYPE_CHECKING, BinaryIO, cast

from .. import __version__
from ..artifacts import create_private, load_c_source, load_layout, program_hash
from ..dump import Counters, DumpHeader, DumpWriter, Notice, ProbeCounters
from ..errors import CaptureError, OutputError, TargetError
from ..irgen.elf import open_elf
from ..layout import Layout
from .floats import FloatsMode, FloatsPlan, plan_floats
from .identity import CheckedBinary, open_checked
from .prefault import prefault, prefault_after_exec
from .target import Target, attach_pid, find_executable, launch_gated

if TYPE_CHECKING:
    from .bpfload import Loaded

log = logging.getLogger(__name__)

__all__ = ["CaptureResult", "capture", "describe_attachments"]


@dataclass
class CaptureResult:
    """What a capture did: events written, counters, why it stopped."""

    events: int
    counters: dict[str, ProbeCounters]
    stop_reason: str
    exit_status: int | None
    attach_failures: list[tuple[str, str, str]]
    """(probe id, which of its uprobes: ``ProbeLayout.uprobe``, why)."""
    left_running: int | None = None
    """The PID of a launched target still running when the capture stopped."""


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


def describe_attachments(program_dir: str, binary: str | None = None) -> list[str]:
    """What ``capture`` would attach, one line per uprobe (for ``--dry-run``).

    With the path of an existing ``binary``, it is checked as capture checks it
    (``identity.open_checked``): refused probes say why, and another binary raises
    ``TargetError``.
    """
    layout = load_layout(program_dir)
    where = binary or "<target binary>"
    refused: dict[int, str] = {}
    if binary and os.path.exists(binary):
        checked = open_checked(binary, layout)
        refused = checked.refused
        checked.close()
    lines = []
    for p in layout.probes:
        if p.index in refused:
            lines.append(f"refused probe {p.probe_id} ({p.function}): {refused[p.index]}")
            continue
        nvars = sum(1 for v in p.variables if v.root_offset is not None)
        lines.append(
            f"uprobe {where}:0x{p.pc:x}  {p.function} ({p.kind})  probe {p.probe_id} "
            f"v{p.probe_version}  -> {p.bpf_function}, {nvars}/{len(p.variables)} "
            f"variables readable" + (", condition decided in BPF" if p.decided else "")
        )
    for issue in layout.issues:
        lines.append(f"skipped probe {issue.probe_id}: {issue.message}")
    return lines


class _Output:
    """The dump file, unbuffered: each write goes to the file at once, and the first
    that fails (a full disk...) stops every later one, so the file holds exactly the
    records written before the failure (the last one possibly cut, which decode
    reports)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = create_private(path)  # closed by close()
        except OSError as e:
            raise OutputError(path, f"cannot write the dump: {e.strerror}") from e
        self.error: OSError | None = None
        self.written = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view and self.error is None:
            try:
                n = self._file.write(view)
            except OSError as e:
                self.error = e
                break
            self.written += n or 0
            view = view[n or 0 :]
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as e:
            self.error = self.error or e

    def failure(self, target: Target | None) -> OutputError:
        """The error to report for ``self.error``."""
        assert self.error is not None
        fate = ""
        if target is not None and target.launched is not None:
            fate = (
                f"; the target (PID {target.pid}) runs on"
                if target.alive()
                else f"; the target exited with status {target.exit_status()}"
            )
        return OutputError(
            self.path,
            f"cannot write the dump: {self.error.strerror or self.error} after {self.written} "
            "bytes: capture stopped there, and decode reads the dump up to the cut" + fate,
        )


GRACE_S = 1.0
"""After an interruption, how long godi waits for a launched target to exit (it got
the terminal's Ctrl-C too) before leaving it running."""


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
    floats: FloatsMode = "auto",
    disarm: bool = True,
) -> CaptureResult:
    """Capture events from a launched ``command``, a running ``pid``, or every
    process running ``binary``; write them to ``out_path``. ``on_ready`` is called
    with the number of attached uprobes once they are in place. With ``disarm``, a
    rate-limited probe without a condition is out of the process while its budget
    is spent (``disarm``); without, every probe traps every call.

    The file the probes go into is checked first (``identity.open_checked``): a
    probe at an address that is not an instruction start of that file is refused,
    another binary refuses the capture. A launched target always runs and is
    never signalled by godi: when the capture stops before it exits (duration,
    max-events, interruption, an error), it is left running
    (``CaptureResult.left_running``). A ``pid`` or ``binary`` target is only
    probed. ``floats``: whether captured hits are signalled for their vector
    registers (``capture.floats``): ``auto`` unless the program handles SIGURG,
    ``always``, or ``never``.

    Raises TargetError when the target cannot be started or found, or is not the
    binary of the program; CaptureError when the program cannot be loaded or no
    probe attaches; OutputError when the dump cannot be written (what was written
    stays readable).
    """
    from .bpfload import Loaded

    layout = load_layout(program_dir)
    c_source = load_c_source(program_dir)
    phash = program_hash(program_dir)

    if not command and pid is None and not binary:
        raise TargetError("give a command to launch, a --pid, or a --binary")
    found: Target | None = None
    if command:
        exe = find_executable(command)
        checked = open_checked(exe, layout)
    elif pid is not None:
        found = attach_pid(pid)
        checked = open_checked(f"/proc/{pid}/exe", layout, name=f"{found.binary} (PID {pid})")
    else:
        exe = os.path.realpath(binary or "")
        checked = open_checked(exe, layout, name=binary)
    try:
        with _interruptible() as interrupted:
            # Compile before starting anything: a program that does not load must
            # not leave a half-started target behind.
            with open_elf(checked.attach_path) as image:
                plan = plan_floats(image, layout, floats)
            loaded = Loaded(c_source, layout, plan)
            try:
                if interrupted[0]:
                    raise CaptureError("interrupted before anything was attached")
                output = _Output(out_path)
                try:
                    return _capture(
                        loaded,
                        layout,
                        checked,
                        output,
                        phash=phash,
                        command=command,
                        found=found,
                        duration=duration,
                        max_events=max_events,
                        on_ready=on_ready,
                        interrupted=interrupted,
                        disarm=disarm,
                    )
                finally:
                    output.close()
            finally:
                loaded.close()
    finally:
        checked.close()


def _capture(
    loaded: Loaded,
    layout: Layout,
    checked: CheckedBinary,
    output: _Output,
    *,
    phash: str,
    command: list[str] | None,
    found: Target | None,
    duration: float | None,
    max_events: int | None,
    on_ready: Callable[[int], None] | None,
    interrupted: list[bool],
    disarm: bool,
) -> CaptureResult:
    """``capture`` once the program is loaded, the binary checked and the output open."""
    target = found
    try:
        if command:
            target = launch_gated(command, checked.path)
        loaded.set_target(target.pid if target else 0)
        failures = loaded.attach(
            checked.attach_path, target.pid if target else -1, checked.refused, disarm=disarm
        )
        if not loaded.attached:
            detail = "; ".join(
                f"{layout.probes[i].probe_id} {layout.probes[i].uprobe}: {m}" for i, m in failures
            )
            raise CaptureError(f"no probe could be attached: {detail}")
        mode = "launch" if command else ("pid" if found is not None else "binary")
        header = DumpHeader(
            tool_version=__version__,
            build_id=layout.binary_build_id,
            program_hash=phash,
            clock_offset_ns=time.clock_gettime_ns(time.CLOCK_REALTIME)
            - time.clock_gettime_ns(time.CLOCK_MONOTONIC),
            pid=target.pid if target else 0,
            command=target.command if target else [checked.path],
            mode=mode,
        )
        writer = DumpWriter(cast(BinaryIO, output), header)
        for index, message in failures:
            p = layout.probes[index]
            log.warning("probe %s %s: not attached: %s", p.probe_id, p.uprobe, message)
            writer.notice(
                Notice(probe_id=p.probe_id, kind="attach_failed", message=f"{p.uprobe}: {message}")
            )
        _floats_notices(writer, layout, loaded.floats)
        loaded.open_reader(max_events)
        loaded.start_disarming()
        if on_ready is not None:
            on_ready(len(loaded.attached))
        if target is not None:
            target.release()
            # Programs that are not sleepable cannot fault the binary's unread
            # data pages in; the sleepable dispatcher does (bpf/godi.h, godi_read_mem).
            if not loaded.sleepable and target.launched is not None:
                prefault_after_exec(target.pid, checked.attach_path)
            elif not loaded.sleepable:
                prefault(target.pid, checked.attach_path)
        reason = _run(loaded, writer, output, target, duration, max_events, interrupted)
        # Detached first, so that the last drain takes every event the
        # counters count: emitted = events in the dump + lost_records.
        loaded.detach()
        writer.events(loaded.drain())
        counters = loaded.counters()
        writer.counters(
            Counters(probes=counters, lost_records=loaded.over_limit, stop_reason=reason)
        )
        if output.error is not None:
            raise output.failure(target)
        status: int | None = None
        left_running: int | None = None
        if target is not None and target.launched is not None:
            if reason == "interrupted":
                target.wait(GRACE_S)
            # A launched target that has ended passes its status on; one that runs
            # on is left to run.
            if target.alive():
                left_running = target.pid
            else:
                status = target.exit_status()
        return CaptureResult(
            events=loaded.kept,
            counters=counters,
            stop_reason=reason,
            exit_status=status,
            attach_failures=[
                (layout.probes[i].probe_id, layout.probes[i].uprobe, m) for i, m in failures
            ],
            left_running=left_running,
        )
    finally:
        if target is not None:
            # Whatever went wrong, a launched target runs: without probes if they
            # are not attached yet (the gate opens), never signalled.
            target.release()
        if output.written == 0:
            Path(output.path).unlink(missing_ok=True)


def _floats_notices(writer: DumpWriter, layout: Layout, plan: FloatsPlan) -> None:
    """Why some probe points have no floats (``capture.floats``), for decode's
    reasons: one ``floats`` notice per point, its message prefixed with the index."""
    for index, message in plan.notes:
        p = layout.probes[index]
        log.info("probe %s (%s at 0x%x): %s", p.probe_id, p.function, p.pc, message)
        writer.notice(Notice(probe_id=p.probe_id, kind="floats", message=f"{index}: {message}"))


def _run(
    loaded: Loaded,
    writer: DumpWriter,
    output: _Output,
    target: Target | None,
    duration: float | None,
    max_events: int | None,
    interrupted: list[bool],
) -> str:
    deadline = time.monotonic() + duration if duration else None
    while True:
        writer.events(loaded.poll(50))
        if output.error is not None:
            return "output error"
        if interrupted[0]:
            return "interrupted"
        if max_events is not None and loaded.kept >= max_events:
            return "max-events"
        if deadline is not None and time.monotonic() >= deadline:
            return "duration"
        if target is not None and not target.alive():
            status = target.exit_status()
            return "target exited" + (f" with status {status}" if status is not None else "")
