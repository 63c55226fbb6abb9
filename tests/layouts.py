"""Hand-built layouts for tests of what reads one (counts, statuses, disarming):
probes with the fields those readers use, the rest fixed."""

from __future__ import annotations

from typing import Any

from stages._base import ArtifactHeader
from stages.layout import Layout, ProbeKind, ProbeLayout
from stages.spec import DEFAULT_CAPTURE


def probe_layout(
    index: int, probe_id: str, version: int = 1, kind: ProbeKind = "entry", **over: Any
) -> ProbeLayout:
    """Installed probe ``index`` of ``probe_id``: an uprobe at ``0x1000 + index`` in
    ``main.<probe_id>``, capturing nothing; ``over`` sets any other field."""
    fields: dict[str, Any] = {
        "function": f"main.{probe_id}",
        "file": "main.go",
        "line": 10,
        "pc": 0x1000 + index,
        "root_type": 1,
        "root_size": 0,
        "limits": DEFAULT_CAPTURE,
        "capture_snapshot": True,
        "variables": [],
        "bpf_function": f"godi_probe_{index}",
    }
    fields.update(over)
    return ProbeLayout(index=index, probe_id=probe_id, probe_version=version, kind=kind, **fields)


def layout(probes: list[ProbeLayout], **over: Any) -> Layout:
    """A layout of ``probes`` and no types, for build id ``abc123``."""
    fields: dict[str, Any] = {
        "header": ArtifactHeader(format="godi.layout", format_version=1, tool_version="t"),
        "binary_build_id": "abc123",
        "goid_offset": 152,
        "stack_hi_offset": 8,
        "types": [],
    }
    fields.update(over)
    return Layout(probes=probes, **fields)
