"""HTTP to the agent: where it is, one POST, and retrying with backoff.

Only the standard library: ``http.client`` over TCP (``http://``, ``https://``) or a
Unix socket (``unix:///var/run/datadog/apm.socket``), one kept-alive connection,
reopened after any failure.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import os
import random
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .. import __version__
from ..errors import UploadError

log = logging.getLogger("godi.upload")

DEFAULT_AGENT = "http://localhost:8126"
USER_AGENT = f"godi/{__version__}"
# Retry-After beyond this is taken as this: an upload should not stall for hours.
MAX_RETRY_AFTER = 600.0


def agent_url(flag: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The agent's base URL: ``--agent``, else ``DD_TRACE_AGENT_URL``, else
    ``DD_AGENT_HOST`` / ``DD_TRACE_AGENT_PORT``, else ``http://localhost:8126``."""
    env = os.environ if env is None else env
    if flag:
        return flag.rstrip("/")
    if env.get("DD_TRACE_AGENT_URL"):
        return env["DD_TRACE_AGENT_URL"].rstrip("/")
    host = env.get("DD_AGENT_HOST") or "localhost"
    port = env.get("DD_TRACE_AGENT_PORT") or "8126"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class Agent:
    """A parsed agent URL."""

    url: str
    scheme: str  # http, https or unix
    host: str
    port: int | None
    prefix: str  # path the endpoints are appended to ("" normally)
    socket_path: str | None = None

    def endpoint(self, path: str) -> str:
        """The full URL of ``path`` on this agent, for messages and progress records."""
        return self.url + path


def parse_agent(url: str) -> Agent:
    """Check and split an agent URL; ``UploadError`` when it is not usable."""
    u = urllib.parse.urlsplit(url)
    if u.scheme == "unix":
        if not u.path:
            raise UploadError(f"agent URL {url!r}: no socket path")
        return Agent(url.rstrip("/"), "unix", "localhost", None, "", socket_path=u.path)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise UploadError(f"agent URL {url!r}: expected http://HOST:PORT or unix:///PATH")
    try:
        port = u.port
    except ValueError as e:
        raise UploadError(f"agent URL {url!r}: {e}") from e
    return Agent(url.rstrip("/"), u.scheme, u.hostname, port, u.path.rstrip("/"))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    retry_after: float | None
    body: bytes


class Transport:
    """POSTs to one agent over a kept-alive connection, reopened after a failure."""

    def __init__(self, agent: Agent, timeout: float) -> None:
        self.agent = agent
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            a = self.agent
            if a.scheme == "unix":
                assert a.socket_path is not None
                self._conn = _UnixConnection(a.socket_path, self.timeout)
            elif a.scheme == "https":
                self._conn = http.client.HTTPSConnection(a.host, a.port, timeout=self.timeout)
            else:
                self._conn = http.client.HTTPConnection(a.host, a.port, timeout=self.timeout)
        return self._conn

    def post(self, path: str, body: bytes, content_type: str) -> Response:
        """One POST of ``body`` to ``path`` (with its query). Raises ``OSError`` or
        ``http.client.HTTPException`` on connection errors and timeouts, after
        closing the connection."""
        conn = self._connection()
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "User-Agent": USER_AGENT,
        }
        try:
            conn.request("POST", self.agent.prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if resp.will_close:
            self.close()
        return Response(
            resp.status, resp.reason, parse_retry_after(resp.getheader("Retry-After")), data
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def retryable(status: int) -> bool:
    """Statuses worth sending the same request again for: overload and server errors."""
    return status in (408, 429) or status >= 500


@dataclass
class Backoff:
    """Exponential backoff with full jitter: wait ``U(0, min(cap, base * 2**n))``
    before retry ``n`` (from 0), and at least what ``Retry-After`` asked."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(retry, 60))
        wait = self.rng.uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


@dataclass
class Attempts:
    """What it took to get a final answer for one request."""

    response: Response
    retries: int


def post_with_retries(
    transport: Transport,
    path: str,
    body: bytes,
    content_type: str,
    *,
    backoff: Backoff,
    max_retries: int,
    what: str,
    report: Callable[[str], None],
) -> Attempts:
    """POST until the agent gives a final answer (2xx, or a status not worth retrying).

    Connection errors, timeouts, 408, 429 and 5xx are retried up to ``max_retries``
    times, waiting per ``backoff`` (and ``Retry-After``); each retry is reported.
    Raises ``UploadError`` when the retries are exhausted.
    """
    retry = 0
    while True:
        retry_after: float | None = None
        try:
            resp = transport.post(path, body, content_type)
        except (OSError, http.client.HTTPException) as e:
            problem = _describe(e)
        else:
            if not retryable(resp.status):
                return Attempts(resp, retry)
            problem = f"HTTP {resp.status} {resp.reason}".rstrip()
            retry_after = resp.retry_after
        if retry >= max_retries:
            raise UploadError(
                f"{what}: {problem} from {transport.agent.endpoint(path.split('?')[0])}, "
                f"giving up after {retry} retries"
            )
        wait = backoff.delay(retry, retry_after)
        retry += 1
        report(f"{what}: {problem}; retry {retry}/{max_retries} in {wait:.2f}s")
        backoff.sleep(wait)


def _describe(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
