"""Probe statuses: what ``godi upload --statuses`` sends to ``/debugger/v1/diagnostics``.

Data only, shaped by ``../shared/reference/snapshot-format.md`` (section Uploading).
A status file is a JSON array (or JSON lines) of ``ProbeStatus`` objects; unset
optional members are left out of the JSON.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .._base import Struct
from ..probecounts import ProbeCounts

Status = Literal["RECEIVED", "INSTALLED", "EMITTING", "ERROR"]


class _Out(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of the status Structs: strict on input, unset members omitted on output."""


class StatusException(_Out, frozen=True, kw_only=True):
    """Why a probe is in ``ERROR``."""

    type: str
    message: str


class Diagnostics(_Out, frozen=True, kw_only=True):
    """``debugger.diagnostics``: the state of one probe in one process."""

    probeId: str
    probeVersion: int
    runtimeId: str
    status: Status
    exception: StatusException | None = None


class DiagnosticsBody(_Out, frozen=True, kw_only=True):
    """``debugger``."""

    diagnostics: Diagnostics


class ProbeStatus(_Out, frozen=True, kw_only=True):
    """One probe status event, the envelope the agent's diagnostics endpoint accepts.

    ``message`` is not in the reference but Datadog's tracers send a human
    sentence there ("Probe p1 has been installed"); it is accepted and passed on.
    """

    service: str
    ddsource: Literal["dd_debugger"]
    timestamp: int
    message: str | None = None
    debugger: DiagnosticsBody
    counts: ProbeCounts | None = None
    """godi's own: what happened to the probe's hits (``probecounts``); not sent
    to the agent."""


status_decoder = msgspec.json.Decoder(ProbeStatus)
status_encoder = msgspec.json.Encoder()
