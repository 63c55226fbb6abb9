"""The base Struct every artifact format derives from, and the artifact header."""

from __future__ import annotations

import msgspec


class Struct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Immutable, strict, keyword-only: the shape of every godi data type."""


class ArtifactHeader(Struct, frozen=True, kw_only=True):
    """Provenance of an artifact: who wrote it, in which format, from which inputs.

    ``inputs`` maps an input's role (``binary``, ``ir``, ``probes``...) to a content
    hash or build id, so that a later stage can refuse an artifact made from other
    inputs than the ones it is given.
    """

    format: str
    format_version: int
    tool_version: str
    inputs: dict[str, str] = {}
