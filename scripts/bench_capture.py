#!/usr/bin/env python3
"""Benchmark of the capture stage (issue 4): run as root, prints ratios.

Everything is measured in this run, on the same machine, against baselines taken
in the same run:

- per-hit cost added by (a) a probe capturing 3 scalar arguments and (b) one
  capturing a depth-3 struct graph of about 1 KiB, next to an empty BPF program
  attached the same way (uprobe_multi) to the same function: the trap is the floor;
- for (a), the same against bpf/bench_floor.c: only the kernel operations any
  snapshot of the call needs (read the goroutine and its stack, the clock, a ring
  buffer event), to tell godi's own cost from theirs;
- sustained events per second from one producing thread, and drops;
- BCC compile + load time for 20 and 100 probes, and detach time for 100;
- where a hit's time goes: the BPF programs' own run time per hit
  (kernel.bpf_stats_enabled, in a separate run: the statistics cost time too).

Usage: sudo .venv/bin/python scripts/bench_capture.py [--calls N] [--go VERSION]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages.artifacts import dump_generated, dump_program, sha256_bytes  # noqa: E402
from stages.capture.links import BPF_TRACE_UPROBE_MULTI, attach_uprobe_multi, file_offsets  # noqa: E402
from stages.codegen import generate_c  # noqa: E402
from stages.irgen import generate_ir  # noqa: E402
from stages.probefile import parse_probes  # noqa: E402

BENCH_SRC = REPO / "tests" / "progs" / "bench"
UNLIMITED: dict[str, object] = {"sampling": {"snapshotsPerSecond": 0}}
"""Every hit captured: the benchmark measures capture, not the rate limiter."""


def build(go_version: str, out: Path) -> Path:
    go = REPO / ".tools" / "go" / go_version / "go" / "bin" / "go"
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-trimpath",
        "GOCACHE": str(Path(tempfile.gettempdir()) / "gocache"),
    }
    subprocess.run([str(go), "build", "-o", str(out), "."], cwd=BENCH_SRC, env=env, check=True)
    return out


def ns_per_call(stdout: str) -> float:
    for line in stdout.splitlines():
        if line.startswith("ns_per_call "):
            return float(line.split()[1])
    raise RuntimeError(f"no timing in output: {stdout!r}")


TARGET_CPU = ["taskset", "-c", "0"]
"""The measured loop runs on CPU 0; godi's reader on CPU 1 (see run_godi), so the
reader's work does not show up as time spent in the loop."""


def run_plain(binary: Path, mode: str, calls: int) -> float:
    out = subprocess.run(
        [*TARGET_CPU, str(binary), mode, str(calls)], capture_output=True, text=True, check=True
    )
    return ns_per_call(out.stdout)


def run_empty_uprobe(binary: Path, pcs: list[int], mode: str, calls: int) -> float:
    """The same loop with an empty BPF program at the same addresses as godi's
    probes (the function's entry and its returns), attached the same way."""
    import bcc

    b = bcc.BPF(text="int empty(void *ctx) { return 0; }")
    fn = b.load_func("empty", bcc.BPF.KPROBE, attach_type=BPF_TRACE_UPROBE_MULTI)
    fd = attach_uprobe_multi(fn.fd, str(binary), file_offsets(str(binary), pcs), [0] * len(pcs))
    try:
        return run_plain(binary, mode, calls)
    finally:
        os.close(fd)
        b.cleanup()


class Floor:
    """bpf/bench_floor.c attached at godi's probe addresses (``pcs``, with their
    ``kinds``): the kernel operations a snapshot of the call needs at least
    (reading the goroutine and its stack at the entry, the clock and a ring buffer
    event at every hit), with nothing of godi's logic. ``reader`` drains its ring."""

    def __init__(self, binary: Path, pcs: list[int], kinds: list[str]) -> None:
        import bcc

        from stages.capture._ringbuf import RingReader

        self.bpf = bcc.BPF(src_file=str(REPO / "bpf" / "bench_floor.c").encode())
        fn = self.bpf.load_func(b"floor_hit", bcc.BPF.KPROBE, attach_type=BPF_TRACE_UPROBE_MULTI)
        cookies = [0 if kind == "entry" else 1 for kind in kinds]
        self.link = attach_uprobe_multi(fn.fd, str(binary), file_offsets(str(binary), pcs), cookies)
        self.reader = RingReader(self.bpf[b"floor_events"].map_fd)

    def close(self) -> None:
        self.reader.close()
        os.close(self.link)
        self.bpf.cleanup()


def run_floor(
    binary: Path, pcs: list[int], kinds: list[str], mode: str, calls: int, stats: bool = False
) -> float:
    """The loop under ``Floor``, its ring drained on CPU 1 as godi's reader does.
    ``stats``: instead of the loop's time, the program's run time per hit (ns), as
    ``run_godi``."""
    floor = Floor(binary, pcs, kinds)
    done = threading.Event()

    def drain() -> None:
        os.sched_setaffinity(0, {1})
        while not done.is_set():
            floor.reader.poll(50)

    thread = threading.Thread(target=drain)
    thread.start()
    try:
        if stats:
            return bpf_time_per_hit(os.getpid(), binary, mode, calls)
        return run_plain(binary, mode, calls)
    finally:
        done.set()
        thread.join()
        floor.close()


def prepare(binary: Path, probes: list[dict[str, object]], out: Path) -> Path:
    probeset = parse_probes(probes)
    names = sorted({str(p["where"]["methodName"]) for p in probes})  # type: ignore[index]
    program = generate_ir(str(binary), names)
    ir_path = out / "ir.json"
    dump_program(program, ir_path)
    generated = generate_c(program, probeset, ir_hash=sha256_bytes(ir_path.read_bytes()))
    prog = out / "prog"
    dump_generated(prog, generated.c_source, generated.layout)
    return prog


def bpf_run_time(pid: int) -> tuple[int, int]:
    """Total run time (ns) and runs of the BPF programs process ``pid`` holds, from
    /proc/PID/fdinfo (counted while kernel.bpf_stats_enabled is 1)."""
    time_ns = runs = 0
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            fields = dict(
                line.split(":\t", 1) for line in fd.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if "run_time_ns" in fields and "prog_id" in fields:
            time_ns += int(fields["run_time_ns"])
            runs += int(fields["run_cnt"])
    return time_ns, runs


STATS = Path("/proc/sys/kernel/bpf_stats_enabled")


def bpf_time_per_hit(pid: int, binary: Path, mode: str, calls: int) -> float:
    """The loop run once with kernel.bpf_stats_enabled on: the run time (ns) of the
    BPF programs process ``pid`` holds, per hit (an entry and a return per call)."""
    STATS.write_text("1")
    try:
        before = bpf_run_time(pid)
        run_plain(binary, mode, calls)
        after = bpf_run_time(pid)
    finally:
        STATS.write_text("0")
    return (after[0] - before[0]) / (2 * calls)


def run_godi(
    binary: Path, prog: Path, mode: str, calls: int, out: Path, stats: bool = False
) -> tuple[float, str]:
    """The loop under godi: capture attached to the binary (reader pinned to CPU 1),
    the loop started on CPU 0, capture stopped with SIGINT once it is done.
    ``stats``: instead of the loop's time, the BPF run time per hit (ns): of every
    program (the walker's tail calls too), over the entry and the return of each
    call."""
    cap = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            sys.executable,
            "-m",
            "stages",
            "capture",
            "--program",
            str(prog),
            "-o",
            str(out / f"{mode}.dump"),
            "--binary",
            str(binary),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert cap.stderr is not None
    if "uprobes attached" not in cap.stderr.readline():
        cap.kill()
        raise RuntimeError("capture did not attach")
    t = bpf_time_per_hit(cap.pid, binary, mode, calls) if stats else run_plain(binary, mode, calls)
    time.sleep(0.5)
    cap.send_signal(signal.SIGINT)
    _, err = cap.communicate(timeout=120)
    return t, err.strip().splitlines()[-1]


def best(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--go", default=(REPO / "scripts" / "go-versions.txt").read_text().split()[-1]
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")

    with tempfile.TemporaryDirectory(prefix="godi-bench-") as tmp:
        work = Path(tmp)
        binary = build(args.go, work / "bench")
        scalars_prog = prepare(
            binary,
            [
                {
                    "id": "s",
                    "where": {"methodName": "main.scalars"},
                    "captureSnapshot": True,
                    **UNLIMITED,
                }
            ],
            work / "s",
        )
        graph_prog = prepare(
            binary,
            [
                {
                    "id": "g",
                    "where": {"methodName": "main.graph"},
                    "captureSnapshot": True,
                    "capture": {"maxReferenceDepth": 3},
                    **UNLIMITED,
                }
            ],
            work / "g",
        )
        layouts = {
            name: json.loads((p / "layout.json").read_text())["probes"]
            for name, p in (("scalars", scalars_prog), ("graph", graph_prog))
        }
        pcs = {name: [q["pc"] for q in probes] for name, probes in layouts.items()}
        kinds = [q["kind"] for q in layouts["scalars"]]

        print(
            f"# capture benchmark, Go {args.go}, {args.calls} calls per run, "
            f"median of {args.repeat}"
        )
        results = {}
        floor_ratio = float("nan")
        for mode, prog in (("scalars", scalars_prog), ("graph", graph_prog)):
            # Interleaved: the host's speed drifts between runs, so each godi run
            # is compared with the loop and the empty program measured just before.
            base_runs, empty_runs, godi_runs, ratios = [], [], [], []
            floor_ratios: list[float] = []
            for _ in range(args.repeat):
                b = run_plain(binary, mode, args.calls)
                e = run_empty_uprobe(binary, pcs[mode], mode, args.calls)
                g = run_godi(binary, prog, mode, args.calls, work)
                base_runs.append(b)
                empty_runs.append(e)
                godi_runs.append(g)
                ratios.append((g[0] - b) / (e - b))
                if mode == "scalars":
                    f = run_floor(binary, pcs[mode], kinds, mode, args.calls)
                    floor_ratios.append((f - b) / (e - b))
            base, empty, godi = best(base_runs), best(empty_runs), best([t for t, _ in godi_runs])
            ratio = statistics.median(ratios)
            results[mode] = ratio
            print(
                f"{mode:8s} no probe {base:8.1f} ns/call | empty uprobe {empty:8.1f} "
                f"(+{empty - base:.1f}) | godi {godi:8.1f} (+{godi - base:.1f}) | "
                f"godi/empty per-hit cost {ratio:.3f}x (median of {args.repeat} interleaved "
                f"pairs, {min(ratios):.3f}-{max(ratios):.3f}) | {godi_runs[-1][1]}"
            )
            if floor_ratios:
                floor_ratio = statistics.median(floor_ratios)
                print(
                    f"{mode:8s} floor (bpf/bench_floor.c: goroutine and stack reads, clock, "
                    f"ring; no logic): {floor_ratio:.3f}x the empty uprobe "
                    f"({min(floor_ratios):.3f}-{max(floor_ratios):.3f}, same pairs)"
                )
        run_time = {}
        for mode, prog in (("scalars", scalars_prog), ("graph", graph_prog)):
            run_time[mode], _ = run_godi(binary, prog, mode, args.calls, work, stats=True)
            print(
                f"{mode:8s} BPF run time {run_time[mode]:.0f} ns per hit "
                "(bpf_stats; entries, returns)"
            )
        floor = run_floor(binary, pcs["scalars"], kinds, "scalars", args.calls, stats=True)
        print(
            f"floor    BPF run time {floor:.0f} ns per hit (bpf_stats): godi's own work on "
            f"scalars is {run_time['scalars'] - floor:+.0f} ns per hit"
        )
        target = {"scalars": 1.10, "graph": 1.5}
        for mode, ratio in results.items():
            floor_note = f" (the floor: {floor_ratio:.3f}x)" if mode == "scalars" else ""
            print(
                f"target {mode}: {ratio:.3f}x <= {target[mode]}x: "
                f"{'met' if ratio <= target[mode] else 'NOT met'}{floor_note}"
            )

        # Sustained rate from one thread: every call emits an event.
        sustained_calls = max(args.calls * 5, 1_000_000)
        t, summary = run_godi(binary, scalars_prog, "scalars", sustained_calls, work)
        per_call = len(pcs["scalars"]) - 1 + 1  # the entry and one return per call
        print(f"sustained: {per_call * 1e9 / t:,.0f} events/s from one thread ({summary})")

        # Compile + load time, attach and detach, for 20 and 100 probes.
        for n in (20, 100):
            probes = [
                {
                    "id": f"f{i}",
                    "where": {"methodName": f"main.f{i}"},
                    "captureSnapshot": True,
                    **UNLIMITED,
                }
                for i in range(n)
            ]
            prog = prepare(binary, probes, work / f"many{n}")
            layout = json.loads((prog / "layout.json").read_text())
            # In a fresh process, as `godi capture` pays it: BCC and LLVM start cold.
            timed = subprocess.run(
                [sys.executable, "-c", _LOAD_TIMES, str(REPO), str(prog), str(binary)],
                capture_output=True,
                text=True,
                check=True,
            )
            load, attach, detach = json.loads(timed.stdout.splitlines()[-1])
            print(
                f"{n:3d} probes ({len(layout['probes'])} uprobes incl. returns): compile+load "
                f"{load:.2f} s, attach {attach:.3f} s, detach {detach:.3f} s (fresh process)"
            )


_LOAD_TIMES = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from stages.artifacts import load_c_source, load_layout
from stages.capture.bpfload import Loaded
t0 = time.perf_counter()
loaded = Loaded(load_c_source(sys.argv[2]), load_layout(sys.argv[2]))
t1 = time.perf_counter()
loaded.attach(sys.argv[3], 0, disarm=False)
t2 = time.perf_counter()
loaded.detach()
t3 = time.perf_counter()
loaded.close()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
"""
"""Compile + load, attach and detach times of a program, in a fresh interpreter."""

if __name__ == "__main__":
    main()
