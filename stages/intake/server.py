"""The local intake's HTTP side: a threaded server on 127.0.0.1 speaking the agent's
debugger endpoints, misbehaving as its fault plan says."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import logging
import select
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import msgspec

from .. import __version__
from ..errors import IntakeError
from ..snapshot import Snapshot
from ..upload.status import ProbeStatus
from .faults import FaultPlan, Step
from .store import Store, snapshot_ids

log = logging.getLogger("godi.intake")

INPUT_PATHS = ("/debugger/v1/input", "/debugger/v2/input")
DIAGNOSTICS_PATH = "/debugger/v1/diagnostics"
HOST = "127.0.0.1"
MAX_BODY_BYTES = 5 * 1024 * 1024

_strict_snapshots = msgspec.json.Decoder(list[Snapshot])
_strict_statuses = msgspec.json.Decoder(list[ProbeStatus])
_any_objects = msgspec.json.Decoder(list[dict[str, Any]])


@dataclass(frozen=True)
class IntakeOptions:
    """How the intake behaves besides its fault plan."""

    plan: tuple[Step, ...] = ()
    retry_after: float | None = None  # Retry-After on the 429 and 503 of the plan
    latency: float = 0.0  # added before answering every request, like delay:S
    validate: bool = True  # check bodies against the Snapshot / ProbeStatus Structs
    max_body_bytes: int = MAX_BODY_BYTES


@dataclass
class _Outcome:
    """How a POST ends: an answer (``status``), or none (a reset, or just closing)."""

    status: int | None
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    reset: bool = False


class _Rejected(Exception):
    """The body is not what the endpoint takes: answered with 400."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, store: Store, plan: FaultPlan, options: IntakeOptions) -> None:
        self.store = store
        self.plan = plan
        self.options = options
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"godi-intake/{__version__}"
    timeout = 60  # idle kept-alive connections
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

    @property
    def _srv(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        with self._srv.conn_lock:
            self._srv.connections.add(self.connection)

    def finish(self) -> None:
        with self._srv.conn_lock:
            self._srv.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address, *args)

    # ------------------------------------------------------------------ GET

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/info":
            self._reply(
                200,
                {"version": self.server_version, "endpoints": [*INPUT_PATHS, DIAGNOSTICS_PATH]},
            )
        elif path == "/stats":
            self._reply(200, self._srv.store.stats())
        else:
            self._reply(404, {"error": f"no such endpoint: {path}"})

    # ----------------------------------------------------------------- POST

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path not in (*INPUT_PATHS, DIAGNOSTICS_PATH):
            self.close_connection = True
            self._reply(404, {"error": f"no such endpoint: {url.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._reply(411, {"error": "a Content-Length is required"})
            return
        srv = self._srv
        store = srv.store
        number = store.begin()
        query = urllib.parse.parse_qs(url.query)
        entry: dict[str, Any] = {
            "request": number,
            "endpoint": url.path,
            "ddtags": query.get("ddtags", [""])[0],
            "bytes": length,
        }
        out = self._handle(number, url.path, length, entry)
        entry["status"] = out.status
        if out.fault:
            entry["fault"] = out.fault
        # Counted and logged before the client hears back: stats.json is never behind.
        store.outcome(entry, status=out.status, fault=out.fault)
        if out.status is not None:
            self._reply(out.status, out.payload, out.headers)
        elif out.reset:
            self._abort()
        else:
            self.close_connection = True

    def _handle(self, number: int, path: str, length: int, entry: dict[str, Any]) -> _Outcome:
        """Serve one POST up to its answer, which is left to the caller."""
        srv = self._srv
        if length > srv.options.max_body_bytes:
            # Read it all the same: closing on unread data would reset the connection
            # before the client reads the 413.
            left = length
            while left:
                chunk = self.rfile.read(min(1 << 16, left))
                if not chunk:
                    return _Outcome(None, fault="client-gone")
                left -= len(chunk)
            return _Outcome(413, {"error": f"body larger than {srv.options.max_body_bytes} bytes"})
        step = srv.plan.next()
        if step.action == "drop":
            self.rfile.read(length // 2)
            return _Outcome(None, fault="drop", reset=True)
        body = self.rfile.read(length)
        if len(body) < length:
            return _Outcome(None, fault="client-gone")
        wait = srv.options.latency + (step.seconds if step.action == "delay" else 0.0)
        if wait:
            time.sleep(wait)
            if self._client_gone():
                return _Outcome(None, fault="abandoned")
        if step.action == "status":
            headers = {}
            if step.code in (429, 503) and srv.options.retry_after is not None:
                headers["Retry-After"] = f"{srv.options.retry_after:g}"
            return _Outcome(step.code, {"error": f"fault plan: {step.code}"}, headers, "status")
        try:
            items = self._store(number, path, body, entry)
        except _Rejected as e:
            return _Outcome(400, {"error": str(e)})
        if step.action == "lose":
            if path in INPUT_PATHS:
                srv.store.lost_response(items)
            return _Outcome(None, fault="lose", reset=True)
        return _Outcome(202, {"accepted": items}, fault="delay" if step.action == "delay" else None)

    def _store(self, number: int, path: str, body: bytes, entry: dict[str, Any]) -> int:
        """Check and keep the body; how many items it held. Raises ``_Rejected``."""
        store = self._srv.store
        validate = self._srv.options.validate
        if path in INPUT_PATHS:
            try:
                if validate:
                    _strict_snapshots.decode(body)
                ids = snapshot_ids(body)  # an array of objects, at least
            except (msgspec.ValidationError, msgspec.DecodeError) as e:
                raise _Rejected(f"not a JSON array of snapshots: {e}") from None
            entry["items"] = len(ids)
            entry["duplicates"] = store.store_snapshots(number, body, ids)
            entry["file"] = f"input/{number:06d}.json"
            return len(ids)
        event = self._event_part(body)
        try:
            count = len((_strict_statuses if validate else _any_objects).decode(event))
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise _Rejected(f"event.json is not a JSON array of probe statuses: {e}") from None
        store.store_statuses(number, event, count)
        entry["items"] = count
        entry["file"] = f"diagnostics/{number:06d}.json"
        return count

    def _event_part(self, body: bytes) -> bytes:
        """The ``event`` part (file ``event.json``) of a multipart/form-data body."""
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise _Rejected(f"expected multipart/form-data, got {ctype or 'no content type'}")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
        )
        if not msg.is_multipart():
            raise _Rejected("malformed multipart body")
        for part in _parts(msg):
            if part.get_param("name", header="content-disposition") == "event":
                if part.get_filename() != "event.json":
                    raise _Rejected("the event part must have filename event.json")
                payload = part.get_payload(decode=True)
                if not isinstance(payload, bytes):
                    raise _Rejected("the event part is empty")
                return payload
        raise _Rejected("no part named event")

    # ------------------------------------------------------------- plumbing

    def _reply(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = msgspec.json.encode(payload)
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _abort(self) -> None:
        """Reset the connection (RST, no FIN first): the client gets no answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # its reference would keep the socket open
        self.connection.close()

    def _client_gone(self) -> bool:
        """Whether the client closed its end while waiting (it would read EOF now)."""
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _parts(msg: Any) -> Iterable[Any]:
    return cast(Iterable[Any], msg.iter_parts())


class Intake:
    """A local intake on ``127.0.0.1:port`` (0: any free port) storing under ``out_dir``.

    ``serve_forever()`` in the foreground, or ``start()`` / ``stop()`` (also as a
    context manager) on a background thread, as the tests do.
    Raises ``IntakeError`` when the port cannot be bound or the directory created.
    """

    def __init__(
        self, out_dir: str | Path, port: int = 0, options: IntakeOptions | None = None
    ) -> None:
        self.options = options or IntakeOptions()
        self.store = Store(out_dir)
        self.plan = FaultPlan(self.options.plan)
        try:
            self._server = _Server(port, self.store, self.plan, self.options)
        except OSError as e:
            self.store.close()
            raise IntakeError(f"cannot listen on {HOST}:{port}: {e.strerror}") from e
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.1)
        finally:
            self._close()

    def start(self) -> Intake:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection (a later intake starts afresh)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        with self._server.conn_lock:
            for conn in list(self._server.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self.store.close()

    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    def __enter__(self) -> Intake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
