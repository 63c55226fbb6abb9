"""What the local intake keeps: one file per accepted request, an index, counters.

Layout of the output directory::

    input/000012.json        body of request 12 to /debugger/v{1,2}/input, as received
    diagnostics/000013.json  the ``event.json`` part of request 13 to /debugger/v1/diagnostics
    requests.jsonl           one line per request: number, endpoint, ddtags, items, outcome
    stats.json               running counters, rewritten atomically after every request

``stats.json`` counts snapshots by their ``debugger.snapshot.id``: ``duplicates`` is
how many stored snapshots had an id already stored (by this intake or an earlier
one on the same directory), ``lost_response_snapshots`` how many were stored in
requests whose answer was deliberately lost (fault ``lose``): a faithful client
resends exactly those, so the two are equal after a run with no other fault.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from ..artifacts import write_atomic
from ..errors import IntakeError

_FIELDS = (
    "requests",
    "stored_requests",
    "snapshots",
    "unique_snapshots",
    "duplicates",
    "snapshots_without_id",
    "lost_response_snapshots",
    "statuses",
    "rejected",
)


class _Snap(msgspec.Struct):
    class _Debugger(msgspec.Struct):
        class _Body(msgspec.Struct):
            id: str | None = None

        snapshot: _Body | None = None

    debugger: _Debugger | None = None


_ids_decoder = msgspec.json.Decoder(list[_Snap])


def snapshot_ids(body: bytes) -> list[str | None]:
    """The ``debugger.snapshot.id`` of each snapshot of a stored body."""
    return [
        s.debugger.snapshot.id if s.debugger and s.debugger.snapshot else None
        for s in _ids_decoder.decode(body)
    ]


class Store:
    """The intake's output directory and counters; every method is thread-safe."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        try:
            for sub in ("input", "diagnostics"):
                (self.dir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise IntakeError(f"{out_dir}: cannot create the output directory: {e.strerror}") from e
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter({k: 0 for k in _FIELDS})
        self.responses: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._seen: set[str] = set()
        self._load()
        self._index = open(self.dir / "requests.jsonl", "ab")  # noqa: SIM115 - closed by close()

    def _load(self) -> None:
        """Continue the counts of an earlier intake on the same directory."""
        stats = self.dir / "stats.json"
        if stats.exists():
            old = msgspec.json.decode(stats.read_bytes())
            self.counts.update({k: int(old.get(k, 0)) for k in _FIELDS})
            self.responses.update(old.get("responses", {}))
            self.faults.update(old.get("faults", {}))
        for path in sorted((self.dir / "input").glob("*.json")):
            self._seen.update(i for i in snapshot_ids(path.read_bytes()) if i is not None)

    def begin(self) -> int:
        """Count a request; its number."""
        with self._lock:
            self.counts["requests"] += 1
            return self.counts["requests"]

    def store_snapshots(self, number: int, body: bytes, ids: list[str | None]) -> int:
        """Keep an accepted snapshot request; how many of its snapshots were duplicates."""
        write_atomic(self.dir / "input" / f"{number:06d}.json", body)
        with self._lock:
            dups = 0
            for i in ids:
                if i is None:
                    self.counts["snapshots_without_id"] += 1
                elif i in self._seen:
                    dups += 1
                else:
                    self._seen.add(i)
            self.counts["snapshots"] += len(ids)
            self.counts["duplicates"] += dups
            self.counts["unique_snapshots"] = len(self._seen)
            self.counts["stored_requests"] += 1
            return dups

    def store_statuses(self, number: int, event: bytes, count: int) -> None:
        """Keep an accepted diagnostics request (its ``event.json`` part)."""
        write_atomic(self.dir / "diagnostics" / f"{number:06d}.json", event)
        with self._lock:
            self.counts["statuses"] += count
            self.counts["stored_requests"] += 1

    def lost_response(self, items: int) -> None:
        with self._lock:
            self.counts["lost_response_snapshots"] += items

    def outcome(self, entry: dict[str, Any], *, status: int | None, fault: str | None) -> None:
        """Count how a request ended (``status`` None: no answer was sent) and log it."""
        with self._lock:
            if status is not None:
                self.responses[str(status)] += 1
            if fault is not None:
                self.faults[fault] += 1
            if status == 400:
                self.counts["rejected"] += 1
            if self._index.closed:  # a request finishing after stop()
                return
            self._index.write(msgspec.json.encode(entry) + b"\n")
            self._index.flush()
            self._write_stats()

    def stats(self) -> dict[str, Any]:
        """The counters, as in ``stats.json``."""
        with self._lock:
            return self._stats()

    def _stats(self) -> dict[str, Any]:
        return {
            **{k: self.counts[k] for k in _FIELDS},
            "responses": dict(sorted(self.responses.items())),
            "faults": dict(sorted(self.faults.items())),
        }

    def _write_stats(self) -> None:
        write_atomic(
            self.dir / "stats.json",
            msgspec.json.format(msgspec.json.encode(self._stats()), indent=2) + b"\n",
        )

    def close(self) -> None:
        with self._lock:
            if not self._index.closed:
                self._write_stats()
                self._index.close()
