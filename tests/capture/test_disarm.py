"""The disarmer's schedule (stages/capture/disarm.py), on its own: which links it
takes out and puts back, and when, given the messages BPF sends. The kernel side
(links really removed, the rate really delivered) is tests/e2e/test_disarm_live.py."""

from __future__ import annotations

import time

from stages.capture.disarm import (
    ENTRY,
    MIN_OFF_NS,
    RETURN,
    RETURN_WAIT_NS,
    Disarmer,
    DisarmStats,
    disarmable_slots,
)
from stages.layout import Layout, RateLimit
from stages.spec import Probe

MS = 1_000_000
S = 1_000_000_000


class Links:
    """What the disarmer asked for, and the state BPF would report."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, bool]] = []
        self.armed: dict[tuple[int, str], bool] = {}
        self.inflight: dict[int, int] = {}
        self.spent: dict[int, int | None] = {}
        self.waiting: dict[int, int] = {}
        self.fail = False

    def set_armed(self, slot: int, part: str, armed: bool) -> bool:
        if self.fail:
            return False
        self.calls.append((slot, part, armed))
        self.armed[(slot, part)] = armed
        return True


def make(slots: dict[int, bool]) -> tuple[Disarmer, Links]:
    links = Links()
    d = Disarmer(
        slots,
        links.set_armed,
        lambda s: links.spent.get(s),
        lambda s: links.inflight.get(s, 0),
        now_ns=0,
        wait_returns=links.waiting.__setitem__,
    )
    return d, links


def test_spent_disarms_the_entry_and_rearms_when_the_token_is_due() -> None:
    d, links = make({0: False})
    d.spent(0, next_ns=1 * S, now_ns=10 * MS)
    assert links.calls == [(0, ENTRY, False)]
    assert d.tick(500 * MS) == 1 * S - d.ahead_ns
    assert links.calls == [(0, ENTRY, False)]
    d.tick(1 * S)
    assert links.calls[-1] == (0, ENTRY, True)
    stats = d.stats(2 * S)[0]
    # armed 0-10 ms, then from 1 s to 2 s
    assert stats.armed_ns == 10 * MS + 1 * S
    assert stats.cycles == 1


def test_a_fast_probe_stays_out_a_minimum_time() -> None:
    d, links = make({0: False})
    d.spent(0, next_ns=10 * MS + 200_000, now_ns=10 * MS)  # 5000/s: next token in 200 us
    assert d.tick(11 * MS) == 10 * MS + MIN_OFF_NS
    d.tick(10 * MS + MIN_OFF_NS)
    assert links.calls[-1] == (0, ENTRY, True)


def test_returns_stay_while_a_captured_call_is_in_flight() -> None:
    d, links = make({0: True})
    links.inflight[0] = 1
    d.spent(0, next_ns=1 * S, now_ns=0)
    assert links.calls == [(0, ENTRY, False)]  # the return stays for the call
    assert links.waiting[0] == 1  # BPF tells when the count falls to 0
    d.returned(0, 1 * MS)  # a message with the count still up: nothing
    assert links.calls == [(0, ENTRY, False)]
    links.inflight[0] = 0
    d.returned(0, 2 * MS)
    assert links.calls == [(0, ENTRY, False), (0, RETURN, False)]
    assert links.waiting[0] == 0
    d.tick(1 * S)
    # returns back before the entry, so a call captured at once finds them
    assert links.calls[-2:] == [(0, RETURN, True), (0, ENTRY, True)]


def test_a_call_that_never_returns_does_not_keep_the_returns() -> None:
    d, links = make({0: True})
    links.inflight[0] = 1  # captured, then a panic unwound it: BPF counts it for ever
    d.spent(0, next_ns=1 * S, now_ns=0)
    assert links.calls == [(0, ENTRY, False)]
    d.tick(1 * S)  # re-armed; the returns were kept
    assert links.calls[-1] == (0, ENTRY, True)
    assert links.waiting[0] == 0  # armed: no message for each call
    links.inflight[0] = 2  # and the call that spent the token, just begun
    d.spent(0, next_ns=2 * S, now_ns=RETURN_WAIT_NS - 1)
    assert links.calls[-1] == (0, ENTRY, False)
    assert links.waiting[0] == 1
    d.tick(RETURN_WAIT_NS)  # waited long enough: the one in flight all along given up
    assert links.calls[-1] == (0, ENTRY, False)
    assert links.waiting[0] == 2
    assert d.stats(RETURN_WAIT_NS)[0].returns_given_up == 1
    links.inflight[0] = 1  # the new one returned
    d.returned(0, RETURN_WAIT_NS + MS)
    assert links.calls[-1] == (0, RETURN, False)
    assert d.stats(RETURN_WAIT_NS)[0].returns_given_up == 1
    # Later cycles do not wait for it, but for the calls after it.
    d.tick(3 * RETURN_WAIT_NS)
    assert links.calls[-2:] == [(0, RETURN, True), (0, ENTRY, True)]
    links.inflight[0] = 2
    d.spent(0, next_ns=4 * RETURN_WAIT_NS, now_ns=3 * RETURN_WAIT_NS + MS)
    assert links.calls[-1] == (0, ENTRY, False)
    assert links.waiting[0] == 2  # told when the count falls to the given-up one
    links.inflight[0] = 1
    d.returned(0, 3 * RETURN_WAIT_NS + 2 * MS)
    assert links.calls[-1] == (0, RETURN, False)
    # The given-up call returned after all (its returns were armed again): the
    # count falls below it, and the next wait is for the calls in flight only.
    d.tick(4 * RETURN_WAIT_NS)
    links.inflight[0] = 0
    d.spent(0, next_ns=5 * RETURN_WAIT_NS, now_ns=4 * RETURN_WAIT_NS + MS)
    assert links.calls[-2:] == [(0, ENTRY, False), (0, RETURN, False)]
    assert d.stats(5 * RETURN_WAIT_NS)[0].returns_given_up == 1


def test_a_lost_message_is_made_up_by_the_table() -> None:
    d, links = make({0: False})
    links.spent[0] = 1 * S  # spent, no message came
    d.tick(20 * MS)
    assert links.calls == [(0, ENTRY, False)]


def test_a_failed_rearm_leaves_the_slot_alone() -> None:
    d, links = make({0: False})
    d.spent(0, next_ns=1 * S, now_ns=0)
    links.fail = True  # the process is gone
    d.tick(1 * S)
    links.fail = False
    d.spent(0, next_ns=3 * S, now_ns=2 * S)
    d.tick(5 * S)
    assert links.calls == [(0, ENTRY, False)]
    assert d.stats(5 * S)[0].errors == ["attaching its entry failed"]


def test_not_observed_estimate() -> None:
    stats = DisarmStats(span_ns=10 * S, armed_ns=1 * S)
    assert stats.disarmed_ns == 9 * S
    assert stats.not_observed_estimate(5) == 45
    assert DisarmStats(span_ns=S, armed_ns=S).not_observed_estimate(5) == 0


def _layout(rates: list[tuple[str, float | None]], conditional: set[str]) -> Layout:
    import msgspec

    from stages.layout import ProbeLayout
    from stages.spec import DEFAULT_CAPTURE

    probes = [
        ProbeLayout(
            index=i,
            probe_id=pid,
            probe_version=1,
            kind="entry",
            function="main.f",
            file="f.go",
            line=1,
            pc=0x1000 + i,
            root_type=0,
            root_size=0,
            limits=DEFAULT_CAPTURE,
            capture_snapshot=True,
            variables=[],
            bpf_function=f"p{i}",
            rate_slot=i,
        )
        for i, (pid, _) in enumerate(rates)
    ]
    defs = [
        msgspec.convert(
            {
                "id": pid,
                "where": {"methodName": "main.f"},
                **({"when": {"dsl": "true", "json": True}} if pid in conditional else {}),
            },
            Probe,
        )
        for pid, _ in rates
    ]
    return msgspec.convert(
        {
            "header": {"format": "godi.layout", "format_version": 1, "tool_version": "t"},
            "binary_build_id": "",
            "goid_offset": 0,
            "stack_hi_offset": 8,
            "probes": [msgspec.to_builtins(p) for p in probes],
            "types": [],
            "rates": [
                msgspec.to_builtins(RateLimit(slot=i, probe_id=pid, per_second=r))
                for i, (pid, r) in enumerate(rates)
            ],
            "definitions": [msgspec.to_builtins(d) for d in defs],
        },
        Layout,
    )


def test_which_probes_may_be_disarmed() -> None:
    layout = _layout([("limited", 1.0), ("unlimited", None), ("cond", 1.0)], {"cond"})
    assert disarmable_slots(layout) == {0}


def test_the_thread_reads_the_rings_framed_messages() -> None:
    """godi_ctl's messages come through the ring reader framed as dump records
    (sync, kind, length, CRC): each SPENT one disarms its slot's entries."""
    import struct
    import threading

    from stages.capture.disarm import CTL_SPENT, DisarmThread
    from stages.dump import RECORD_EVENT, frame

    calls: list[tuple[int, str, bool]] = []

    def set_armed(slot: int, part: str, armed: bool) -> bool:
        calls.append((slot, part, armed))
        return True

    now = time.monotonic_ns()
    disarmer = Disarmer({3: False, 7: False}, set_armed, lambda s: None, lambda s: 0, now)
    due = now + 10_000_000_000
    chunk = b"".join(
        frame(RECORD_EVENT, struct.pack("<IIQ", slot, CTL_SPENT, due)) for slot in (7, 3)
    )
    sent = threading.Event()

    def poll(timeout_ms: int) -> bytes:
        if sent.is_set():
            time.sleep(timeout_ms / 1000)
            return b""
        sent.set()
        return chunk

    thread = DisarmThread(disarmer, poll)
    thread.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.stop()
    assert thread.failure is None
    assert calls == [(7, "entry", False), (3, "entry", False)]
