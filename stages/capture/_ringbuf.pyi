"""Types of the C extension stages/capture/_ringbuf.c."""

class RingReader:
    """Drains a BPF ring buffer into dump EVENT records, keeping at most ``limit``
    events (-1: all); later ones are consumed and counted in ``over_limit``."""

    kept: int
    over_limit: int
    discarded: int
    size: int
    def __init__(self, map_fd: int, limit: int = -1) -> None: ...
    def poll(self, timeout_ms: int) -> bytes: ...
    def drain(self) -> bytes: ...
    def close(self) -> None: ...
