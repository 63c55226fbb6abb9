"""Per-probe plans: what rendering a probe's events needs that does not depend on
the event, worked out once per decode.

A probe's variables are grouped in scopes (arguments, locals, results). Rendering an
event gives one JSON text per variable, in the scope's order; ``ScopePlan`` turns
those texts into the scope's JSON object with one ``%`` format (names quoted once),
and says which text the snapshot shows under each name: with two variables of one
name, the later one's, in the place of the first (a dict's rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from ..layout import ProbeLayout, VariableLayout
from ..spec import Capture
from .events import ROOT_AT, EventData
from .generated import Group, Slot, group_renderer
from .generics import DICT_NAME
from .jsontext import quote, value_text
from .message import summary_limits
from .native import NativeRenderer, Scope, Value
from .values import Ranges, Render, RenderContext, ValueRenderer


@dataclass(frozen=True, slots=True)
class VariablePlan:
    """A variable and the root bytes known missing whatever the event says."""

    var: VariableLayout
    name: str
    """The variable's name (``var.name``), its key in the snapshot."""
    holes: Ranges
    fail_holes: tuple[tuple[int, tuple[int, int]], ...]
    """``(fail bit, range)``: missing when that bit of the event's fail_mask is set."""
    render: Render
    """The compiled renderer of the variable's type."""
    offset: int
    """Where the variable is in the event's payload (``holes`` are there too)."""
    constant: str | None
    """The variable's value whatever the event: redacted, or without a location."""
    native: Value | None = None
    """The C renderer of the value (``native``) with its fixed ``holes``, for events
    whose failed reads add none."""

    def text(self, event: EventData, ctx: RenderContext) -> str:
        """The JSON text of the variable's value in ``event``."""
        if self.constant is not None:
            return self.constant
        failed: Ranges = ()
        if self.fail_holes and event.fail_mask:
            mask = event.fail_mask
            failed = tuple(span for bit, span in self.fail_holes if mask >> bit & 1)
        if not failed and self.native is not None:
            text = self.native(ctx)
            if text is not None:
                return text
        return self.render(event.payload, self.offset, 0, self.holes + failed, ctx)


@dataclass(frozen=True, slots=True)
class ScopePlan:
    """The variables of one scope and how their texts make the scope's JSON."""

    variables: tuple[VariablePlan, ...]
    names: tuple[str, ...]
    """The variables' names, in order (with repeats)."""
    picks: tuple[int, ...] | None
    """The index of the text shown under each distinct name, in the order of first
    appearance; None when no name repeats (every text, in order)."""
    object_format: str
    """``%`` format of the scope's object: ``{"name":%s,...}``."""
    return_format: str
    """``%`` format of ``return.locals`` with these variables as the results: ``{}``,
    ``{"@return":%s}`` for one, ``{"@return":{"fields":{...}}}`` (no type: Datadog
    writes none) for
    several."""
    group: Group | None
    """The generated renderer of all the scope's values at once (see ``generated``),
    when none of them depends on the event but through its bytes."""
    native: Scope | None = None
    """The same in C (``native``), tried first."""

    def shown(self, texts: list[str]) -> tuple[str, ...]:
        """The texts the snapshot shows, one per distinct name, in order."""
        if self.picks is None:
            return tuple(texts)
        return tuple(texts[i] for i in self.picks)

    def object(self, texts: list[str]) -> str:
        """The scope's JSON object from its variables' texts."""
        return self.object_format % (tuple(texts) if self.picks is None else self.shown(texts))

    def return_locals(self, texts: list[str]) -> str:
        """``return.locals`` from the results' texts."""
        return self.return_format % (tuple(texts) if self.picks is None else self.shown(texts))


def _scope_plan(
    renderer: ValueRenderer,
    variables: tuple[VariablePlan, ...],
    label: str,
    native: NativeRenderer | None,
) -> ScopePlan:
    names = tuple(vp.name for vp in variables)
    last = {n: i for i, n in enumerate(names)}  # first place, last index: a dict's rules
    picks = None if len(last) == len(names) else tuple(last.values())
    members = ",".join(quote(n).replace("%", "%%") + ":%s" for n in last)
    if not last:
        returned = "{}"
    elif len(last) == 1:
        returned = '{"@return":%s}'
    else:
        returned = '{"@return":{"fields":{' + members + "}}}"
    group = _group(renderer, variables, label, lazy=native is not None)
    return ScopePlan(
        variables=variables,
        names=names,
        picks=picks,
        object_format="{" + members + "}",
        return_format=returned,
        group=group,
        # (in C also with fixed holes; not with holes that depend on the event)
        native=(
            native.scope(
                [vp.var.type if vp.constant is None else vp.constant for vp in variables],
                [vp.offset for vp in variables],
                [vp.holes for vp in variables],
            )
            if native is not None
            and variables
            and not any(vp.fail_holes and vp.constant is None for vp in variables)
            else None
        ),
    )


def _group(
    renderer: ValueRenderer, variables: tuple[VariablePlan, ...], label: str, lazy: bool = False
) -> Group | None:
    """A generated renderer of ``variables``, read at their offsets in the payload
    (``label`` names it); None without variables, or when one has holes, fixed or
    depending on failed reads (those render one by one). ``lazy``: generated on
    its first call (see ``_lazy``)."""
    if not variables or any(
        (vp.holes or vp.fail_holes) and vp.constant is None for vp in variables
    ):
        return None

    def make() -> Group:
        slots = [
            Slot(vp.offset, vp.constant)
            if vp.constant is not None
            else Slot(vp.offset, vp.render, renderer.words(vp.var.type))
            for vp in variables
        ]
        return group_renderer(slots, label)

    return _lazy(make) if lazy else make()


_F = TypeVar("_F", bound=Callable[..., Any])


def _lazy(make: Callable[[], _F]) -> _F:
    """The function ``make()`` returns, made on its first call. With the C renderer
    the Python renderers are its fallback, and generating them (compiling their
    code) costs more than a decode uses them."""
    made: list[_F] = []

    def call(*args: Any) -> Any:
        if not made:
            made.append(make())
        return made[0](*args)

    return cast(_F, call)


@dataclass(frozen=True, slots=True)
class Said:
    """A value the one-line message shows: under ``name``, summarised as a
    ``type``; its text is number ``index`` of the scope's texts, rendered from
    ``variable`` (the one the snapshot shows under that name). Its message piece is
    ``prefix`` (``name=``, or nothing for a lone result) and the summary."""

    name: str
    type: int
    index: int
    variable: VariablePlan
    prefix: str
    pieces: dict[str, str] = field(default_factory=dict)
    """Message pieces of short values, by their text."""


def _said(variables: tuple[VariablePlan, ...], *, lone: bool = False) -> tuple[Said, ...]:
    """What a message shows of ``variables``; ``lone``: a result alone is shown bare."""
    last = {vp.name: i for i, vp in enumerate(variables)}
    bare = lone and len(variables) == 1
    return tuple(
        Said(
            vp.name,
            vp.var.type,
            last[vp.name],
            variables[last[vp.name]],
            "" if bare else vp.name + "=",
        )
        for vp in variables
    )


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """A probe: its scopes and what its message shows."""

    probe: ProbeLayout
    root_needed: int
    """Bytes of root area its variables need."""
    arguments: ScopePlan
    locals: ScopePlan
    results: ScopePlan
    summary_limits: Capture
    """The probe's limits cut down to what a message shows."""
    said_call: tuple[Said, ...]
    """The arguments, in a call's message."""
    said_line: tuple[Said, ...]
    """Arguments then locals, in a line probe's message (texts: both scopes')."""
    said_results: tuple[Said, ...]
    dictionary: VariablePlan | None = None
    """A generic shape function's ``.dict`` argument: read to name the concrete
    types (``generics``), not shown."""


def _plan_variable(
    renderer: ValueRenderer, var: VariableLayout, native: NativeRenderer | None
) -> VariablePlan:
    holes: list[tuple[int, int]] = []
    fail_holes: list[tuple[int, tuple[int, int]]] = []
    base = ROOT_AT + (var.root_offset or 0)
    for piece in var.pieces:
        span = (base + piece.offset, base + piece.offset + piece.size)
        if piece.source in ("unavailable", "vector"):  # vector: no floats record
            holes.append(span)
        elif piece.source == "memory" and piece.fail_bit is not None:
            fail_holes.append((piece.fail_bit, span))
    type_name = renderer.name(var.type)
    constant = None
    if renderer.redaction.ident(var.name):
        constant = value_text(type_name, "redactedIdent")
    elif renderer.redacted_type(var.type):  # never read (codegen.roots)
        constant = value_text(type_name, "redactedType")
    elif var.root_offset is None:
        constant = value_text(type_name, "unavailable")
    elif holes and not fail_holes and renderer.covered(tuple(holes), base, base + var.size):
        constant = renderer.missing_text(var.type)  # none of it captured
    return VariablePlan(
        var,
        var.name,
        tuple(holes),
        tuple(fail_holes),
        renderer.renderer(var.type)
        if native is None
        else _lazy(lambda: renderer.renderer(var.type)),
        base,
        constant,
        native.value(var.type, base, tuple(holes))
        if native is not None and constant is None
        else None,
    )


def plan_probe(
    renderer: ValueRenderer,
    probe: ProbeLayout,
    *,
    shape: bool = False,
    native: NativeRenderer | None = None,
) -> ProbePlan:
    """The plan of ``probe``'s events, with ``renderer``'s compiled renderers (and
    ``native``'s, when given). ``shape``: the probed function is a generic shape
    function."""
    plans = [_plan_variable(renderer, v, native) for v in probe.variables]
    needed = max(
        (v.root_offset + v.size for v in probe.variables if v.root_offset is not None),
        default=0,
    )
    arguments = tuple(p for p in plans if p.var.role == "argument")
    dictionary = next((p for p in arguments if p.name == DICT_NAME), None) if shape else None
    arguments = tuple(p for p in arguments if p is not dictionary)
    locals_ = tuple(p for p in plans if p.var.role == "local")
    results = tuple(p for p in plans if p.var.role == "return")
    return ProbePlan(
        probe=probe,
        root_needed=needed,
        arguments=_scope_plan(renderer, arguments, f"arguments_{probe.index}", native),
        locals=_scope_plan(renderer, locals_, f"locals_{probe.index}", native),
        results=_scope_plan(renderer, results, f"results_{probe.index}", native),
        summary_limits=summary_limits(probe.limits),
        said_call=_said(arguments),
        said_line=_said(arguments + locals_),
        said_results=_said(results, lone=True),
        dictionary=dictionary,
    )
