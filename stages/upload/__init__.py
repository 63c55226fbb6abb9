"""Delivering snapshots and probe statuses to a Datadog agent, losing nothing.

``upload_snapshots`` / ``upload_statuses`` read an input file item by item
(``source``), batch and POST it with retries (``transport``), set aside what the
agent refuses or what cannot fit, and record how far they got (``progress``) so a
rerun after a crash resumes there. ``status`` defines the probe status format.
"""

from __future__ import annotations

from .source import Position
from .status import ProbeStatus
from .transport import DEFAULT_AGENT, agent_url
from .uploader import (
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    UploadOptions,
    UploadResult,
    side_path,
    upload_snapshots,
    upload_statuses,
)

__all__ = [
    "DEFAULT_AGENT",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ITEMS",
    "Position",
    "ProbeStatus",
    "UploadOptions",
    "UploadResult",
    "agent_url",
    "side_path",
    "upload_snapshots",
    "upload_statuses",
]
