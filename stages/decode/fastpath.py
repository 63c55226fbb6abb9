"""Whole snapshots of simple probes made in C (``_render.Snapshots``, written in
``_snapshots.c``): from a record's bytes to its snapshot's JSON without a Python
call, for the probes most events come from.

A probe is simple when its events need none of what only Python does: it has no
condition, template or capture expression; it is not a generic shape function
(whose dictionary names the types); and the values it shows render in C
(``ScopePlan.native``). Entries, returns (paired with their entry in C) and line
probes can all be simple; the probes of one call are simple together or not at
all. Everything about such a probe that does not depend on the event (message
start, envelope texts, scope members, evaluation errors, the values its message
shows) is worked out here once and handed to C.

The C code takes the records it can and stops at the first it cannot: a record
of another kind or probe, or a corrupt one. ``DecodeRun`` decodes that one in
Python, then hands over again, so every record is decoded once and in order, and
a bad one raises the same ``DecodeError`` as without C. C asks Python for what it
has not seen before: the message piece of a value text and the JSON of a stack
(both cached in C), and a ``RenderContext`` when a value needs a Python renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..snapshot import EvaluationError
from ..spec import Capture
from . import jsontext
from .envelope import Envelope
from .events import Blocks
from .native import NativeRenderer
from .plans import ProbePlan, Said, ScopePlan
from .summaries import Summaries
from .values import RenderContext

if TYPE_CHECKING:
    from ._render import Snapshots

Piece = Callable[[tuple[Said, Capture], str, bytes, Blocks], str]
"""The message piece (``name=summary``) of a value the message shows: from the
``Said`` and the probe's summary limits, the value's text, and the event's payload
and blocks (to render a long value again within those limits)."""
StackText = Callable[[bytes], str]
"""The JSON of a stack, from its program counters as the event holds them."""


@dataclass(slots=True)
class EventBytes:
    """What values are rendered from: an event's payload and blocks (enough of a
    ``RawEvent`` for ``RenderContext`` and ``VariablePlan.text`` of a variable
    without holes)."""

    payload: bytes
    blocks: Blocks
    fail_mask: int = 0


def context(payload: bytes, blocks: Blocks, limits: Capture) -> RenderContext:
    """The render context of an event C is decoding, for a Python renderer."""
    return RenderContext(EventBytes(payload, blocks), limits)


ALONE, ENTRY, RETURN = 0, 1, 2
"""What a probe's events are, in C: a line probe or the entry of a function without
return probes (a snapshot each), an entry waiting for its return, a return."""


def choose(
    plans: list[ProbePlan],
    *,
    expressions: set[str],
    shape: Callable[[str], bool],
) -> list[list[ProbePlan]]:
    """The simple probes among ``plans`` (see the module's docstring), by call:
    the probes of one call (one probe id and function: its entry and returns) are
    all chosen or none is, so that entries and returns meet on one side; a probe
    whose events stand alone (``ALONE``) is chosen by itself. ``expressions``: the
    probe ids with a condition, template or capture expressions; ``shape``: whether
    a function is a generic shape function."""
    calls: dict[tuple[str, str, int], list[ProbePlan]] = {}
    for plan in plans:
        # A probe whose events stand alone (a line, an entry without returns: an
        # inlined copy) is a call of its own.
        alone = _role(plan) == ALONE
        key = (plan.probe.probe_id, plan.probe.function, plan.probe.index if alone else -1)
        calls.setdefault(key, []).append(plan)
    return [
        members
        for (probe_id, function, _), members in calls.items()
        if probe_id not in expressions
        and not shape(function)
        and all(_simple(plan) for plan in members)
    ]


def _simple(plan: ProbePlan) -> bool:
    limits = plan.probe.limits
    if (
        plan.dictionary is not None
        or min(
            limits.max_reference_depth,
            limits.max_collection_size,
            limits.max_length,
            limits.max_field_count,
        )
        < 0
    ):
        return False
    shown: tuple[ScopePlan, ...]
    unused: tuple[ScopePlan, ...]
    if plan.probe.kind == "return":
        shown, unused = (plan.results,), (plan.arguments, plan.locals)
    else:
        shown, unused = (plan.arguments, plan.locals), (plan.results,)
    if any(s.variables for s in unused):
        return False
    return all(s.native is not None for s in shown if s.variables)


def _utf8(text: str) -> bytes:
    return text.encode()  # strict: Python's envelope would fail on lone surrogates


def _escaped(text: str) -> bytes:
    """``text`` JSON-escaped, without the quotes."""
    return _utf8(jsontext.quote(text)[1:-1])


_ScopeSpec = tuple[
    tuple[int, ...],
    tuple[int, ...],
    tuple[tuple[bytes, int], ...],
    bytes,
    bytes,
    tuple[bytes, ...],
]


def _scope(scope: ScopePlan, truncated: str, *, results: bool = False) -> _ScopeSpec:
    """A scope for C: the nodes and payload offsets of its values (as its native
    renderer has them); its object (``ScopePlan.object``, or ``return_locals`` for
    ``results``): the members, each a key and the index of the text it shows, and
    the texts around them; and the evaluation error of each variable whose data
    an event cut short lacks (``truncated``: its message)."""
    nodes, offsets = scope.native.args if scope.native is not None else ((), ())
    distinct = list(dict.fromkeys(scope.names))
    picks = scope.picks if scope.picks is not None else range(len(scope.names))
    keys = [_utf8(jsontext.key(n)) for n in distinct]
    opening, closing = b"{", b"}"
    if results and len(distinct) == 1:
        opening, keys = b'{"@return":', [b""]
    elif results and distinct:
        opening, closing = b'{"@return":{"fields":{', b"}}}"
    members = tuple(zip(keys, picks, strict=True))
    missing = tuple(_error(vp.name, truncated) for vp in scope.variables)
    return nodes, offsets, members, opening, closing, missing


def _error(expr: str, message: str) -> bytes:
    return _utf8(jsontext.encode(EvaluationError(expr=expr, message=message)))


def _spec(
    plan: ProbePlan,
    envelope: Envelope,
    stacks: bool,
    role: int,
    call: int,
    truncated: str,
    summaries: Summaries | None,
) -> tuple[object, ...]:
    """The probe of ``plan`` as ``Snapshots.add`` takes it."""
    probe = plan.probe
    line = probe.kind == "line"
    before_goid, ref = envelope.probe_texts(probe.index)
    if line:
        head = f"{probe.function}:{probe.line}("
        opening = f'{{"lines":{{{jsontext.quote(str(probe.line))}:{{'
        closing = "}}}"
    else:
        head = f"{probe.function}()" if role == RETURN else f"{probe.function}("
        opening, closing = '{"entry":{', "}}"
    if role == RETURN:
        said = [(s, 2, s.index) for s in plan.said_results]
    elif line:
        nargs = len(plan.arguments.variables)
        said = [
            (s, 0, s.index) if s.index < nargs else (s, 1, s.index - nargs) for s in plan.said_line
        ]
    else:
        said = [(s, 0, s.index) for s in plan.said_call]
    limits = probe.limits
    return (
        role,
        call,
        _escaped(head),
        probe.capture_snapshot,
        _utf8(opening),
        _utf8(closing),
        _utf8(before_goid),
        _utf8(ref),
        stacks and probe.capture_snapshot,
        plan.root_needed,
        (
            limits.max_reference_depth,
            limits.max_collection_size,
            limits.max_length,
            limits.max_field_count,
        ),
        limits,
        (
            _scope(plan.arguments, truncated),
            _scope(plan.locals, truncated),
            _scope(plan.results, truncated, results=True),
        ),
        tuple(
            (
                (s, plan.summary_limits),
                scope,
                index,
                summaries.node(s.type) if summaries is not None else -1,
                _escaped(s.prefix),
            )
            for s, scope, index in said
        ),
    )


def snapshots(
    native: NativeRenderer | None,
    envelope: Envelope,
    calls: list[list[ProbePlan]],
    type_sizes: list[int],
    *,
    truncated: str,
    no_entry: EvaluationError,
    no_return: EvaluationError,
    piece: Piece,
    stack: StackText | None,
    summaries: Summaries | None = None,
) -> Snapshots | None:
    """The C maker of the snapshots of ``calls``, the simple probes (``choose``);
    ``RecordReader.take`` runs its ``run``. None when there is none, or no C
    (``native`` None). ``truncated``: the message of the evaluation errors of events cut short;
    ``no_entry``, ``no_return``: the evaluation errors of a return without its
    entry and of an entry without its return; ``summaries``: the C summaries of
    message values (``piece`` is called where they decline)."""
    if native is None or not calls:
        return None
    c = native.snapshots(
        type_sizes,
        _utf8(envelope.start),
        _utf8(envelope.id_prefix),
        envelope.clock_offset_ns,
        _error("<capture>", truncated),
        _error(no_entry.expr, no_entry.message),
        _error(no_return.expr, no_return.message),
        piece,
        stack if stack is not None else _no_stack,
        context,
        summaries,
    )
    added = 0
    stacks = stack is not None
    for call, members in enumerate(calls):
        try:
            specs = [
                (
                    plan.probe.index,
                    _spec(plan, envelope, stacks, _role(plan), call, truncated, summaries),
                )
                for plan in members
            ]
        except UnicodeEncodeError:
            continue  # (Python fails on such texts all the same)
        for index, spec in specs:
            c.add(index, spec)
        added += len(specs)
    return c if added else None


def _role(plan: ProbePlan) -> int:
    """The role of ``plan``'s probe (as ``DecodeRun._run`` treats its events)."""
    probe = plan.probe
    if probe.kind == "return":
        return RETURN
    if probe.kind == "entry" and probe.has_return:
        return ENTRY
    return ALONE


def _no_stack(pcs: bytes) -> str:
    raise AssertionError("stacks are not asked for without a symbol table")
