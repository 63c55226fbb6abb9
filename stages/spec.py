"""Probe definitions: the JSON shape Datadog's Remote Configuration delivers.

Data only. Field names follow the product (camelCase on the wire). See
``../shared/reference/probe-spec.md``; ``schemas/probes.schema.json`` is generated
from these Structs and is what a probe file is validated against.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

MAX_DEPTH = 64
"""The deepest ``maxReferenceDepth`` a probe may ask for."""
MAX_COUNT = 1 << 20
"""The most elements, characters or fields a probe may ask to capture."""
MAX_RATE = 1_000_000.0
"""The highest ``snapshotsPerSecond`` a probe may ask for."""

Depth = Annotated[int, msgspec.Meta(ge=0, le=MAX_DEPTH)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
Version = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]
Rate = Annotated[float, msgspec.Meta(ge=0, le=MAX_RATE)]


class SpecStruct(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"
):
    """Base of the probe-file Structs: strict, immutable, camelCase on the wire."""


class Where(SpecStruct, frozen=True, kw_only=True):
    """Where the probe goes: a function (``methodName``, maybe with ``typeName``) or
    a source line (``sourceFile`` + ``lines``)."""

    method_name: str | None = None
    type_name: str | None = None
    source_file: str | None = None
    lines: list[str] | None = None
    signature: str | None = None


class Capture(SpecStruct, frozen=True, kw_only=True):
    """Capture limits; the defaults are Datadog's documented ones. Each is bounded
    (depth 0 to 64, the others 0 to 1048576) so that no probe can make capture or
    decode unbounded."""

    max_reference_depth: Depth = 3
    max_collection_size: Count = 100
    max_length: Count = 255
    max_field_count: Count = 20


DEFAULT_CAPTURE = Capture()


class Sampling(SpecStruct, frozen=True, kw_only=True):
    """Per-probe rate limit."""

    snapshots_per_second: Rate | None = None


class Expression(SpecStruct, frozen=True, kw_only=True):
    """An expression: ``dsl`` is its source text, ``json`` its AST."""

    dsl: str = ""
    json: Any = None


class Segment(SpecStruct, frozen=True, kw_only=True):
    """A template segment: a literal ``str`` or an expression (``dsl`` + ``json``)."""

    text: str | None = msgspec.field(default=None, name="str")
    dsl: str | None = None
    json: Any = None


class CaptureExpression(SpecStruct, frozen=True, kw_only=True):
    """A named expression captured with its own limits."""

    name: str
    expr: Expression
    capture: Capture | None = None


ProbeType = Literal["LOG_PROBE", "METRIC_PROBE", "SPAN_PROBE", "SPAN_DECORATION_PROBE"]


class Probe(SpecStruct, frozen=True, kw_only=True):
    """One probe definition."""

    id: str
    where: Where
    version: Version = 0
    type: ProbeType = "LOG_PROBE"
    language: str = "go"
    capture_snapshot: bool = False
    capture: Capture | None = None
    sampling: Sampling | None = None
    evaluate_at: Literal["ENTRY", "EXIT", "DEFAULT"] | None = None
    when: Expression | None = None
    template: str | None = None
    segments: list[Segment] | None = None
    capture_expressions: list[CaptureExpression] | None = None
    tags: list[str] | None = None

    @property
    def limits(self) -> Capture:
        """The capture limits in force, defaults filled in."""
        return self.capture or DEFAULT_CAPTURE


ProbeFile = list[Probe]
