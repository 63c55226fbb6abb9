"""Building snapshot inputs and reading back what the local intake received."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from stages.intake import Intake
from stages.snapshot import Snapshot
from stages.upload import UploadOptions

# The ``start_intake`` fixture: fault steps, then IntakeOptions keywords, port, out.
StartIntake = Callable[..., Intake]


def snapshot_id(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def make_snapshot(i: int, *, pad: int = 0, tags: str = "env:test") -> dict[str, Any]:
    """A small valid snapshot (decodes as ``stages.snapshot.Snapshot``) with id number ``i``."""
    ts = 1750789242826 + i
    return {
        "service": "shop",
        "ddsource": "dd_debugger",
        "ddtags": tags,
        "message": f"main.f(i={i})",
        "timestamp": ts,
        "logger": {
            "name": "main",
            "method": "f",
            "version": 1,
            "thread_id": i % 97,
            "thread_name": "",
        },
        "debugger": {
            "type": "snapshot",
            "snapshot": {
                "id": snapshot_id(i),
                "timestamp": ts,
                "language": "go",
                "probe": {
                    "id": "p1",
                    "version": 1,
                    "location": {"method": "main.f", "file": "main.go", "lines": ["42"]},
                },
                "captures": {
                    "entry": {
                        "arguments": {
                            "i": {"type": "int", "value": str(i)},
                            "s": {"type": "string", "value": "h\u00e9llo " + "x" * pad},
                        }
                    }
                },
            },
        },
    }


def write_array(path: Path, snapshots: Iterable[dict[str, Any]]) -> Path:
    """As ``godi decode`` writes them, a pretty-printed JSON array; written as it goes."""
    enc = msgspec.json.Encoder()
    with open(path, "wb") as f:
        sep = b"[\n"
        for s in snapshots:
            f.write(sep + msgspec.json.format(enc.encode(s), indent=2))
            sep = b",\n"
        f.write(b"[]\n" if sep == b"[\n" else b"\n]\n")
    return path


def write_lines(path: Path, snapshots: Iterable[dict[str, Any]]) -> Path:
    """As ``godi decode --jsonl`` writes them."""
    enc = msgspec.json.Encoder()
    with open(path, "wb") as f:
        for s in snapshots:
            f.write(enc.encode(s) + b"\n")
    return path


def received_ids(out: Path) -> Counter[str]:
    """How many times the intake under ``out`` stored each snapshot id (checked as Snapshots)."""
    dec = msgspec.json.Decoder(list[Snapshot])
    ids: Counter[str] = Counter()
    for f in sorted((out / "input").glob("*.json")):
        ids.update(s.debugger.snapshot.id for s in dec.decode(f.read_bytes()))
    return ids


def stats(out: Path) -> dict[str, Any]:
    """The intake's ``stats.json`` under ``out``."""
    data: dict[str, Any] = json.loads((out / "stats.json").read_text())
    return data


def free_port() -> int:
    """A port nobody listens on now (to start an intake there later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def fast(agent: str, **kw: Any) -> UploadOptions:
    """Upload options with test-sized backoff (milliseconds, not seconds)."""
    base: dict[str, Any] = {"agent": agent, "backoff_base": 0.01, "backoff_max": 0.05}
    return UploadOptions(**{**base, **kw})
