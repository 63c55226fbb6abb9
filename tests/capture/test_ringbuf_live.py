"""The C ring-buffer reader (stages/capture/_ringbuf.c) against a real kernel ring.

A tracepoint program on getpid(2) writes records of varying sizes, each filled
with its sequence number, into a one-page ring; this process calls getpid to
produce them. The ring wraps many times: every record read back must be whole,
in order, and framed as a dump EVENT record; a full ring drops records (the BPF
side sees the failure), it never corrupts them.
"""

from __future__ import annotations

import io
import os
import struct

import pytest

from stages.dump import RECORD_EVENT, RecordReader

pytestmark = pytest.mark.live

PROGRAM = r"""
BPF_RINGBUF_OUTPUT(ring, 1);
BPF_ARRAY(state, u64, 2);   /* [0] next sequence number, [1] failed outputs */

struct rec { u64 words[64]; };
BPF_PERCPU_ARRAY(scratch, struct rec, 1);

TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
	if ((bpf_get_current_pid_tgid() >> 32) != TARGET)
		return 0;
	int zero = 0, one = 1;
	u64 *next = state.lookup(&zero);
	u64 *failed = state.lookup(&one);
	struct rec *r = scratch.lookup(&zero);
	if (!next || !failed || !r)
		return 0;
	u64 seq = __sync_fetch_and_add(next, 1);
	u32 words = 1 + seq % 37;
	for (int i = 0; i < 37; i++)
		r->words[i] = seq;
	if (ring.ringbuf_output(r, (words * 8) & 511, 0))
		__sync_fetch_and_add(failed, 1);
	return 0;
}
"""


def _records(chunk: bytes) -> list[bytes]:
    """The EVENT payloads of framed records, every record intact (sync marker, CRC)."""
    reader = RecordReader(io.BytesIO(chunk), 0)
    records = list(reader)
    assert not reader.corrupt and reader.truncated_at is None
    assert all(r.kind == RECORD_EVENT for r in records)
    return [r.payload for r in records]


@pytest.fixture
def ring():  # type: ignore[no-untyped-def]
    import bcc

    b = bcc.BPF(text=PROGRAM.replace("TARGET", str(os.getpid())).encode())
    b.ring, b.state = b[b"ring"], b[b"state"]
    yield b
    b.cleanup()


def _check(records: list[bytes], first: int, gaps: bool = False) -> int:
    """Check records are whole and numbered from ``first`` with no gap (``gaps``:
    increasing); return the next number."""
    for raw in records:
        (seq,) = struct.unpack_from("<Q", raw)
        if gaps:
            assert seq >= first, "records out of order"
        else:
            assert seq == first, "records out of order or lost without a failed output"
        assert len(raw) == 8 * (1 + seq % 37)
        assert raw == struct.pack("<Q", seq) * (len(raw) // 8)
        first = seq + 1
    return first


def test_records_read_back_whole_and_in_order_across_wraps(ring) -> None:  # type: ignore[no-untyped-def]
    from stages.capture._ringbuf import RingReader

    reader = RingReader(ring.ring.map_fd)
    assert reader.size == 4096
    expected = 0
    for _ in range(300):
        for _ in range(10):  # about 1.5 KiB per drain: the one-page ring wraps often
            os.getpid()
        expected = _check(_records(reader.drain()), expected)
    assert expected == 3000 == reader.kept
    assert ring.state[1].value == 0  # no output failed: the reader kept up
    assert reader.poll(0) == b""
    reader.close()


def test_a_full_ring_drops_whole_records(ring) -> None:  # type: ignore[no-untyped-def]
    from stages.capture._ringbuf import RingReader

    reader = RingReader(ring.ring.map_fd)
    for _ in range(200):  # far more than a page: most outputs fail
        os.getpid()
    records = _records(reader.drain())
    failed = ring.state[1].value
    assert failed > 0 and len(records) + failed == 200
    _check(records, 0, gaps=True)  # the ones that fit, whole, in order
    for _ in range(5):  # room again
        os.getpid()
    assert len(_records(reader.poll(100))) == 5


def test_limit_keeps_the_first_events_and_consumes_the_rest(ring) -> None:  # type: ignore[no-untyped-def]
    from stages.capture._ringbuf import RingReader

    reader = RingReader(ring.ring.map_fd, limit=5)
    for _ in range(20):
        os.getpid()
    assert _check(_records(reader.drain()), 0) == 5
    assert (reader.kept, reader.over_limit) == (5, 15)
    os.getpid()
    assert reader.drain() == b"" and reader.over_limit == 16


def test_not_a_ring_buffer(ring) -> None:  # type: ignore[no-untyped-def]
    from stages.capture._ringbuf import RingReader

    with pytest.raises(ValueError, match="not a ring buffer"):
        RingReader(ring.state.map_fd)
    with pytest.raises(OSError):
        RingReader(os.open("/dev/null", os.O_RDONLY))
