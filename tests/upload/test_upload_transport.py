"""Agent URL resolution, Retry-After parsing, backoff bounds."""

from __future__ import annotations

import email.utils
import http.server
import random
import socketserver
import threading
from pathlib import Path

import pytest

from stages.errors import UploadError
from stages.upload import UploadOptions, upload_snapshots
from stages.upload.transport import Backoff, agent_url, parse_agent, parse_retry_after


def test_agent_url_precedence() -> None:
    assert agent_url(None, {}) == "http://localhost:8126"
    assert agent_url(None, {"DD_AGENT_HOST": "agent"}) == "http://agent:8126"
    assert agent_url(None, {"DD_AGENT_HOST": "agent", "DD_TRACE_AGENT_PORT": "9"}) == (
        "http://agent:9"
    )
    assert agent_url(None, {"DD_AGENT_HOST": "::1"}) == "http://[::1]:8126"
    env = {"DD_TRACE_AGENT_URL": "http://u:1/", "DD_AGENT_HOST": "agent"}
    assert agent_url(None, env) == "http://u:1"
    assert agent_url("http://flag:2", env) == "http://flag:2"


def test_parse_agent() -> None:
    a = parse_agent("http://127.0.0.1:8126")
    assert (a.scheme, a.host, a.port, a.prefix) == ("http", "127.0.0.1", 8126, "")
    assert a.endpoint("/debugger/v1/input") == "http://127.0.0.1:8126/debugger/v1/input"
    u = parse_agent("unix:///var/run/datadog/apm.socket")
    assert (u.scheme, u.socket_path) == ("unix", "/var/run/datadog/apm.socket")
    for bad in ("localhost:8126", "ftp://x", "http://", "http://x:notaport", "unix://"):
        with pytest.raises(UploadError):
            parse_agent(bad)


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("99999") == 600.0
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1000.0 + 7, usegmt=True)
    assert parse_retry_after(date, now=1000.0) == 7.0


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    b = Backoff(base=0.5, cap=4.0, rng=random.Random(1))
    for retry in range(10):
        ceiling = min(4.0, 0.5 * 2**retry)
        waits = [b.delay(retry) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # spread over the whole range...
        assert min(waits) < ceiling * 0.2  # ...not bunched at the top
    assert all(b.delay(0, retry_after=2.0) >= 2.0 for _ in range(50))


def test_unix_socket_agent(tmp_path: Path) -> None:
    got: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    sock = tmp_path / "apm.socket"
    server = Server(str(sock), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        inp = tmp_path / "snaps.jsonl"
        inp.write_text('{"ddtags": "env:u", "x": 1}\n{"ddtags": "env:u", "x": 2}\n')
        r = upload_snapshots(inp, UploadOptions(agent=f"unix://{sock}"))
    finally:
        server.shutdown()
        server.server_close()
    assert r.sent == 2
    assert got == [
        (
            "/debugger/v1/input?ddtags=env%3Au",
            b'[{"ddtags":"env:u","x":1},{"ddtags":"env:u","x":2}]',
        )
    ]
