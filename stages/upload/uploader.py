"""Uploading one input file to the agent, in batches, resumably, losing nothing.

Items are read one at a time (``source``), packed into batches of at most
``batch_bytes`` bytes of body and ``batch_items`` items sharing one ``ddtags``,
and each batch is POSTed until the agent gives a final answer (``transport``).
Every item ends up in exactly one of three places: acknowledged by the agent, in
``<input>.deadletter.jsonl`` (the agent refused its batch with a 4xx, or the item
is not a valid snapshot/status), or in ``<input>.oversize.jsonl`` (alone it is
larger than a batch may be). ``<input>.progress.json`` records how far that is
true, after each batch, so a rerun after a crash starts there.
"""

from __future__ import annotations

import fcntl
import logging
import os
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import msgspec

from ..errors import UploadError, UploadInputError
from .progress import Progress, Totals, load_progress, progress_path, save_progress, to_identity
from .source import START, Identity, Position, identity, iter_items
from .status import status_decoder, status_encoder
from .transport import DEFAULT_AGENT, Backoff, Transport, parse_agent, post_with_retries

log = logging.getLogger("godi.upload")

MAX_BATCH_BYTES = 1024 * 1024
MAX_BATCH_ITEMS = 1024
SNAPSHOTS_PATH = "/debugger/v1/input"
DIAGNOSTICS_PATH = "/debugger/v1/diagnostics"

Kind = Literal["snapshots", "statuses"]
Report = Callable[[str], None]


@dataclass(frozen=True)
class UploadOptions:
    """How to upload; the defaults are the agent's own batching limits."""

    agent: str = DEFAULT_AGENT
    batch_bytes: int = MAX_BATCH_BYTES
    batch_items: int = MAX_BATCH_ITEMS
    timeout: float = 10.0
    max_retries: int = 10
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    tags: str | None = None  # ddtags for every batch, instead of each item's own
    service: str | None = None  # replaces each item's service
    restart: bool = False  # ignore the progress record


@dataclass
class UploadResult:
    """What one run did with one input (counts are this run's)."""

    input: str
    kind: Kind
    endpoint: str
    sent: int = 0
    batches: int = 0
    retries: int = 0
    dead_lettered: int = 0
    oversize: int = 0
    resumed_from: Position | None = None
    already_complete: bool = False
    deadletter_path: Path = field(default_factory=Path)
    oversize_path: Path = field(default_factory=Path)


def side_path(input_path: str | os.PathLike[str], suffix: str) -> Path:
    """``<input>.<suffix>``: the dead-letter and oversize files next to the input."""
    p = Path(input_path)
    return p.with_name(f"{p.name}.{suffix}")


class _Kind(Protocol):
    kind: Kind
    noun: str
    path: str
    overhead: int  # body bytes besides the items and their commas

    def prepare(self, raw: bytes) -> tuple[bytes, str]:
        """The item as sent (compact JSON) and its ddtags; msgspec errors if invalid."""
        ...

    def body(self, items: list[bytes]) -> tuple[bytes, str]:
        """The request body for ``items`` and its content type."""
        ...


class _Envelope(msgspec.Struct):
    """The snapshot members the uploader looks at; the rest passes through as is."""

    service: str = ""
    ddtags: str = ""


class _Snapshots:
    kind: Kind = "snapshots"
    noun = "snapshot"
    path = SNAPSHOTS_PATH
    overhead = 2

    def __init__(self, service: str | None) -> None:
        self._service = service
        self._decoder = msgspec.json.Decoder(_Envelope)

    def prepare(self, raw: bytes) -> tuple[bytes, str]:
        envelope = self._decoder.decode(raw)
        if self._service is not None and envelope.service != self._service:
            obj = msgspec.json.decode(raw)
            obj["service"] = self._service
            return msgspec.json.encode(obj), envelope.ddtags
        return msgspec.json.format(raw, indent=-1), envelope.ddtags

    def body(self, items: list[bytes]) -> tuple[bytes, str]:
        return b"[" + b",".join(items) + b"]", "application/json"


class _Statuses:
    kind: Kind = "statuses"
    noun = "probe status"
    path = DIAGNOSTICS_PATH

    def __init__(self, service: str | None) -> None:
        self._service = service
        self.overhead = len(self.body([b""])[0])

    def prepare(self, raw: bytes) -> tuple[bytes, str]:
        status = status_decoder.decode(raw)
        if self._service is not None and status.service != self._service:
            status = msgspec.structs.replace(status, service=self._service)
        if status.counts is not None:  # godi's own: the agent gets Datadog's shape
            status = msgspec.structs.replace(status, counts=None)
        return status_encoder.encode(status), ""

    def body(self, items: list[bytes]) -> tuple[bytes, str]:
        boundary = uuid.uuid4().hex  # fixed length: the overhead is the same every time
        body = b"".join(
            (
                f"--{boundary}\r\n".encode(),
                b'Content-Disposition: form-data; name="event"; filename="event.json"\r\n',
                b"Content-Type: application/json\r\n\r\n",
                b"[",
                b",".join(items),
                b"]",
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        return body, f"multipart/form-data; boundary={boundary}"


def upload_snapshots(
    path: str | os.PathLike[str], options: UploadOptions, report: Report | None = None
) -> UploadResult:
    """Upload a snapshot file (JSON array or JSON lines) to ``/debugger/v1/input``.

    Returns the counts of this run. Raises ``UploadInputError`` when the file is
    malformed or changed since its progress record, ``UploadError`` when the
    agent could not be reached within the retries (progress so far is kept).
    """
    return _upload(path, _Snapshots(options.service), options, report or log.warning)


def upload_statuses(
    path: str | os.PathLike[str], options: UploadOptions, report: Report | None = None
) -> UploadResult:
    """Upload a probe status file (``ProbeStatus`` objects) to ``/debugger/v1/diagnostics``.

    Same contract as ``upload_snapshots``; a status that does not match the
    ``ProbeStatus`` Struct is dead-lettered with the reason.
    """
    return _upload(path, _Statuses(options.service), options, report or log.warning)


@dataclass
class _Batch:
    items: list[bytes] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    size: int = 0  # items and commas
    tags: str = ""

    def add(self, data: bytes, index: int, tags: str) -> None:
        self.size += len(data) + (1 if self.items else 0)
        self.items.append(data)
        self.indices.append(index)
        self.tags = tags


class _Run:
    """One upload of one input: where it goes, how far it got, what it counted."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        kind: _Kind,
        options: UploadOptions,
        report: Report,
        ident: Identity,
        previous: Progress | None,
    ) -> None:
        self.path = path
        self.name = str(path)
        self.kind = kind
        self.options = options
        self.report = report
        self.ident = ident
        self.agent = parse_agent(options.agent)
        self.endpoint = self.agent.endpoint(kind.path)
        self.totals = previous.totals if previous else Totals()
        self.transport = Transport(self.agent, options.timeout)
        self.backoff = Backoff(options.backoff_base, options.backoff_max)
        self.result = UploadResult(
            self.name,
            kind.kind,
            self.endpoint,
            deadletter_path=side_path(path, "deadletter.jsonl"),
            oversize_path=side_path(path, "oversize.jsonl"),
        )
        self.limit = options.batch_bytes - kind.overhead
        self._attempted = 0

    # ------------------------------------------------------------ progress

    def save(self, handled: Position, complete: bool = False) -> None:
        r = self.result
        t = self.totals
        _writing(
            progress_path(self.path),
            save_progress,
            self.path,
            Progress(
                input=to_identity(self.ident),
                endpoint=self.endpoint,
                items=handled.items,
                offset=handled.offset,
                complete=complete,
                totals=Totals(
                    sent=t.sent + r.sent,
                    batches=t.batches + r.batches,
                    retries=t.retries + r.retries,
                    dead_lettered=t.dead_lettered + r.dead_lettered,
                    oversize=t.oversize + r.oversize,
                ),
            ),
        )

    # ---------------------------------------------------------- side files

    def _set_aside(self, where: Path, items: list[bytes]) -> None:
        def append(data: bytes) -> None:
            with open(where, "ab") as f:
                f.write(data)

        _writing(where, append, b"".join(i + b"\n" for i in items))

    def dead_letter(self, items: list[bytes], why: str) -> None:
        self._set_aside(self.result.deadletter_path, items)
        self.result.dead_lettered += len(items)
        self.report(f"{why}; kept in {self.result.deadletter_path}")

    def oversize(self, data: bytes, index: int) -> None:
        self._set_aside(self.result.oversize_path, [data])
        self.result.oversize += 1
        self.report(
            f"{self.name}: item {index} is {len(data)} bytes, more than a batch may hold "
            f"({self.limit}); set aside in {self.result.oversize_path}"
        )

    # ------------------------------------------------------------- sending

    def _url_path(self, tags: str) -> str:
        if not tags:
            return self.kind.path
        return f"{self.kind.path}?{urllib.parse.urlencode({'ddtags': tags})}"

    def send(self, items: list[bytes], indices: list[int], tags: str) -> None:
        """Deliver one batch to its final place: acknowledged, split, or set aside."""
        self._attempted += 1
        what = f"{self.name}: batch {self._attempted} (items {indices[0]}-{indices[-1]})"
        body, content_type = self.kind.body(items)
        attempts = post_with_retries(
            self.transport,
            self._url_path(tags),
            body,
            content_type,
            backoff=self.backoff,
            max_retries=self.options.max_retries,
            what=what,
            report=self.report,
        )
        self.result.retries += attempts.retries
        resp = attempts.response
        if 200 <= resp.status < 300:
            self.result.sent += len(items)
            self.result.batches += 1
            return
        if resp.status == 413 and len(items) > 1:
            # The agent's limit is below ours: halve until the pieces fit.
            half = len(items) // 2
            self.report(f"{what}: HTTP 413, sending it in two halves")
            self.send(items[:half], indices[:half], tags)
            self.send(items[half:], indices[half:], tags)
            return
        if resp.status == 413:
            self.oversize(items[0], indices[0])
            return
        detail = resp.body[:200].decode("utf-8", "replace").strip()
        why = f"{what}: HTTP {resp.status} {resp.reason}".rstrip()
        self.dead_letter(items, f"{why}: {detail}" if detail else why)

    # ---------------------------------------------------------------- loop

    def run(self, f: BinaryIO, start: Position) -> None:
        """Upload the items of ``f`` from ``start``, saving progress after each batch."""
        batch = _Batch()
        done = start  # past the last item batched or set aside
        limit, max_items, forced_tags = self.limit, self.options.batch_items, self.options.tags
        try:
            for item in iter_items(f, self.name, start):
                data: bytes | None
                try:
                    data, tags = self.kind.prepare(item.raw)
                except (msgspec.ValidationError, msgspec.DecodeError) as e:
                    data = None
                    self.dead_letter(
                        [_one_line(item.raw)],
                        f"{self.name}: item {item.index} is not a valid {self.kind.noun} ({e})",
                    )
                else:
                    if forced_tags is not None:
                        tags = forced_tags
                    if len(data) > limit:
                        self.oversize(data, item.index)
                        data = None
                if (
                    data is not None
                    and batch.items
                    and (
                        tags != batch.tags
                        or len(batch.items) >= max_items
                        or batch.size + 1 + len(data) > limit
                    )
                ):
                    self.flush(batch, done)
                    batch = _Batch()
                if data is not None:
                    batch.add(data, item.index, tags)
                done = Position(item.index + 1, item.end)
                if data is None and not batch.items:
                    self.save(done)  # a set-aside item is handled: skip it next time
        except UploadInputError:
            # Deliver what was read before the bad spot, so a fixed file can resume.
            self.flush(batch, done)
            raise
        self.flush(batch, done, complete=True)

    def flush(self, batch: _Batch, done: Position, complete: bool = False) -> None:
        """Send ``batch`` (if any), then record that everything before ``done`` is handled."""
        if batch.items:
            self.send(batch.items, batch.indices, batch.tags)
        self.save(done, complete)


def _writing(path: Path, write: Callable[..., None], *args: Any) -> None:
    """``write(*args)``, turning a failure into an error naming the file."""
    try:
        write(*args)
    except OSError as e:
        raise UploadError(
            f"{path}: cannot write: {e.strerror}; godi upload keeps its progress and "
            "set-aside items next to the input"
        ) from e


def _one_line(raw: bytes) -> bytes:
    """An item as one line of the dead-letter file, compacted when it is valid JSON."""
    try:
        return msgspec.json.format(raw, indent=-1)
    except msgspec.DecodeError:
        # Line breaks can only be whitespace between tokens in any JSON-ish text.
        return raw.replace(b"\r", b" ").replace(b"\n", b" ")


def _upload(
    path: str | os.PathLike[str], kind: _Kind, options: UploadOptions, report: Report
) -> UploadResult:
    name = str(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - held for the whole upload, closed below
    except OSError as e:
        raise UploadInputError(name, f"cannot read: {e.strerror}") from e
    with f:
        _lock(f, name)
        ident = identity(f)
        agent = parse_agent(options.agent)
        endpoint = agent.endpoint(kind.path)
        if options.restart:
            _writing(progress_path(path), progress_path(path).unlink, True)
            previous = None
        else:
            previous = load_progress(path, ident, endpoint)
        run = _Run(path, kind, options, report, ident, previous)
        result = run.result
        if previous is not None:
            result.resumed_from = previous.position
            if previous.complete:
                result.already_complete = True
                return result
        start = previous.position if previous else START
        run.save(start)  # before sending anything: the record can be written, names the agent
        try:
            run.run(f, start)
        finally:
            run.transport.close()
        return result


def _lock(f: BinaryIO, name: str) -> None:
    """Refuse to run two uploads of one input at once: they would fight over its progress."""
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UploadInputError(name, "another godi upload of this file is running") from None
