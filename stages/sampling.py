"""Rate limits of probes: the rate a probe asks for, and a limiter by event time.

Probes without a condition are limited in BPF before anything is copied (see
``bpf/godi.h``, ``godi_allow``). A probe with a condition is limited after its
condition holds, as Datadog specifies (a false condition spends nothing): BPF then
only applies a safety cap and decode applies the probe's own rate with
``RateLimiter``, on the events' timestamps, so the result is the same.
"""

from __future__ import annotations

from .spec import Probe

SNAPSHOTS_PER_SECOND = 1.0
"""Datadog's default rate for snapshot probes."""
LOGS_PER_SECOND = 5000.0
"""Datadog's default rate for log probes (no snapshot)."""
CONDITIONAL_CAP_PER_SECOND = 5000.0
"""What BPF lets through for a conditional probe, for decode to filter."""


def probe_rate(probe: Probe) -> float | None:
    """Hits per second the probe may emit; None: no limit (``snapshotsPerSecond`` 0)."""
    if probe.sampling and probe.sampling.snapshots_per_second is not None:
        rate = probe.sampling.snapshots_per_second
        return rate if rate > 0 else None
    return SNAPSHOTS_PER_SECOND if probe.capture_snapshot else LOGS_PER_SECOND


def bpf_rate(probe: Probe) -> float | None:
    """The limit BPF enforces before copying anything."""
    rate = probe_rate(probe)
    if probe.when is None or rate is None:
        return rate
    return max(rate, CONDITIONAL_CAP_PER_SECOND)


class RateLimiter:
    """GCRA on event timestamps (ns): at most ``per_second`` on average, bursts of
    up to one second's worth, the same rule as the BPF side."""

    def __init__(self, per_second: float) -> None:
        self._interval = max(1, int(1e9 / per_second))
        self._burst = max(0, 1_000_000_000 - self._interval)
        self._tat = 0

    def allow(self, now_ns: int) -> bool:
        """Whether a hit at ``now_ns`` may be emitted (and spends the budget if so)."""
        if self._tat > self._burst and now_ns < self._tat - self._burst:
            return False
        self._tat = max(self._tat, now_ns) + self._interval
        return True
