"""Can a BPF uprobe disarm itself at the trap? Measured on the running kernel.

A uprobe consumer's handler may return UPROBE_HANDLER_REMOVE (1) to ask the kernel
to remove the breakpoint from the current process. This script checks, live,
whether a BPF program's return value gets there, on both paths godi can attach by:

- ``perf``: a BCC uprobe (perf event + PERF_EVENT_IOC_SET_BPF), the per-probe path;
- ``multi``: a ``BPF_TRACE_UPROBE_MULTI`` link (godi's usual path), with and
  without a PID filter;

and whether PERF_EVENT_IOC_DISABLE on the perf event of a BCC uprobe removes the
breakpoint (the cheap toggle it would be) or only mutes the event.

The target is a C loop calling a non-inlined function and printing how many calls
it made every 100 ms. The BPF program counts its hits and returns 1. If the
kernel acted on the return, the hits would stop after the first one and the
target's call rate would go back to its unprobed rate. Run as root:

    .venv/bin/python scripts/check_handler_remove.py

Prints one line per case: hits in the measured second and the target's call rate
relative to its unprobed rate (1.0: no trap; ~0.001: every call trapped).
"""

from __future__ import annotations

import ctypes as ct
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stages.capture.links import BPF_TRACE_UPROBE_MULTI, attach_uprobe_multi, file_offsets

TARGET_C = r"""
#include <stdio.h>
#include <time.h>
__attribute__((noinline)) long hot(long x) { __asm__ volatile(""); return x + 1; }
int main(void) {
    struct timespec t0, t;
    long n = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        for (int i = 0; i < 1000; i++) n = hot(n);
        clock_gettime(CLOCK_MONOTONIC, &t);
        double dt = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
        if (dt >= 0.1) {
            printf("%ld %.6f %.6f\n", n, dt, t.tv_sec + t.tv_nsec / 1e9);
            n = 0;
            t0 = t;
        }
    }
}
"""

BPF_C = r"""
BPF_ARRAY(hits, u64, 1);
int on_hot(struct pt_regs *ctx) {
    int k = 0;
    u64 *v = hits.lookup(&k);
    if (v) __sync_fetch_and_add(v, 1);
    return RET; /* 1: UPROBE_HANDLER_REMOVE, if the kernel passes it on */
}
"""

PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_ENABLE = 0x2400


class Target:
    def __init__(self, exe: Path) -> None:
        self.proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.out = self.proc.stdout

    def rate(self, seconds: float) -> float:
        """Calls per second over the next ``seconds`` from now (the lines the
        target wrote before now, still in the pipe, are skipped)."""
        start = time.monotonic()
        calls, spent = 0, 0.0
        while spent < seconds:
            n, dt, end = self.out.readline().split()
            if float(end) - float(dt) < start:
                continue
            calls += int(n)
            spent += float(dt)
        return calls / spent

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def hits(bpf: object) -> int:
    table = bpf["hits"]  # type: ignore[index]
    return int(table[ct.c_int(0)].value)


def main() -> int:
    import bcc

    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "hotloop"
        src = Path(tmp) / "hotloop.c"
        src.write_text(TARGET_C)
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
        addr = int(
            next(
                ln.split()[0]
                for ln in subprocess.run(
                    ["nm", str(exe)], capture_output=True, text=True, check=True
                ).stdout.splitlines()
                if ln.endswith(" T hot")
            ),
            16,
        )
        offset = file_offsets(str(exe), [addr])[0]
        print(f"kernel {os.uname().release}")

        target = Target(exe)
        try:
            target.rate(0.3)
            base = target.rate(1.0)
            print(f"unprobed: {base:,.0f} calls/s")

            def case(name: str, arm: object, disarm: object, ret: int = 1) -> None:
                bpf = bcc.BPF(text=BPF_C, cflags=[f"-DRET={ret}"])
                try:
                    state = arm(bpf)  # type: ignore[operator]
                    target.rate(0.2)
                    h0 = hits(bpf)
                    r = target.rate(1.0)
                    h = hits(bpf) - h0
                    print(
                        f"{name:<48} hits: {hits(bpf):>9,} in all, {h:>9,} in the measured "
                        f"second; call rate {r / base:.4f}x unprobed"
                    )
                    disarm(bpf, state)  # type: ignore[operator]
                finally:
                    bpf.cleanup()

            def perf_arm(bpf: bcc.BPF) -> None:
                bpf.attach_uprobe(name=str(exe), sym="hot", fn_name="on_hot", pid=target.proc.pid)

            case("perf uprobe returning 0 (control)", perf_arm, lambda b, s: None, ret=0)
            case("perf uprobe returning 1", perf_arm, lambda b, s: None)

            def multi_arm(pid: int) -> object:
                def arm(bpf: bcc.BPF) -> int:
                    fn = bpf.load_func("on_hot", bcc.BPF.KPROBE, attach_type=BPF_TRACE_UPROBE_MULTI)
                    return attach_uprobe_multi(fn.fd, str(exe), [offset], [0], pid)

                return arm

            case(
                "uprobe_multi link returning 0 (control)",
                multi_arm(target.proc.pid),
                lambda b, fd: os.close(fd),
                ret=0,
            )
            case(
                "uprobe_multi link returning 1, PID filter",
                multi_arm(target.proc.pid),
                lambda b, fd: os.close(fd),
            )
            case(
                "uprobe_multi link returning 1, no filter", multi_arm(0), lambda b, fd: os.close(fd)
            )

            def perf_disabled(bpf: bcc.BPF) -> None:
                perf_arm(bpf)
                for fd in list(bpf.uprobe_fds.values()):
                    fcntl.ioctl(fd, PERF_EVENT_IOC_DISABLE, 0)

            case("perf uprobe after PERF_EVENT_IOC_DISABLE", perf_disabled, lambda b, s: None)

            # Attach and detach cost of a uprobe_multi link (what disarming pays).
            bpf = bcc.BPF(text=BPF_C, cflags=["-DRET=0"])
            fn = bpf.load_func("on_hot", bcc.BPF.KPROBE, attach_type=BPF_TRACE_UPROBE_MULTI)
            attach, detach = [], []
            for _ in range(10):
                t0 = time.perf_counter()
                fd = attach_uprobe_multi(fn.fd, str(exe), [offset], [0], target.proc.pid)
                t1 = time.perf_counter()
                os.close(fd)
                t2 = time.perf_counter()
                attach.append(t1 - t0)
                detach.append(t2 - t1)
            bpf.cleanup()
            attach.sort()
            detach.sort()
            print(
                f"uprobe_multi link: attach median {attach[5] * 1e3:.2f} ms, "
                f"detach (close) median {detach[5] * 1e3:.2f} ms"
            )
        finally:
            target.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
