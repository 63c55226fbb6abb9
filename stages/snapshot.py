"""Datadog Dynamic Instrumentation snapshots: what decode emits.

Data only, shaped by ``../shared/reference/snapshot-format.md``. Field names are
the wire names (camelCase where Datadog uses it). ``schemas/snapshot.schema.json``
is generated from these Structs; unset optional members are omitted from the JSON.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

DecimalString = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+$")]

NotCapturedReason = Literal[
    "depth",
    "collectionSize",
    "length",
    "fieldCount",
    "circular reference",
    "unavailable",
    "redactedIdent",
    "redactedType",
    "missing type information",
    "unimplemented",
]


class Out(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True
):
    """Base of the output Structs: unset members are left out of the JSON."""


class CapturedValue(Out, frozen=True, kw_only=True):
    """One captured value; which members are set depends on the Go kind.

    See the rendering table of snapshot-format.md: scalars set ``value``; structs
    ``fields``; arrays and slices ``size`` + ``elements``; maps ``size`` +
    ``entries``; pointers ``address`` plus the pointee's members; nil values
    ``isNull``; values not captured ``notCapturedReason``. ``type`` is left out
    only where there is none: the object holding several results (``@return``).
    """

    type: str = ""
    value: str | None = None
    fields: dict[str, CapturedValue] | None = None
    elements: list[CapturedValue] | None = None
    entries: list[tuple[CapturedValue, CapturedValue]] | None = None
    size: DecimalString | None = None
    truncated: bool | None = None
    isNull: bool | None = None
    address: Annotated[str, msgspec.Meta(pattern=r"^0x[0-9a-f]+$")] | None = None
    notCapturedReason: NotCapturedReason | None = None
    len: DecimalString | None = None
    cap: DecimalString | None = None


class CapturedScope(Out, frozen=True, kw_only=True):
    """Arguments and locals captured at one point (entry, return, a line)."""

    arguments: dict[str, CapturedValue] | None = None
    locals: dict[str, CapturedValue] | None = None
    captureExpressions: dict[str, CapturedValue] | None = None


class Captures(Out, frozen=True, kw_only=True):
    """The captures of a snapshot."""

    entry: CapturedScope | None = None
    # "return" is a Python keyword: named on the wire only.
    return_: CapturedScope | None = msgspec.field(default=None, name="return")
    lines: dict[str, CapturedScope] | None = None


class StackFrame(Out, frozen=True, kw_only=True):
    """A symbolicated frame."""

    function: str
    fileName: str
    lineNumber: int


class EvaluationError(Out, frozen=True, kw_only=True):
    """Something that could not be evaluated or captured."""

    expr: str
    message: str


class ProbeLocation(Out, frozen=True, kw_only=True):
    """Where the probe is."""

    method: str | None = None
    file: str | None = None
    lines: list[str] | None = None


class ProbeRef(Out, frozen=True, kw_only=True):
    """The probe that produced the snapshot."""

    id: str
    version: int
    location: ProbeLocation


class SnapshotBody(Out, frozen=True, kw_only=True):
    """``debugger.snapshot``."""

    id: str
    timestamp: int
    language: Literal["go"]
    probe: ProbeRef
    stack: list[StackFrame] | None = None
    captures: Captures | None = None
    evaluationErrors: list[EvaluationError] | None = None


class Debugger(Out, frozen=True, kw_only=True):
    """``debugger``."""

    type: Literal["snapshot"]
    snapshot: SnapshotBody


class Logger(Out, frozen=True, kw_only=True):
    """``logger``: where the hit came from; ``thread_id`` is the goroutine id."""

    name: str
    method: str
    version: int
    thread_id: int
    thread_name: str


class Snapshot(Out, frozen=True, kw_only=True):
    """One snapshot: the envelope Datadog's intake accepts."""

    service: Annotated[str, msgspec.Meta(min_length=1)]
    ddsource: Literal["dd_debugger"]
    ddtags: str
    message: str
    timestamp: int
    duration: int | None = None
    logger: Logger
    debugger: Debugger


# Insertion order, not sorted: struct fields must stay in declaration order.
_encoder = msgspec.json.Encoder()


def encode_snapshots(snapshots: list[Snapshot]) -> bytes:
    """The snapshots as one JSON array (members in a fixed order, fields as declared)."""
    return _encoder.encode(snapshots)
