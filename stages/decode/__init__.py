"""Stage 4, decode: raw event dump + IR + layout -> Datadog snapshots.

``decode(dump, program, layout, ...)`` checks that the three inputs belong together,
then streams one ``Snapshot`` per EVENT record of the dump. The returned
``DecodeRun`` is the iterator and, as it goes, the report: counters, notices, where
the dump was cut off, how many events were decoded.

Parts: ``events`` takes a record apart, ``values`` renders captured values (with
one compiled renderer per type), ``redaction`` hides sensitive names and types,
``message`` summarises the values in one line, ``stacks`` names the stack PCs,
``envelope`` wraps it all in a snapshot, ``provenance`` refuses mismatched inputs,
``gofmt`` spells numbers as Go does.
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
    Record,
    RecordReader,
    decode_counters,
    decode_notice,
    read_header,
)
from ..errors import ArtifactError, DecodeError
from ..expr.compile import ExpressionError
from ..expr.probe import ProbeExpressions, build_scope
from ..expr.values import kinds_from_types
from ..ir import ProbeIssue, Program
from ..layout import EVENT_FLAG_TRUNCATED, Layout, ProbeLayout, VariableLayout
from ..redaction import Redaction
from ..sampling import RateLimiter, probe_rate
from ..snapshot import CapturedScope, CapturedValue, Captures, EvaluationError, Snapshot
from .envelope import Envelope, entry_captures
from .events import RawEvent, corrupt_event, parse_event
from .message import MessageFormatter
from .provenance import check_artifacts, check_dump
from .stacks import Symbolizer
from .values import Ranges, Render, RenderContext, ValueRenderer

__all__ = ["DecodeRun", "decode"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

TRUNCATED_MESSAGE = "event truncated: capture budget exhausted"
_RECORD_PREFIX = 8
"""Bytes before a record's payload in the dump: u32 kind, u32 length."""


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
    render: Render
    """The compiled renderer of the variable's type."""
    offset: int
    """Where the variable is in the root area."""
    constant: CapturedValue | None
    """The variable's value whatever the event: redacted, or without a location."""


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


def _with_expressions(captures: Captures, values: dict[str, CapturedValue]) -> Captures:
    """``captures`` with capture expressions where they were evaluated: at the return
    when there is one, else at the entry."""
    if captures.return_ is not None:
        scope = msgspec.structs.replace(captures.return_, captureExpressions=values)
        return msgspec.structs.replace(captures, return_=scope)
    entry = captures.entry or CapturedScope()
    return msgspec.structs.replace(
        captures, entry=msgspec.structs.replace(entry, captureExpressions=values)
    )


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
    name = renderer.name(var.type)
    constant = None
    if renderer.redaction.ident(var.name):
        constant = CapturedValue(type=name, notCapturedReason="redactedIdent")
    elif var.root_offset is None:
        constant = CapturedValue(type=name, notCapturedReason="unavailable")
    return _VariablePlan(
        var,
        name,
        tuple(holes),
        tuple(fail_holes),
        renderer.renderer(var.type),
        base,
        constant,
    )


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
    - ``corrupt_at``: byte offset of the corrupt record that stopped the decode (with
      ``DecodeError``, after the snapshots of every record before it), or None;
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
        redaction: Redaction | None = None,
    ) -> None:
        if not service:
            raise DecodeError("a service name is required (--service or DD_SERVICE)")
        check_artifacts(program, layout, ir_hash)
        counting = _CountingReader(dump)
        try:
            self.header: DumpHeader = read_header(cast(BinaryIO, counting), name)
        except UnicodeDecodeError as e:  # msgspec lets invalid UTF-8 through as is
            raise DecodeError(f"{name}: dump header is not UTF-8 JSON: {e}") from e
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
        self._renderer = ValueRenderer(
            program, layout, redaction if redaction is not None else Redaction.from_env()
        )
        self._message = MessageFormatter(self._renderer)
        self._envelope = Envelope(self.header, layout.probes, service, tags)
        self._symbolizer = Symbolizer(program.symbols) if program.symbols is not None else None
        self._plans = {p.index: _plan_probe(self._renderer, p) for p in layout.probes}
        self._returning = {p.function for p in layout.probes if p.kind == "return"}
        self._definitions = {d.id: d for d in layout.definitions}
        self._expressions: dict[str, ProbeExpressions] = {}
        self._limiters: dict[str, RateLimiter] = {}
        kinds = kinds_from_types(program.types)
        for d in layout.definitions:
            try:
                if (
                    d.when is None
                    and d.template is None
                    and d.segments is None
                    and not (d.capture_expressions)
                ):
                    continue
                self._expressions[d.id] = ProbeExpressions(d, kinds)
            except ExpressionError as e:
                log.warning("probe %s: %s", d.id, e)
                continue
            if d.when is not None:
                rate = probe_rate(d)
                if rate is not None:
                    self._limiters[d.id] = RateLimiter(rate)
        self.condition_false: dict[str, int] = {}
        self.sampled_out: dict[str, int] = {}
        self._type_sizes = [t.size for t in sorted(layout.types, key=lambda t: t.index)]
        self._start = counting.position
        self.corrupt_at: int | None = None
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
        returning = self._returning
        position = self._start
        try:
            for record in self._reader:
                position = record.offset
                if record.kind != RECORD_EVENT:
                    self._other(record)
                else:
                    hit = self._hit(record.payload, record.offset)
                    self.events += 1
                    probe = hit.plan.probe
                    if probe.kind == "line":
                        yield from self._emit(hit, None)
                    elif probe.kind != "entry":
                        yield from self._emit(pending.pop(hit.call_key(), None), hit)
                    elif probe.function in returning:
                        # Wait for the return; a recursive call has another key. A
                        # call already pending at the same place never returned (a
                        # panic unwound it): report it now.
                        key = hit.call_key()
                        stale = pending.pop(key, None)
                        if stale is not None:
                            yield from self._emit(stale, None, lost_return=True)
                        pending[key] = hit
                    else:
                        yield from self._emit(hit, None)
                position = record.offset + _RECORD_PREFIX + len(record.payload)
        except DecodeError:
            # Every whole record before the corrupt one is decoded: the calls still
            # waiting for their return are reported as at the end of a dump.
            self.corrupt_at = position
            for hit in sorted(pending.values(), key=lambda h: h.offset):
                yield from self._emit(hit, None, lost_return=True)
            raise
        # Calls whose return was not seen: still running when capture stopped, or
        # left by a panic (which unwinds without executing a return instruction).
        for hit in sorted(pending.values(), key=lambda h: h.offset):
            yield from self._emit(hit, None, lost_return=True)
        if self._reader.truncated_at is not None:
            log.warning(
                "%s: cut off in the record at byte %d; decoded everything before it",
                self._name,
                self._reader.truncated_at,
            )

    def _other(self, record: Record) -> None:
        """Take in a record that is not an event: counters, a notice, an unknown kind."""
        if record.kind == RECORD_COUNTERS:
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

    def _json(self, parse: Callable[[bytes], _T], payload: bytes, offset: int) -> _T:
        try:
            return parse(payload)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as e:
            raise DecodeError(f"{self._name}: bad record at byte {offset}: {e}") from e

    def _hit(self, payload: bytes, offset: int) -> _Hit:
        try:
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
        except DecodeError as e:
            raise DecodeError(f"{self._name}: {e}") from None
        probe = plan.probe
        ctx = RenderContext(event, probe.limits)
        truncated = bool(event.flags & EVENT_FLAG_TRUNCATED) or event.any_short
        errors: list[EvaluationError] = []
        arguments = self._scope(plan.arguments, event, ctx, errors if truncated else None)
        locals_ = self._scope(plan.locals, event, ctx, errors if truncated else None)
        results = self._scope(plan.results, event, ctx, errors if truncated else None)
        if truncated and not errors:
            errors.append(EvaluationError(expr="<capture>", message=TRUNCATED_MESSAGE))
        by_probe = self.by_probe
        by_probe[probe.probe_id] = by_probe.get(probe.probe_id, 0) + 1
        return _Hit(plan, event, offset, arguments, locals_, results, errors)

    def _scope(
        self,
        plans: tuple[_VariablePlan, ...],
        event: RawEvent,
        ctx: RenderContext,
        errors: list[EvaluationError] | None,
    ) -> dict[str, CapturedValue]:
        """The values of ``plans``' variables; with ``errors`` (a truncated event), the
        variables missing data are reported there."""
        out: dict[str, CapturedValue] = {}
        for vp in plans:
            ctx.missing = False
            out[vp.var.name] = self._variable(vp, event, ctx)
            if errors is not None and ctx.missing:
                errors.append(EvaluationError(expr=vp.var.name, message=TRUNCATED_MESSAGE))
        return out

    def _emit(
        self, entry: _Hit | None, ret: _Hit | None, *, lost_return: bool = False
    ) -> Iterator[Snapshot]:
        """The snapshot of a hit (an entry, its return, or both), unless the probe's
        condition is false or its rate limit (applied here for conditional probes)
        says no."""
        snapshot = self._snapshot(entry, ret, lost_return=lost_return)
        if snapshot is not None:
            yield snapshot

    def _snapshot(
        self, entry: _Hit | None, ret: _Hit | None, *, lost_return: bool = False
    ) -> Snapshot | None:
        """One snapshot from an entry hit, its return hit, or both (None: skipped)."""
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
        is_line = probe.kind == "line"
        arguments = entry.arguments if entry else {}
        locals_ = entry.locals if entry else {}
        results = ret.results if ret else None
        duration = ret.event.ktime_ns - entry.event.ktime_ns if entry and ret else None

        # Conditions, templates and capture expressions (issue 6).
        message: str | None = None
        captured_expressions: dict[str, CapturedValue] = {}
        condition_failed = False
        expressions = self._expressions.get(probe.probe_id)
        if expressions is not None:
            definition = self._definitions[probe.probe_id]
            at_exit = not is_line and ret is not None and definition.evaluate_at != "ENTRY"
            scope = build_scope(
                arguments, locals_, results if at_exit else None, duration if at_exit else None
            )
            decision, error = expressions.decide(scope)
            if decision == "skip":
                self.condition_false[probe.probe_id] = (
                    self.condition_false.get(probe.probe_id, 0) + 1
                )
                return None
            limiter = self._limiters.get(probe.probe_id)
            if limiter is not None and not limiter.allow(first.event.ktime_ns):
                self.sampled_out[probe.probe_id] = self.sampled_out.get(probe.probe_id, 0) + 1
                return None
            if error is not None:
                errors.append(error)
                condition_failed = True
            else:
                rendered = expressions.message(scope)
                if rendered is not None:
                    message, template_errors = rendered
                    errors.extend(template_errors)
                captured_expressions, capture_errors = expressions.capture_expressions(scope)
                errors.extend(capture_errors)

        captures = None
        stack = None
        # Capture walks the stack at entries only: a return hit alone has none.
        if probe.capture_snapshot and self._symbolizer is not None and first.event.stack:
            stack = self._symbolizer.stack(first.event.stack)
        if probe.capture_snapshot and not condition_failed:
            if is_line:
                captures = Captures(
                    lines={
                        str(probe.line): CapturedScope(
                            arguments=arguments,
                            locals=locals_ or None,
                            captureExpressions=captured_expressions or None,
                        )
                    }
                )
            else:
                captures = entry_captures(arguments, locals_, results, with_entry=entry is not None)
                if captured_expressions:
                    captures = _with_expressions(captures, captured_expressions)
        if message is None:
            if is_line:
                values = {**arguments, **locals_}
                message = self._message.message(
                    f"{probe.function}:{probe.line}",
                    [
                        (vp.var.name, vp.var.type, values[vp.var.name])
                        for vp in (*first.plan.arguments, *first.plan.locals)
                    ],
                )
            else:
                message = self._message.message(
                    probe.function,
                    [
                        (vp.var.name, vp.var.type, arguments[vp.var.name])
                        for vp in first.plan.arguments
                    ]
                    if entry
                    else [],
                )
                if ret is not None:
                    message += self._message.results(
                        [
                            (vp.var.name, vp.var.type, ret.results[vp.var.name])
                            for vp in ret.plan.results
                        ]
                    )
        return self._envelope.snapshot(
            probe=first.event.probe,
            offset=first.offset,
            ktime_ns=first.event.ktime_ns,
            goid=first.event.goid,
            message=message,
            captures=captures,
            errors=errors,
            duration=duration,
            stack=stack,
        )

    def _variable(self, vp: _VariablePlan, event: RawEvent, ctx: RenderContext) -> CapturedValue:
        if vp.constant is not None:
            return vp.constant
        holes = vp.holes
        if vp.fail_holes and event.fail_mask:
            mask = event.fail_mask
            failed = tuple(span for bit, span in vp.fail_holes if mask >> bit & 1)
            holes = holes + failed
        return vp.render(event.root, vp.offset, 0, holes, ctx)


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
    redaction: Redaction | None = None,
) -> DecodeRun:
    """Decode ``dump`` into snapshots, one per EVENT record, streaming.

    ``program`` and ``layout`` are the IR and layout the capture used;
    ``program_hash`` is ``artifacts.program_hash`` of the probes directory and
    ``ir_hash`` the SHA-256 of the ir.json bytes; ``service`` and ``tags`` go into
    each envelope; ``name`` names the dump in messages. The inputs are checked
    before this returns: a mismatch raises ``ArtifactError`` naming the wrong input,
    a bad dump header ``DecodeError``. While iterating, a corrupt record raises
    ``DecodeError`` naming its offset (also ``corrupt_at``), after the snapshots of
    every earlier record were yielded, calls still awaiting their return included,
    exactly as if the dump had ended there; a dump cut off mid-record ends cleanly
    with ``truncated_at`` set. ``redaction``
    says which identifiers and types are not shown (default: the Datadog list and
    the ``DD_DYNAMIC_INSTRUMENTATION_*`` environment variables).
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
        redaction=redaction,
    )
