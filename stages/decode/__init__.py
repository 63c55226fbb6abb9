"""Stage 4, decode: raw event dump + IR + layout -> Datadog snapshots.

``decode(dump, program, layout, ...)`` checks that the three inputs belong together,
then streams one ``Snapshot`` per EVENT record of the dump. The returned
``DecodeRun`` is the iterator and, as it goes, the report: counters, notices, where
the dump was cut off, how many events were decoded. ``DecodeRun.encoded()`` streams
the same snapshots as JSON, which is how they are made: written as text
(``jsontext``), then read back into ``Snapshot`` objects only for who iterates them.

Parts: ``events`` takes a record apart, ``plans`` holds what each probe's events
need worked out once, ``values`` renders captured values (with one compiled
renderer per type), ``redaction`` hides sensitive names and types, ``message``
summarises the values in one line, ``stacks`` names the stack PCs, ``envelope``
wraps it all in a snapshot, ``jsontext`` writes JSON as msgspec does,
``provenance`` refuses mismatched inputs, ``gofmt`` spells numbers as Go does;
``native`` and ``fastpath`` do the common cases in C (values; whole snapshots of
simple probes, straight from the dump's bytes).
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from ..layout import EVENT_FLAG_TRUNCATED, Layout
from ..probecounts import DecodeTally
from ..redaction import Redaction
from ..sampling import RateLimiter, probe_rate
from ..snapshot import CapturedValue, EvaluationError, Snapshot
from ..spec import Capture
from .envelope import Envelope, entry_captures, line_captures
from .events import Blocks, EventData, RawEvent, corrupt_event, parse_event, pcs_of
from .fastpath import EventBytes, choose, snapshots
from .floats import FloatsTally, join_floats
from .generics import ShapeNames, dictionary_words, rename_text
from .jsontext import encode, members
from .message import MessageFormatter, call, returns
from .native import NativeRenderer, block_indexer
from .native import enabled as native_enabled
from .plans import ProbePlan, Said, ScopePlan, plan_probe
from .provenance import check_artifacts, check_dump
from .summaries import Summaries
from .values import RenderContext, ValueRenderer

__all__ = ["DecodeRun", "decode"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

TRUNCATED_MESSAGE = "event truncated: capture budget exhausted"
_RECORD_PREFIX = 8
"""Bytes before a record's payload in the dump: u32 kind, u32 length."""
_SHORT_TEXT = 2048
"""Values whose text is longer are rendered again within the summary limits for
the message, rather than read back whole."""
_CACHED_TEXT = 256
"""Message pieces of values whose text is at most this long are kept for reuse."""
_CACHED_PIECES = 1024
"""Message pieces kept per value shown before the cache starts over."""
MAX_CACHED_STACKS = 4096
"""Distinct stacks kept as JSON before the cache starts over."""
_snapshot_decoder = msgspec.json.Decoder(Snapshot)
_NO_ENTRY = EvaluationError(
    expr="@entry",
    message="entry not captured: the call began before capture started, "
    "or its entry event was dropped",
)
_NO_RETURN = EvaluationError(
    expr="@return",
    message="return not captured: the call had not returned when capture "
    "stopped, or it ended in a panic",
)


class _CountingReader:
    """Counts the bytes read through it, so the header's end is known on a pipe."""

    def __init__(self, inp: BinaryIO) -> None:
        self._inp = inp
        self.position = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inp.read(n)
        self.position += len(data)
        return data


@dataclass(slots=True)
class _Hit:
    """One event, rendered: waiting for its return (an entry) or completing one."""

    plan: ProbePlan
    event: RawEvent
    offset: int
    arguments: list[str]
    """The JSON texts of the arguments' values, in ``plan.arguments`` order."""
    locals: list[str]
    results: list[str]
    errors: list[EvaluationError]
    words: list[int] = field(default_factory=list)
    """A shape function's dictionary, read at the entry (see ``generics``)."""

    def call_key(self) -> tuple[str, str, int, int, int]:
        """Identifies the call across its entry and return: probe, function,
        process (binary-wide, processes have the same goroutine ids), goroutine,
        and the frame's distance from the top of the goroutine stack (unlike the
        CFA itself, that distance survives the runtime moving the stack)."""
        e = self.event
        depth = e.stack_hi - e.cfa if e.stack_hi else e.cfa
        probe = self.plan.probe
        return (probe.probe_id, probe.function, e.tgid, e.goid, depth)


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
    - ``issues``: the probes codegen could not install (``layout.issues``);
    - ``native_events``: of ``events``, those decoded whole in C (``fastpath``);
    - ``tally``: per probe id, the snapshots made and the evaluation errors they
      carry, and the hits decode left out (condition false, over the rate limit).

    Iterating gives ``Snapshot`` objects; ``encoded()`` gives the same snapshots as
    JSON, without building objects (the two share one stream: each snapshot comes
    out once, either way).
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
        records_start = counting.position
        self.floats = FloatsTally()
        if any(p.vector_registers for p in layout.probes):
            # Floats records join their hits first (decode.floats): the dump is
            # read whole, only for a program with floats in vector registers.
            joined, layout, self.floats = join_floats(counting.read(), layout)
            dump = io.BytesIO(joined)

        self.events = 0
        self.native_events = 0
        self.by_probe: dict[str, int] = {}
        self.counters: Counters | None = None
        self.notices: list[Notice] = []
        self.unknown_records = 0
        self.issues: list[ProbeIssue] = list(layout.issues)

        indices = sorted(t.index for t in layout.types)
        if indices != list(range(len(indices))):
            raise ArtifactError("layout.json", "capture type indices are not 0..n-1")
        self._name = name
        # What the capture redacted stays redacted, whatever decode's environment.
        policy = redaction if redaction is not None else Redaction.from_env()
        self._renderer = ValueRenderer(
            program, layout, policy.including(layout.redacted_keys, layout.redacted_types)
        )
        self._message = MessageFormatter(self._renderer)
        self._envelope = Envelope(self.header, layout.probes, service, tags)
        self._symbolizer = self._renderer.symbolizer  # one reader of the table, one cache
        self._stacks: dict[bytes, str] = {}
        self._shapes = ShapeNames(program)
        self._index_blocks = block_indexer()
        native = NativeRenderer(self._renderer) if native_enabled() else None
        self._summaries = Summaries(self._renderer) if native is not None else None
        self._plans = {
            p.index: plan_probe(
                self._renderer, p, shape=self._shapes.is_shape_function(p.function), native=native
            )
            for p in layout.probes
        }
        self._definitions = {d.id: d for d in layout.definitions}
        self._expressions: dict[str, ProbeExpressions] = {}
        self._limiters: dict[str, RateLimiter] = {}
        kinds = None  # worked out for the first probe with expressions (2-3 ms)
        for d in layout.definitions:
            try:
                if (
                    d.when is None
                    and d.template is None
                    and d.segments is None
                    and not (d.capture_expressions)
                ):
                    continue
                if kinds is None:
                    kinds = kinds_from_types(program.types)
                self._expressions[d.id] = ProbeExpressions(d, kinds)
            except ExpressionError as e:
                log.warning("probe %s: %s", d.id, e)
                continue
            if d.when is not None:
                rate = probe_rate(d)
                if rate is not None:
                    self._limiters[d.id] = RateLimiter(rate)
        self.tally = DecodeTally()
        self.condition_false = self.tally.condition_false
        self.sampled_out = self.tally.sampled_out
        self._probe_keys = {
            key: p.probe_id for p in layout.probes if (key := _json_string(p.probe_id))
        }
        self._type_sizes = [t.size for t in sorted(layout.types, key=lambda t: t.index)]
        self._start = records_start
        self.corrupt_at: int | None = None
        self._reader = RecordReader(dump, records_start)
        self._fast = snapshots(
            native,
            self._envelope,
            choose(
                list(self._plans.values()),
                expressions=set(self._expressions),
                shape=self._shapes.is_shape_function,
            ),
            self._type_sizes,
            truncated=TRUNCATED_MESSAGE,
            no_entry=_NO_ENTRY,
            no_return=_NO_RETURN,
            piece=self._piece,
            stack=self._stack_text if self._symbolizer is not None else None,
            summaries=self._summaries,
        )
        self._records = self._run()

    def encoded(self) -> Iterator[bytes]:
        """The snapshots as JSON, each exactly what ``msgspec.json.encode`` gives for
        the ``Snapshot`` that iterating would yield."""
        return self._records

    @property
    def truncated_at(self) -> int | None:
        """Byte offset of the incomplete record that ends the dump, or None."""
        return self._reader.truncated_at

    @property
    def corrupt(self) -> list[tuple[int, int]]:
        """``(offset, length)`` of each run of bytes skipped as corrupt (a record
        whose sync marker, length or CRC is wrong); the records around were decoded."""
        return self._reader.corrupt

    @property
    def finished(self) -> bool:
        """Whether the dump has its trailer (the COUNTERS record capture writes when
        it stops): without it, the capture was killed or failed."""
        return self.counters is not None

    def __iter__(self) -> DecodeRun:
        return self

    def __next__(self) -> Snapshot:
        return _snapshot_decoder.decode(next(self._records))

    def _run(self) -> Iterator[bytes]:
        pending: dict[tuple[str, str, int, int, int], _Hit] = {}
        position = self._start
        reader = self._reader
        fast = self._fast
        try:
            while True:
                # The records C decodes whole, up to one it leaves to Python.
                while fast is not None and (made := reader.take(fast.run)) is not None:
                    self._taken(fast.counts())
                    self._made(fast.made())
                    yield from made
                position = reader.offset
                skipped = len(reader.corrupt)
                resume = fast is not None and reader.skip_corrupt()
                record = None if resume else reader.next()
                if len(reader.corrupt) != skipped:
                    # What the corrupt bytes held is unknown: an entry waiting
                    # for its return may have lost it there, a return after them
                    # may be of an entry lost there. The waiting entries are
                    # reported now (lost return), not paired across the gap.
                    yield from self._lost_returns(pending)
                    pending.clear()
                if resume:
                    continue  # the records after them may be C's again
                if record is None:
                    break
                position = record.offset
                if record.kind != RECORD_EVENT:
                    self._other(record)
                else:
                    hit = self._hit(record.payload, record.offset)
                    self.events += 1
                    probe = hit.plan.probe
                    snapshot = None
                    if probe.kind == "line":
                        snapshot = self._snapshot(hit, None)
                    elif probe.kind != "entry":
                        snapshot = self._snapshot(pending.pop(hit.call_key(), None), hit)
                    elif probe.has_return:
                        # Wait for the return; a recursive call has another key. A
                        # call already pending at the same place never returned (a
                        # panic unwound it): report it now.
                        key = hit.call_key()
                        stale = pending.pop(key, None)
                        if stale is not None:
                            snapshot = self._snapshot(stale, None, lost_return=True)
                        pending[key] = hit
                    else:
                        snapshot = self._snapshot(hit, None)
                    if snapshot is not None:
                        self._count(snapshot)
                        yield snapshot
                position = record.offset + _RECORD_PREFIX + len(record.payload)
        except DecodeError:
            # Every whole record before the corrupt one is decoded: the calls still
            # waiting for their return are reported as at the end of a dump.
            self.corrupt_at = position
            yield from self._lost_returns(pending)
            raise
        # Calls whose return was not seen: still running when capture stopped, or
        # left by a panic (which unwinds without executing a return instruction).
        yield from self._lost_returns(pending)
        for at, n in self._reader.corrupt:
            log.warning("%s: %d corrupt bytes at byte %d skipped", self._name, n, at)
        if self._reader.truncated_at is not None:
            log.warning(
                "%s: cut off in the record at byte %d; decoded everything before it",
                self._name,
                self._reader.truncated_at,
            )

    def _lost_returns(self, pending: dict[tuple[str, str, int, int, int], _Hit]) -> Iterator[bytes]:
        """The snapshots of the calls still waiting for their return (here and in
        C), in dump order."""
        waiting: list[tuple[int, _Hit | bytes]] = [(h.offset, h) for h in pending.values()]
        if self._fast is not None:
            waiting += self._fast.pending()
            self._made(self._fast.made())
        for _, hit in sorted(waiting, key=lambda w: w[0]):
            if isinstance(hit, bytes):  # made (and counted) in C
                yield hit
                continue
            snapshot = self._snapshot(hit, None, lost_return=True)
            if snapshot is not None:
                self._count(snapshot)
                yield snapshot

    def _made(self, made: dict[int, tuple[int, int]]) -> None:
        """Count the snapshots C made and their evaluation errors: ``made`` by
        probe index."""
        tally = self.tally
        for index, (count, errors) in made.items():
            probe_id = self._plans[index].probe.probe_id
            tally.snapshots[probe_id] = tally.snapshots.get(probe_id, 0) + count
            tally.evaluation_errors[probe_id] = tally.evaluation_errors.get(probe_id, 0) + errors

    def _count(self, raw: bytes) -> None:
        """Count a snapshot made in Python, and its evaluation errors, for its probe. Read
        from its JSON: a quote inside a string is escaped, so the first
        ``"probe":{"id":`` is the snapshot's probe, and ``"evaluationErrors":[``
        (last of the snapshot body: the text then ends with ``]}}}``) its errors."""
        at = raw.find(b'"probe":{"id":') + 14
        probe_id = self._probe_keys.get(raw[at : raw.find(b',"version":', at)])
        if probe_id is None:
            return
        tally = self.tally
        tally.snapshots[probe_id] = tally.snapshots.get(probe_id, 0) + 1
        if raw.endswith(b"]}}}"):
            errors = raw.rfind(b'"evaluationErrors":[')
            if errors >= 0:
                n = raw.count(b'{"expr":', errors)
                tally.evaluation_errors[probe_id] = tally.evaluation_errors.get(probe_id, 0) + n

    def _taken(self, counts: dict[int, int]) -> None:
        """Count the events C decoded: ``counts`` by probe index."""
        by_probe = self.by_probe
        for index, n in counts.items():
            probe_id = self._plans[index].probe.probe_id
            by_probe[probe_id] = by_probe.get(probe_id, 0) + n
            self.events += n
            self.native_events += n

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
            event = parse_event(payload, offset, self._type_sizes, self._index_blocks)
            plan = self._plans.get(event.probe)
            if plan is None:
                raise corrupt_event(offset, f"probe index {event.probe} is not in the layout")
            if event.root_len < plan.root_needed:
                raise corrupt_event(
                    offset,
                    f"root area of {event.root_len} bytes, probe {plan.probe.probe_id} "
                    f"needs {plan.root_needed}",
                )
        except DecodeError as e:
            raise DecodeError(f"{self._name}: {e}") from None
        by_probe = self.by_probe
        probe_id = plan.probe.probe_id
        by_probe[probe_id] = by_probe.get(probe_id, 0) + 1
        ctx = RenderContext(event, plan.probe.limits)
        if event.flags & EVENT_FLAG_TRUNCATED or event.any_short:
            hit = self._truncated_hit(plan, event, ctx)
        else:
            hit = _Hit(
                plan,
                event,
                offset,
                _texts(plan.arguments, event, ctx) if plan.arguments.variables else [],
                _texts(plan.locals, event, ctx) if plan.locals.variables else [],
                _texts(plan.results, event, ctx) if plan.results.variables else [],
                [],
            )
        if plan.dictionary is not None:
            text = plan.dictionary.text(event, ctx)
            hit.words = dictionary_words(self._renderer.value(text))
        return hit

    def _truncated_hit(self, plan: ProbePlan, event: RawEvent, ctx: RenderContext) -> _Hit:
        """The hit of an event the capture budget cut short: the variables missing
        data are reported as evaluation errors."""
        errors: list[EvaluationError] = []

        def texts(scope: ScopePlan) -> list[str]:
            out = []
            for vp in scope.variables:
                ctx.missing = False
                out.append(vp.text(event, ctx))
                if ctx.missing:
                    errors.append(EvaluationError(expr=vp.name, message=TRUNCATED_MESSAGE))
            return out

        arguments, locals_, results = texts(plan.arguments), texts(plan.locals), texts(plan.results)
        if not errors:
            errors.append(EvaluationError(expr="<capture>", message=TRUNCATED_MESSAGE))
        return _Hit(plan, event, event.offset, arguments, locals_, results, errors)

    def _snapshot(
        self, entry: _Hit | None, ret: _Hit | None, *, lost_return: bool = False
    ) -> bytes | None:
        """One snapshot from an entry hit, its return hit, or both; None when the
        probe's condition is false or its rate limit (applied here for conditional
        probes) says no."""
        if entry is not None and entry.words:
            names = self._shapes.renames(entry.plan.probe.function, entry.words)
            if names:
                entry, ret = _renamed(entry, names), _renamed(ret, names) if ret else None
        first = entry or ret
        assert first is not None
        probe = first.plan.probe
        errors = [*entry.errors, *ret.errors] if entry and ret else list(first.errors)
        if entry is None:
            errors.append(_NO_ENTRY)
        if lost_return:
            errors.append(_NO_RETURN)
        duration = ret.event.ktime_ns - entry.event.ktime_ns if entry and ret else None
        message: str | None = None
        expressed: str | None = None
        show_captures = probe.capture_snapshot
        expressions = self._expressions.get(probe.probe_id)
        if expressions is not None:
            outcome = self._evaluate(expressions, entry, ret, duration, errors)
            if outcome is None:
                return None
            message, expressed, condition_met = outcome
            show_captures = show_captures and condition_met
        stack = None
        # Capture walks the stack at entries only: a return hit alone has none.
        if probe.capture_snapshot and self._symbolizer is not None and first.event.stack:
            stack = self._stack(first.event)
        captures = self._captures(entry, ret, expressed) if show_captures else None
        if message is None:
            message = self._default_message(entry, ret, first)
        return self._envelope.snapshot(
            first.event.probe,
            first.offset,
            first.event.ktime_ns,
            first.event.goid,
            message,
            captures,
            errors,
            duration,
            stack,
        )

    def _evaluate(
        self,
        expressions: ProbeExpressions,
        entry: _Hit | None,
        ret: _Hit | None,
        duration: int | None,
        errors: list[EvaluationError],
    ) -> tuple[str | None, str | None, bool] | None:
        """A hit's condition, template and capture expressions (issue 6), on the
        values as objects: None when the condition is false or the rate limit says
        no, else the template's message (None: none), the capture expressions' JSON
        object (None: none) and whether the condition held (it did not when it
        failed to evaluate). Their errors are added to ``errors``."""
        first = entry or ret
        assert first is not None
        probe = first.plan.probe
        at_exit = (
            probe.kind != "line"
            and ret is not None
            and self._definitions[probe.probe_id].evaluate_at != "ENTRY"
        )
        scope = build_scope(
            self._objects(entry.plan.arguments, entry.arguments) if entry else {},
            self._objects(entry.plan.locals, entry.locals) if entry else {},
            self._objects(ret.plan.results, ret.results) if at_exit and ret else None,
            duration if at_exit else None,
        )
        decision, error = expressions.decide(scope)
        if decision == "skip":
            self.condition_false[probe.probe_id] = self.condition_false.get(probe.probe_id, 0) + 1
            return None
        limiter = self._limiters.get(probe.probe_id)
        if limiter is not None and not limiter.allow(first.event.ktime_ns):
            self.sampled_out[probe.probe_id] = self.sampled_out.get(probe.probe_id, 0) + 1
            return None
        if error is not None:
            errors.append(error)
            return None, None, False
        message = None
        rendered = expressions.message(scope)
        if rendered is not None:
            message, template_errors = rendered
            errors.extend(template_errors)
        values, capture_errors = expressions.capture_expressions(scope)
        errors.extend(capture_errors)
        expressed = members({k: encode(v) for k, v in values.items()}) if values else None
        return message, expressed, True

    def _captures(self, entry: _Hit | None, ret: _Hit | None, expressed: str | None) -> str:
        """The ``captures`` JSON of a hit; ``expressed``: its capture expressions'."""
        first = entry or ret
        assert first is not None
        plan = first.plan
        locals_ = plan.locals.object(first.locals) if plan.locals.variables else None
        if plan.probe.kind == "line":
            return line_captures(
                plan.probe.line, plan.arguments.object(first.arguments), locals_, expressed
            )
        return entry_captures(
            plan.arguments.object(entry.arguments) if entry else None,
            locals_ if entry else None,
            ret.plan.results.return_locals(ret.results) if ret else None,
            expressed,
        )

    def _default_message(self, entry: _Hit | None, ret: _Hit | None, first: _Hit) -> str:
        """The one-line summary of a hit: the call with its arguments (a line probe:
        its location with arguments and locals), then what it returned."""
        probe = first.plan.probe
        if probe.kind == "line":
            texts = first.arguments + first.locals
            pieces = self._pieces(first.plan.said_line, texts, first)
            return call(f"{probe.function}:{probe.line}", pieces)
        pieces = self._pieces(entry.plan.said_call, entry.arguments, entry) if entry else []
        message = call(probe.function, pieces)
        if ret is not None:
            message += returns(self._pieces(ret.plan.said_results, ret.results, ret))
        return message

    def _pieces(self, said: tuple[Said, ...], texts: list[str], hit: _Hit) -> list[str]:
        """The message pieces (``name=summary``) of the values ``said`` shows, whose
        texts (rendered from ``hit``) are ``texts``."""
        out = []
        for s in said:
            text = texts[s.index]
            piece = s.pieces.get(text)
            if piece is None:
                piece = s.prefix + self._summary(s, text, hit.event, hit.plan.summary_limits)
                if len(text) <= _CACHED_TEXT:
                    if len(s.pieces) >= _CACHED_PIECES:
                        s.pieces.clear()
                    s.pieces[text] = piece
            out.append(piece)
        return out

    def _summary(self, said: Said, text: str, event: EventData, limits: Capture) -> str:
        """The summary of a value the message shows, from its text; a long value is
        rendered again from ``event`` within the summary ``limits`` rather than
        read back whole. C does it when it can (``summaries``)."""
        if self._summaries is not None:
            made = self._summaries.summary(said.type, text)
            if made is not None:
                return made
        if len(text) > _SHORT_TEXT:
            ctx = RenderContext(event, limits)
            text = said.variable.text(event, ctx)
        return self._message.summary(said.type, self._renderer.value(text))

    def _piece(self, said: tuple[Said, Capture], text: str, payload: bytes, blocks: Blocks) -> str:
        """The message piece of a value C did not have one for (``fastpath``):
        the ``Said`` and its probe's summary limits, the value's text, and the
        event's payload and blocks."""
        s, limits = said
        return s.prefix + self._summary(s, text, EventBytes(payload, blocks), limits)

    def _objects(self, scope: ScopePlan, texts: list[str]) -> dict[str, CapturedValue]:
        """The values of a scope as objects, by name, for expressions."""
        return {
            name: self._renderer.value(text) for name, text in zip(scope.names, texts, strict=True)
        }

    def _stack(self, event: RawEvent) -> str:
        """The JSON of the symbolicated stack of ``event`` (cached by its raw PCs:
        events of a probe repeat the same stacks)."""
        text = self._stacks.get(event.stack)
        if text is None:
            if len(self._stacks) >= MAX_CACHED_STACKS:
                self._stacks.clear()
            text = self._stacks[event.stack] = self._stack_text(event.stack)
        return text

    def _stack_text(self, stack: bytes) -> str:
        """The JSON of the symbolicated stack of the PCs ``stack`` (as events hold
        them)."""
        assert self._symbolizer is not None
        return self._symbolizer.stack_json(pcs_of(stack))


def _json_string(text: str) -> bytes | None:
    """``text`` as the envelope writes a JSON string; None if it cannot (lone
    surrogates: no snapshot of it is made either)."""
    try:
        return encode(text).encode()
    except (UnicodeEncodeError, msgspec.EncodeError):
        return None


def _renamed(hit: _Hit, names: dict[str, str]) -> _Hit:
    """``hit`` with its values' shape type names replaced by the concrete ones."""
    return dataclasses.replace(
        hit,
        arguments=[rename_text(t, names) for t in hit.arguments],
        locals=[rename_text(t, names) for t in hit.locals],
        results=[rename_text(t, names) for t in hit.results],
    )


def _texts(scope: ScopePlan, event: RawEvent, ctx: RenderContext) -> list[str]:
    """The JSON texts of the values of ``scope``'s variables in ``event``."""
    if scope.native is not None:
        texts = scope.native(ctx)
        if texts is not None:
            return texts
    if scope.group is not None:
        return scope.group(event.payload, 0, 0, ctx)
    return [vp.text(event, ctx) for vp in scope.variables]


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
