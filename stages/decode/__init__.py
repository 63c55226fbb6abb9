"""Stage 4, decode: raw event dump + IR + layout -> Datadog snapshots.

``decode(dump, program, layout, ...)`` checks that the three inputs belong together,
then streams one ``Snapshot`` per EVENT record of the dump. The returned
``DecodeRun`` is the iterator and, as it goes, the report: counters, notices, where
the dump was cut off, how many events were decoded.

Parts: ``events`` takes a record apart, ``values`` renders captured values,
``message`` summarises them in one line, ``envelope`` wraps them in a snapshot,
``provenance`` refuses mismatched inputs, ``gofmt`` spells numbers as Go does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar, cast

import msgspec

from ..dump import (
    RECORD_COUNTERS,
    RECORD_EVENT,
    RECORD_NOTICE,
    Counters,
    DumpHeader,
    Notice,
    RecordReader,
    decode_counters,
    decode_notice,
    read_header,
)
from ..errors import ArtifactError, DecodeError
from ..ir import ProbeIssue, Program
from ..layout import EVENT_FLAG_TRUNCATED, Layout, ProbeLayout, VariableLayout
from ..snapshot import CapturedValue, EvaluationError, Snapshot
from .envelope import Envelope, entry_captures
from .events import RawEvent, corrupt_event, parse_event
from .message import MessageFormatter
from .provenance import check_artifacts, check_dump
from .values import Ranges, RenderContext, ValueRenderer

__all__ = ["DecodeRun", "decode"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

TRUNCATED_MESSAGE = "event truncated: capture budget exhausted"


class _CountingReader:
    """Counts the bytes read through it, so the header's end is known on a pipe."""

    def __init__(self, inp: BinaryIO) -> None:
        self._inp = inp
        self.position = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inp.read(n)
        self.position += len(data)
        return data


@dataclass(frozen=True, slots=True)
class _VariablePlan:
    """A variable and the root bytes known missing whatever the event says."""

    var: VariableLayout
    name: str
    holes: Ranges
    fail_holes: tuple[tuple[int, tuple[int, int]], ...]
    """``(fail bit, range)``: missing when that bit of the event's fail_mask is set."""


@dataclass(frozen=True, slots=True)
class _ProbePlan:
    probe: ProbeLayout
    root_needed: int
    arguments: tuple[_VariablePlan, ...]
    locals: tuple[_VariablePlan, ...]
    results: tuple[_VariablePlan, ...]


@dataclass(slots=True)
class _Hit:
    """One event, rendered: waiting for its return (an entry) or completing one."""

    plan: _ProbePlan
    event: RawEvent
    offset: int
    arguments: dict[str, CapturedValue]
    locals: dict[str, CapturedValue]
    results: dict[str, CapturedValue]
    errors: list[EvaluationError]

    @property
    def probe(self) -> ProbeLayout:
        return self.plan.probe

    def call_key(self) -> tuple[str, str, int, int]:
        """Identifies the call across its entry and return: probe, function, goroutine,
        and the frame's distance from the top of the goroutine stack (unlike the
        CFA itself, that distance survives the runtime moving the stack)."""
        e = self.event
        depth = e.stack_hi - e.cfa if e.stack_hi else e.cfa
        return (self.probe.probe_id, self.probe.function, e.goid, depth)


def _plan_variable(renderer: ValueRenderer, var: VariableLayout) -> _VariablePlan:
    holes: list[tuple[int, int]] = []
    fail_holes: list[tuple[int, tuple[int, int]]] = []
    base = var.root_offset or 0
    for piece in var.pieces:
        span = (base + piece.offset, base + piece.offset + piece.size)
        if piece.source == "unavailable":
            holes.append(span)
        elif piece.source == "memory" and piece.fail_bit is not None:
            fail_holes.append((piece.fail_bit, span))
    return _VariablePlan(var, renderer.name(var.type), tuple(holes), tuple(fail_holes))


def _plan_probe(renderer: ValueRenderer, probe: ProbeLayout) -> _ProbePlan:
    plans = [_plan_variable(renderer, v) for v in probe.variables]
    needed = max(
        (v.root_offset + v.size for v in probe.variables if v.root_offset is not None),
        default=0,
    )
    return _ProbePlan(
        probe=probe,
        root_needed=needed,
        arguments=tuple(p for p in plans if p.var.role == "argument"),
        locals=tuple(p for p in plans if p.var.role == "local"),
        results=tuple(p for p in plans if p.var.role == "return"),
    )


class DecodeRun(Iterator[Snapshot]):
    """An iterator of snapshots over one dump, and the report of the decode.

    Attributes, complete once iteration has finished:

    - ``header``: the dump's ``DumpHeader``;
    - ``events``: EVENT records decoded so far; ``by_probe`` the same per probe id;
    - ``counters``: the COUNTERS record (None if capture did not write one);
    - ``notices``: the NOTICE records, in order;
    - ``truncated_at``: byte offset of an incomplete trailing record, or None;
    - ``unknown_records``: records of a kind this godi does not know (skipped);
    - ``issues``: the probes codegen could not install (``layout.issues``).
    """

    def __init__(
        self,
        dump: BinaryIO,
        program: Program,
        layout: Layout,
        *,
        program_hash: str,
        ir_hash: str,
        service: str,
        tags: str = "",
        name: str = "dump",
    ) -> None:
        if not service:
            raise DecodeError("a service name is required (--service or DD_SERVICE)")
        check_artifacts(program, layout, ir_hash)
        counting = _CountingReader(dump)
        self.header: DumpHeader = read_header(cast(BinaryIO, counting), name)
        check_dump(self.header, program, program_hash, name)

        self.events = 0
        self.by_probe: dict[str, int] = {}
        self.counters: Counters | None = None
        self.notices: list[Notice] = []
        self.unknown_records = 0
        self.issues: list[ProbeIssue] = list(layout.issues)

        indices = sorted(t.index for t in layout.types)
        if indices != list(range(len(indices))):
            raise ArtifactError("layout.json", "capture type indices are not 0..n-1")
        self._name = name
        self._renderer = ValueRenderer(program, layout)
        self._message = MessageFormatter(self._renderer)
        self._envelope = Envelope(self.header, layout.probes, service, tags)
        self._plans = {p.index: _plan_probe(self._renderer, p) for p in layout.probes}
        self._returning = {p.function for p in layout.probes if p.kind == "return"}
        self._type_sizes = [t.size for t in sorted(layout.types, key=lambda t: t.index)]
        self._reader = RecordReader(dump, counting.position)
        self._records = self._run()

    @property
    def truncated_at(self) -> int | None:
        """Byte offset of the incomplete record that ends the dump, or None."""
        return self._reader.truncated_at

    def __iter__(self) -> DecodeRun:
        return self

    def __next__(self) -> Snapshot:
        return next(self._records)

    def _run(self) -> Iterator[Snapshot]:
        pending: dict[tuple[str, str, int, int], _Hit] = {}
        for record in self._reader:
            if record.kind == RECORD_EVENT:
                try:
                    hit = self._hit(record.payload, record.offset)
                except DecodeError as e:
                    raise DecodeError(f"{self._name}: {e}") from None
                self.events += 1
                key = hit.call_key()
                if hit.probe.kind == "entry":
                    if hit.probe.function in self._returning:
                        # Wait for the return; a recursive call has another key. A call
                        # already pending at the same place never returned (a panic
                        # unwound it): report it now.
                        stale = pending.pop(key, None)
                        if stale is not None:
                            yield self._snapshot(stale, None, lost_return=True)
                        pending[key] = hit
                    else:
                        yield self._snapshot(hit, None)
                else:
                    yield self._snapshot(pending.pop(key, None), hit)
            elif record.kind == RECORD_COUNTERS:
                self.counters = self._json(decode_counters, record.payload, record.offset)
            elif record.kind == RECORD_NOTICE:
                notice = self._json(decode_notice, record.payload, record.offset)
                log.debug("notice in %s: %s: %s", self._name, notice.kind, notice.message)
                self.notices.append(notice)
            else:
                log.warning(
                    "%s: skipping record of unknown kind %d at byte %d",
                    self._name,
                    record.kind,
                    record.offset,
                )
                self.unknown_records += 1
        # Calls whose return was not seen: still running when capture stopped, or
        # left by a panic (which unwinds without executing a return instruction).
        for hit in sorted(pending.values(), key=lambda h: h.offset):
            yield self._snapshot(hit, None, lost_return=True)
        if self._reader.truncated_at is not None:
            log.warning(
                "%s: cut off in the record at byte %d; decoded everything before it",
                self._name,
                self._reader.truncated_at,
            )

    def _json(self, parse: Callable[[bytes], _T], payload: bytes, offset: int) -> _T:
        try:
            return parse(payload)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise DecodeError(f"{self._name}: bad record at byte {offset}: {e}") from e

    def _hit(self, payload: bytes, offset: int) -> _Hit:
        event = parse_event(payload, offset, self._type_sizes)
        plan = self._plans.get(event.probe)
        if plan is None:
            raise corrupt_event(offset, f"probe index {event.probe} is not in the layout")
        if len(event.root) < plan.root_needed:
            raise corrupt_event(
                offset,
                f"root area of {len(event.root)} bytes, probe {plan.probe.probe_id} "
                f"needs {plan.root_needed}",
            )
        probe = plan.probe
        ctx = RenderContext(event=event, limits=probe.limits)
        truncated = bool(event.flags & EVENT_FLAG_TRUNCATED) or event.any_short
        errors: list[EvaluationError] = []

        def render(plans: tuple[_VariablePlan, ...]) -> dict[str, CapturedValue]:
            out: dict[str, CapturedValue] = {}
            for vp in plans:
                ctx.missing = False
                out[vp.var.name] = self._variable(vp, event, ctx)
                if ctx.missing and truncated:
                    errors.append(EvaluationError(expr=vp.var.name, message=TRUNCATED_MESSAGE))
            return out

        arguments = render(plan.arguments)
        locals_ = render(plan.locals)
        results = render(plan.results)
        if truncated and not errors:
            errors.append(EvaluationError(expr="<capture>", message=TRUNCATED_MESSAGE))
        self.by_probe[probe.probe_id] = self.by_probe.get(probe.probe_id, 0) + 1
        return _Hit(plan, event, offset, arguments, locals_, results, errors)

    def _snapshot(
        self, entry: _Hit | None, ret: _Hit | None, *, lost_return: bool = False
    ) -> Snapshot:
        """One snapshot from an entry hit, its return hit, or both."""
        first = entry or ret
        assert first is not None
        probe = first.probe
        errors = [*(entry.errors if entry else ()), *(ret.errors if ret else ())]
        if entry is None:
            errors.append(
                EvaluationError(
                    expr="@entry",
                    message="entry not captured: the call began before capture started, "
                    "or its entry event was dropped",
                )
            )
        if lost_return:
            errors.append(
                EvaluationError(
                    expr="@return",
                    message="return not captured: the call had not returned when capture "
                    "stopped, or it ended in a panic",
                )
            )
        captures = None
        if probe.capture_snapshot:
            captures = entry_captures(
                entry.arguments if entry else {},
                entry.locals if entry else {},
                ret.results if ret else None,
                with_entry=entry is not None,
            )
        arguments = entry.arguments if entry else {}
        message = self._message.message(
            probe.function,
            [(vp.var.name, vp.var.type, arguments[vp.var.name]) for vp in first.plan.arguments]
            if entry
            else [],
        )
        if ret is not None:
            message += self._message.results(
                [(vp.var.name, vp.var.type, ret.results[vp.var.name]) for vp in ret.plan.results]
            )
        duration = ret.event.ktime_ns - entry.event.ktime_ns if entry and ret else None
        return self._envelope.snapshot(
            probe=first.event.probe,
            offset=first.offset,
            ktime_ns=first.event.ktime_ns,
            goid=first.event.goid,
            message=message,
            captures=captures,
            errors=errors,
            duration=duration,
        )

    def _variable(self, vp: _VariablePlan, event: RawEvent, ctx: RenderContext) -> CapturedValue:
        var = vp.var
        if var.root_offset is None:
            return CapturedValue(type=vp.name, notCapturedReason="unavailable")
        holes = vp.holes
        if vp.fail_holes and event.fail_mask:
            mask = event.fail_mask
            failed = tuple(span for bit, span in vp.fail_holes if mask >> bit & 1)
            holes = holes + failed
        return self._renderer.render(var.type, event.root, var.root_offset, 0, holes, ctx)


def decode(
    dump: BinaryIO,
    program: Program,
    layout: Layout,
    *,
    program_hash: str,
    ir_hash: str,
    service: str,
    tags: str = "",
    name: str = "dump",
) -> DecodeRun:
    """Decode ``dump`` into snapshots, one per EVENT record, streaming.

    ``program`` and ``layout`` are the IR and layout the capture used;
    ``program_hash`` is ``artifacts.program_hash`` of the probes directory and
    ``ir_hash`` the SHA-256 of the ir.json bytes; ``service`` and ``tags`` go into
    each envelope; ``name`` names the dump in messages. The inputs are checked
    before this returns: a mismatch raises ``ArtifactError`` naming the wrong input,
    a bad dump header ``DecodeError``. While iterating, a corrupt record raises
    ``DecodeError`` naming its offset, after every earlier snapshot was yielded; a
    dump cut off mid-record ends cleanly with ``truncated_at`` set.
    """
    return DecodeRun(
        dump,
        program,
        layout,
        program_hash=program_hash,
        ir_hash=ir_hash,
        service=service,
        tags=tags,
        name=name,
    )
