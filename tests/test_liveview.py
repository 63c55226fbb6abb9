"""The live view's reader of a dump being written (``liveview.Follower``): it
waits for what is not written yet, hands out whole records, ends when told the
writer is done, and skips event records (counted) only when far behind."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

from stages.dump import (
    RECORD_COUNTERS,
    RECORD_EVENT,
    Counters,
    DumpHeader,
    DumpWriter,
    RecordReader,
    read_header,
)
from stages.liveview import Follower, NoDump, format_line

HEADER = DumpHeader(
    tool_version="t",
    build_id="b",
    program_hash="p",
    clock_offset_ns=0,
    pid=1,
    command=["x"],
    mode="launch",
)


def _records(follower: Follower) -> list[tuple[int, bytes]]:
    """Every record read through ``follower``, as decode reads it."""
    read_header(follower)  # type: ignore[arg-type]
    return [(r.kind, r.payload) for r in RecordReader(follower, 0)]  # type: ignore[arg-type]


def test_follows_a_dump_written_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "events.dump"
    done = threading.Event()
    payloads = [bytes([i]) * (10 + i) for i in range(50)]

    def write() -> None:
        time.sleep(0.05)  # the dump does not exist yet when the reader starts
        with open(path, "wb", buffering=0) as f:
            writer = DumpWriter(f, HEADER)  # type: ignore[arg-type]
            for p in payloads:
                # a record in two writes, with a pause between: never handed out cut
                frame = RECORD_EVENT.to_bytes(4, "little") + len(p).to_bytes(4, "little")
                f.write(frame + p[:3])
                time.sleep(0.001)
                f.write(p[3:])
            writer.counters(Counters(probes={}, stop_reason="done"))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    follower = Follower(str(path), done.is_set, wait=lambda s: time.sleep(0.001))
    got = _records(follower)
    thread.join()
    assert [p for k, p in got if k == RECORD_EVENT] == payloads
    assert got[-1][0] == RECORD_COUNTERS
    assert follower.skipped == 0


def test_skips_events_when_far_behind_but_not_other_records(tmp_path: Path) -> None:
    path = tmp_path / "events.dump"
    buf = io.BytesIO()
    writer = DumpWriter(buf, HEADER)
    for i in range(100):
        writer.event(i.to_bytes(4, "little") * 25)  # 100 bytes + 8 framing
    writer.counters(Counters(probes={}, stop_reason="done"))
    path.write_bytes(buf.getvalue())
    follower = Follower(str(path), lambda: True, max_lag=2000)
    got = _records(follower)
    events = [p for k, p in got if k == RECORD_EVENT]
    assert follower.skipped > 0 and len(events) + follower.skipped == 100
    # the newest events are kept, in order; the counters too
    assert events == [i.to_bytes(4, "little") * 25 for i in range(100 - len(events), 100)]
    assert got[-1][0] == RECORD_COUNTERS


def test_no_dump_when_capture_wrote_none(tmp_path: Path) -> None:
    follower = Follower(str(tmp_path / "never.dump"), lambda: True)
    try:
        follower.read1(100)
    except NoDump:
        return
    raise AssertionError("a dump that never came must end the view")


def test_format_line() -> None:
    raw = (
        b'{"service":"s","ddsource":"dd_debugger","ddtags":"","message":"main.f(a=1)",'
        b'"timestamp":1700000000123,"logger":{"name":"n","method":"m","version":1,'
        b'"thread_id":42,"thread_name":"goroutine"},"debugger":{"type":"snapshot",'
        b'"snapshot":{"id":"x","timestamp":1700000000123,"language":"go",'
        b'"probe":{"id":"f","version":1,"location":{"method":"main.f"}}}}}'
    )
    text = format_line(raw, False)
    assert text.startswith("f  g42  ") and text.endswith(".123  main.f(a=1)")
    assert format_line(raw, True) == (
        '{"probe":"f","goroutine":42,"timestamp":1700000000123,"message":"main.f(a=1)"}'
    )
