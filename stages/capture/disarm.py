"""Disarming: a rate-limited probe's uprobes are out of the process while its
budget is spent, so that the calls it could not capture anyway do not pay the trap.

Every call of a probed function traps (17-32 us on the VMs measured), whether or
not the rate limit keeps the hit. The kernel cannot remove a breakpoint at the
trap for a BPF program: a uprobe_multi link's handler returns 0 whatever the
program returns, a perf-event uprobe returns UPROBE_HANDLER_REMOVE only for a
process its filter excludes, and even then the kernel keeps the breakpoint while
any consumer's filter still wants the process (``scripts/check_handler_remove.py``
measures it). So capture does it from user space:

- each disarmable probe (a rate limit, no condition: ``disarmable_slots``) has its
  own uprobe_multi links, one for its entry (and line) sites, one for its return
  sites, separate from the link of every other probe;
- the BPF side (``godi_allow`` in bpf/godi.h) tells ``godi_ctl`` when a hit spends
  the probe's last token, with the time the next token is due; the disarmer closes
  the entry link at once and re-creates it when the token is due (a little ahead,
  by what creating a link takes) but not before ``MIN_OFF_NS``: a probe at
  thousands per second then captures its tokens in bursts, which its one-second
  burst allowance lets through, at a few arm/disarm cycles per second;
- the return link of a probe whose returns are paired with captured entries goes
  only when no captured call is in flight (BPF counts them: ``inflight``; while
  the disarmer waits, ``godi_waiting``, BPF tells it when the last one returns)
  and comes back before its entry link, so every captured call keeps its return;
  but a call still in flight ``RETURN_WAIT_NS`` later is given up (a panic ended
  it, or it is very long): its return goes, counted;
- the table of rates is checked at every tick too, so a lost message cannot keep a
  spent probe armed.

A probe whose condition BPF decides, one with a condition decode evaluates and
one without a rate limit (``snapshotsPerSecond: 0``) stay armed: they must see
every call. Calls made while a probe was disarmed were never trapped: they are
counted neither captured nor dropped nor sampled out; ``DisarmStats`` gives the
time each probe was disarmed and an estimate of those calls (see
``not_observed_estimate`` for how good it is).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..dump import RECORD_HEAD
from ..layout import Layout

log = logging.getLogger(__name__)

MIN_OFF_NS = 500_000_000
"""A disarmed probe stays out at least this long: a probe at 5000/s takes the 2500
tokens due meanwhile in one armed burst, at two arm/disarm cycles a second (each
also costs the calls trapped between its budget being spent and its link going).
Shorter than the one-second burst allowance, so that no token is lost waiting."""
RETURN_WAIT_NS = 2_000_000_000
"""How long a disarmed probe's returns stay for captured calls in flight: a call
that never returns (a panic unwound it) would keep them, and with them a trap on
every return of the function, for ever. Calls still in flight after that lose
their return (``DisarmStats.returns_given_up``, logged)."""
MAX_AHEAD_NS = 20_000_000
"""Arming starts ahead of the next token by what the last link creation took, at
most this much."""
TICK_S = 0.02

CTL_SPENT = 1
CTL_RETURNED = 2

ENTRY = "entry"
RETURN = "return"


def disarmable_slots(layout: Layout) -> set[int]:
    """Rate slots whose probes may be disarmed: a rate limit, and no condition
    (decided in BPF or evaluated by decode: the rare true case must be seen)."""
    conditional = {d.id for d in layout.definitions if d.when is not None}
    limited = {r.slot for r in layout.rates if r.per_second}
    out = set()
    for slot in limited:
        probes = [p for p in layout.probes if p.rate_slot == slot]
        if probes and not any(p.decided or p.probe_id in conditional for p in probes):
            out.add(slot)
    return out


@dataclass
class _Slot:
    has_returns: bool
    entries_armed: bool = True
    returns_armed: bool = True
    armed_since: int = 0
    armed_ns: int = 0
    rearm_at: int | None = None
    given_up: bool = False
    waiting: bool = False
    """BPF is asked to tell when the calls in flight have returned."""
    waiting_since: int | None = None
    """Since when the returns have been kept for calls in flight."""
    floor: int = 0
    """The fewest calls in flight seen (disarmed) since ``waiting_since``."""
    abandoned: int = 0
    """Calls in flight given up (BPF still counts them until they return)."""
    returns_given_up: int = 0


@dataclass
class DisarmStats:
    """What disarming did to one rate slot over the capture."""

    span_ns: int
    armed_ns: int
    cycles: int = 0
    errors: list[str] = field(default_factory=list)
    returns_given_up: int = 0
    """Captured calls whose returns were given up (``RETURN_WAIT_NS``)."""

    @property
    def disarmed_ns(self) -> int:
        return max(0, self.span_ns - self.armed_ns)

    def not_observed_estimate(self, trapped_entries: int) -> int:
        """Calls made while disarmed, estimated as the calls seen while armed
        scaled by the disarmed time: ``hits * disarmed / armed``.

        Not a sound estimate in general, and a low one for a hot function: a
        probe is armed in short windows right when its token is due, during which
        the target runs slower (every call traps), so fewer calls fall into the
        armed time than its share of the run. It assumes calls arrive at the same
        rate armed or not; it is 0 when the probe was never disarmed."""
        if self.armed_ns <= 0 or self.disarmed_ns <= 0:
            return 0
        return round(trapped_entries * self.disarmed_ns / self.armed_ns)


class Disarmer:
    """The schedule of arming and disarming (no kernel calls of its own).

    ``set_armed(slot, part, armed)`` attaches or detaches a slot's ``ENTRY`` or
    ``RETURN`` link and returns False when it could not (the process is gone...);
    ``spent_until(slot)`` is when the slot's next token is due (ktime ns; None when
    one is available); ``inflight(slot)`` the captured calls not returned yet (as
    BPF counts them); ``wait_returns(slot, n)`` asks BPF to send ``CTL_RETURNED``
    when that count falls to ``n - 1`` (0: do not). Times are CLOCK_MONOTONIC ns,
    the clock of ``bpf_ktime_get_ns``.
    """

    def __init__(
        self,
        slots: dict[int, bool],
        set_armed: Callable[[int, str, bool], bool],
        spent_until: Callable[[int], int | None],
        inflight: Callable[[int], int],
        now_ns: int,
        wait_returns: Callable[[int, int], None] = lambda slot, n: None,
    ) -> None:
        self._set = set_armed
        self._spent_until = spent_until
        self._inflight = inflight
        self._wait_returns = wait_returns
        self.start_ns = now_ns
        self.slots = {s: _Slot(has_returns=r, armed_since=now_ns) for s, r in slots.items()}
        self.cycles = dict.fromkeys(slots, 0)
        self.errors: dict[int, list[str]] = {s: [] for s in slots}
        self.ahead_ns = 0

    def spent(self, slot: int, next_ns: int, now_ns: int) -> None:
        """A hit spent ``slot``'s last token; the next one is due at ``next_ns``."""
        st = self.slots.get(slot)
        if st is None or st.given_up:
            return
        rearm = max(next_ns - self.ahead_ns, now_ns + MIN_OFF_NS)
        if st.entries_armed:
            if not self._set(slot, ENTRY, False):
                self._give_up(slot, "detaching its entry failed")
                return
            st.entries_armed = False
            st.armed_ns += now_ns - st.armed_since
            self.cycles[slot] += 1
            st.rearm_at = rearm
        else:
            st.rearm_at = max(st.rearm_at or 0, rearm)
        self._maybe_drop_returns(slot, now_ns)

    def returned(self, slot: int, now_ns: int) -> None:
        """The last captured call of ``slot`` in flight returned."""
        if slot in self.slots:
            self._maybe_drop_returns(slot, now_ns)

    def tick(self, now_ns: int) -> int | None:
        """Arm what is due, disarm what is spent; returns when the next arming is
        due (None: nothing scheduled)."""
        upcoming: int | None = None
        for slot, st in self.slots.items():
            if st.given_up:
                continue
            if st.entries_armed:
                due = self._spent_until(slot)
                if due is not None and due > now_ns:
                    self.spent(slot, due, now_ns)
            elif st.rearm_at is not None and st.rearm_at <= now_ns:
                self._arm(slot, now_ns)
            else:
                self._maybe_drop_returns(slot, now_ns)
            if not st.entries_armed and st.rearm_at is not None:
                upcoming = st.rearm_at if upcoming is None else min(upcoming, st.rearm_at)
        return upcoming

    def _arm(self, slot: int, now_ns: int) -> None:
        st = self.slots[slot]
        if st.waiting:
            # Armed, its calls come and go: no message for each (waiting_since
            # stays, for a call that never returns).
            self._wait_returns(slot, 0)
            st.waiting = False
        # Returns first: a call captured as soon as its entry is armed finds them.
        if st.has_returns and not st.returns_armed:
            if not self._set(slot, RETURN, True):
                self._give_up(slot, "attaching its returns failed")
                return
            st.returns_armed = True
        t0 = time.monotonic_ns()
        if not self._set(slot, ENTRY, True):
            self._give_up(slot, "attaching its entry failed")
            return
        took = time.monotonic_ns() - t0
        self.ahead_ns = min(MAX_AHEAD_NS, max(self.ahead_ns * 7 // 8, took))
        st.entries_armed = True
        st.armed_since = now_ns
        st.rearm_at = None

    def arm_all(self) -> None:
        """Put every disarmed link back, and schedule nothing more."""
        now = time.monotonic_ns()
        for slot, st in self.slots.items():
            if not st.entries_armed:
                self._arm(slot, now)
            st.given_up = True

    def _in_flight(self, slot: int) -> int:
        """Captured calls of ``slot`` in flight, but those given up; one of them
        that returned after all makes BPF's count fall below them."""
        st = self.slots[slot]
        count = self._inflight(slot)
        st.abandoned = max(0, min(st.abandoned, count))
        return count - st.abandoned

    def _maybe_drop_returns(self, slot: int, now_ns: int) -> None:
        st = self.slots[slot]
        if st.entries_armed or not st.has_returns or not st.returns_armed:
            return
        inflight = self._in_flight(slot)
        if inflight > 0:
            if st.waiting_since is None:
                st.waiting_since, st.floor = now_ns, inflight
            # The calls in flight all the time since: not those that began in an
            # armed moment in between (the one that spent a token is in flight as
            # its message comes), which it would be wrong to give up with them.
            st.floor = min(st.floor, inflight)
            if now_ns - st.waiting_since >= RETURN_WAIT_NS and st.floor > 0:
                gone = st.floor
                st.abandoned += gone
                st.returns_given_up += gone
                inflight -= gone
                st.waiting_since, st.floor = now_ns, inflight
                if st.waiting:
                    self._wait_returns(slot, st.abandoned + 1)
                log.warning(
                    "rate slot %d: %d captured call(s) still in flight after %.0f s: "
                    "their returns are given up (a panic ended them, or they are long)",
                    slot,
                    gone,
                    RETURN_WAIT_NS / 1e9,
                )
            if inflight > 0 and not st.waiting:
                self._wait_returns(slot, st.abandoned + 1)
                st.waiting = True
                # A return before BPF saw the request was not told.
                inflight = self._in_flight(slot)
            if inflight > 0:
                return
        st.waiting_since = None
        if self._set(slot, RETURN, False):
            st.returns_armed = False
        if st.waiting:
            self._wait_returns(slot, 0)
            st.waiting = False

    def _give_up(self, slot: int, why: str) -> None:
        st = self.slots[slot]
        st.given_up = True
        self.errors[slot].append(why)
        log.info("rate slot %d: %s; left as it is", slot, why)

    def stats(self, now_ns: int) -> dict[int, DisarmStats]:
        """Per slot: the capture's span, the time armed, the cycles."""
        out = {}
        for slot, st in self.slots.items():
            armed = st.armed_ns + (now_ns - st.armed_since if st.entries_armed else 0)
            out[slot] = DisarmStats(
                span_ns=now_ns - self.start_ns,
                armed_ns=armed,
                cycles=self.cycles[slot],
                errors=list(self.errors[slot]),
                returns_given_up=st.returns_given_up,
            )
        return out


class DisarmThread:
    """Runs a ``Disarmer`` on the messages of BPF's ``godi_ctl`` ring, in a thread of
    its own: creating and closing links takes milliseconds to tens of ms (an RCU
    grace period on close), which the capture's event loop must not wait for."""

    def __init__(self, disarmer: Disarmer, poll: Callable[[int], bytes]) -> None:
        self.disarmer = disarmer
        self._poll = poll
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="godi-disarm", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import struct

        try:
            upcoming: int | None = None
            while not self._stop.is_set():
                now = time.monotonic_ns()
                wait = TICK_S if upcoming is None else min(TICK_S, max(0.0, (upcoming - now) / 1e9))
                chunk = self._poll(int(wait * 1000))
                with self._lock:
                    if self._stop.is_set():
                        return
                    now = time.monotonic_ns()
                    pos = 0
                    # The ring reader frames each message as a dump record.
                    while pos + RECORD_HEAD.size <= len(chunk):
                        n = RECORD_HEAD.unpack_from(chunk, pos)[2]
                        slot, kind, next_ns = struct.unpack_from(
                            "<IIQ", chunk, pos + RECORD_HEAD.size
                        )
                        pos += RECORD_HEAD.size + n
                        if kind == CTL_SPENT:
                            self.disarmer.spent(slot, next_ns, now)
                        elif kind == CTL_RETURNED:
                            self.disarmer.returned(slot, now)
                    upcoming = self.disarmer.tick(time.monotonic_ns())
        except Exception as e:  # the capture goes on, with every probe armed again
            self.failure = e
            log.warning("disarming stopped: %s; every probe armed again", e)
            with self._lock:
                self.disarmer.arm_all()

    def stop(self) -> None:
        """Stop scheduling (links stay as they are, for the caller to close)."""
        self._stop.set()
        with self._lock:
            pass
        self._thread.join(timeout=5)
