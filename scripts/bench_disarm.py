"""What disarming (stages/capture/disarm.py) saves, measured in one run, side by
side: the unprobed program, every probe always armed (``--always-armed``) and
disarming (the default), for

- (a) hot: tests/progs/hot calling ``work`` a few 10^6 times a second (busy work
  between calls), one snapshot probe at the default 1/s; the figure is the
  program's own call rate over its run;
- (b) gofmt: ``gofmt -l GOROOT/src/go`` with 9 probes on go/printer and go/parser
  functions at their default rate; capture runs with ``--binary`` and the bench
  times each gofmt run, runs 1.2 s apart so that each begins with its probes armed
  and a token due (as a fresh launch would);
- (c) log: a log probe (no snapshot, 5000/s by default) on the same hot function;
  its target, 1.10x plus the cost of the calls it captured, is computed from the
  same run: an "every" mode (the probe at 10^6/s, always armed: every call
  captured) gives the cost of one captured call (``log_target``).

Prints, per run and then as median [lowest, highest] over ``--repeat`` runs, the
slowdown of each mode against the unprobed run: wall time per call for (a) and
(c) (the program's own call rate) and wall time for (b); for (a) and (c) also the
program's own CPU time per call ("(cpu)": what the probes cost it, much less
sensitive to what else the machine runs than the wall time), godi's own CPU time
and the load average. On a shared machine the wall figures are noisy: compare the
modes of one run, and medians. Run as root:

    .venv/bin/python scripts/bench_disarm.py [--seconds 5] [--repeat 3] [--runs 5]
        [--armed-runs 1] [--only a|b|c]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from gobuild import build_go, go_tool, go_versions  # noqa: E402

GO = go_versions()[-1]
SPIN = 600  # 2-5 x 10^6 calls/s of work() on this VM (the issue asks ~10^6: not fewer)

GOFMT_PROBES = [
    "go/parser.(*parser).next",
    "go/parser.(*parser).parseExpr",
    "go/parser.(*parser).parseStmt",
    "go/parser.(*parser).parseIdent",
    "go/parser.(*parser).parseBinaryExpr",
    "go/printer.(*printer).expr1",
    "go/printer.(*printer).binaryExpr",
    "go/printer.(*printer).block",
    "go/printer.(*printer).print",
]


def godi(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stages", *args],
        capture_output=True,
        text=True,
        check=False,
        **kw,  # type: ignore[arg-type]
    )


def prepare(binary: Path, probes: list[dict[str, object]], d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "probes.json").write_text(json.dumps(probes))
    r = godi("irgen", str(binary), "--probes", str(d / "probes.json"), "-o", str(d / "ir.json"))
    assert r.returncode == 0, r.stderr
    r = godi(
        "codegen",
        "--ir",
        str(d / "ir.json"),
        "--probes",
        str(d / "probes.json"),
        "-o",
        str(d / "prog"),
    )
    assert r.returncode == 0, r.stderr
    return d / "prog"


def table_row(stderr: str) -> dict[str, int]:
    """The first probe row of capture's table, by column title (numbers only)."""
    lines = stderr.splitlines()
    i = max(i for i, line in enumerate(lines) if line.lstrip().startswith("probe "))
    head, row = lines[i], lines[i + 1]
    titles = re.split(r"\s{2,}", head.strip())
    cells = re.split(r"\s{2,}", row.strip())
    return {t: int(c) for t, c in zip(titles, cells, strict=True) if c.isdigit()}


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` itself (every thread, no children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hot_run(hot: Path, seconds: float, prog: Path | None, mode: str, d: Path) -> dict[str, float]:
    """The hot program's calls and CPU time (its own), unprobed or under capture;
    with capture, its table's counters and godi's own CPU time."""
    cmd = [str(hot), str(seconds), "1", str(SPIN)]
    info: dict[str, float] = {}
    if prog is None:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    else:
        extra = ["--always-armed"] if mode in ("armed", "every") else []
        with (d / "out").open("w+") as fo, (d / "err").open("w+") as fe:
            capture = subprocess.Popen(
                [
                    *(sys.executable, "-m", "stages", "capture", "--program", str(prog)),
                    *("-o", str(d / "dump"), *extra, "--", *cmd),
                ],
                stdout=fo,
                stderr=fe,
            )
            cpu = 0.0
            while capture.poll() is None:
                with contextlib.suppress(OSError, IndexError):
                    cpu = cpu_seconds(capture.pid)
                time.sleep(0.05)
            fo.seek(0)
            fe.seek(0)
            out, err = fo.read(), fe.read()
        assert capture.returncode == 0, err
        info = {k: float(v) for k, v in table_row(err).items()}
        info["godi cpu s"] = cpu
        print("      " + "\n      ".join(err.splitlines()[-2:]))
    assert "wrong=0" in out
    info["calls"] = int(re.search(r"calls=(\d+)", out)[1])  # type: ignore[index]
    info["cpu s"] = int(re.search(r"cpu_ns=(\d+)", out)[1]) / 1e9  # type: ignore[index]
    return info


def gofmt_times(gofmt: Path, src: str, runs: int, prog: Path | None, mode: str, d: Path) -> float:
    """Median wall time of ``gofmt -l src``, with capture on every gofmt process."""
    capture = None
    if prog is not None:
        extra = ["--always-armed"] if mode == "armed" else []
        capture = subprocess.Popen(
            [
                *(sys.executable, "-m", "stages", "capture", "--program", str(prog)),
                *("-o", str(d / f"gofmt-{mode}.dump"), "--binary", str(gofmt), *extra),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert capture.stderr is not None
        for line in capture.stderr:
            if "uprobes attached" in line:
                break
        else:
            raise RuntimeError("capture did not start")
    times = []
    try:
        for _ in range(runs):
            time.sleep(1.2)
            t0 = time.perf_counter()
            subprocess.run([str(gofmt), "-l", src], capture_output=True, check=False)
            times.append(time.perf_counter() - t0)
    finally:
        if capture is not None:
            capture.send_signal(signal.SIGINT)
            _, err = capture.communicate(timeout=120)
            print("      " + "\n      ".join(err.splitlines()[-10:]))
    return statistics.median(times)


def hot_figures(runs: dict[str, dict[str, float]], seconds: float) -> dict[str, float]:
    """Slowdowns of one run of (a) or (c): wall time per call (the program's call
    rate) and the program's own CPU time per call (what the probes cost it,
    whatever else the machine runs), each mode against the unprobed run; godi's
    CPU time; for (c) its target."""
    wall = {m: seconds / r["calls"] for m, r in runs.items()}
    cpu = {m: r["cpu s"] / r["calls"] for m, r in runs.items()}
    out = {"calls/s unprobed": runs["unprobed"]["calls"] / seconds}
    for m in runs:
        if m != "unprobed":
            out[m] = wall[m] / wall["unprobed"]
            out[f"{m} (cpu)"] = cpu[m] / cpu["unprobed"]
            out[f"godi cpu s ({m})"] = runs[m]["godi cpu s"]
    if "every" in runs:
        out.update(log_target(runs, wall, cpu, seconds))
    return out


def log_target(
    runs: dict[str, dict[str, float]],
    wall: dict[str, float],
    cpu: dict[str, float],
    seconds: float,
) -> dict[str, float]:
    """(c)'s target, from this run: 1.10x plus the cost of the captured calls.

    One captured call costs ``c = t(every) - t(unprobed)``, t the time per call
    (wall or the program's CPU): the "every" mode captures every call (one
    goroutine, calls one after the other). The disarm run made N calls and
    captured K of them (entries the rate limit kept); it may take 1.10 times the
    unprobed time of N calls plus K captured calls: a slowdown of
    ``1.10 + K * c / (N * t(unprobed))``."""
    every = runs["every"]
    if every.get("dropped", 0) or every.get("sampled out", 0):
        print(f"    every: not every call captured: {every}")
    dis = runs["disarm"]
    kept = dis["entry hits"] - dis.get("sampled out", 0) - dis.get("dropped", 0)
    armed = runs["armed"]
    kept_armed = armed["entry hits"] - armed.get("sampled out", 0) - armed.get("dropped", 0)
    out = {
        "captured/s (disarm)": kept / seconds,
        "captured/s (armed)": kept_armed / seconds,
        "trapped/s not captured (disarm)": dis.get("sampled out", 0) / seconds,
    }
    for name, t in (("", wall), (" (cpu)", cpu)):
        c = t["every"] - t["unprobed"]
        out[f"us per captured call{name}"] = c * 1e6
        out[f"target{name}"] = 1.10 + kept * c / (dis["calls"] * t["unprobed"])
    return out


def summary(runs: list[dict[str, float]]) -> dict[str, str]:
    """Median [lowest, highest] of each figure over the runs; for (c), how the
    disarm run compares with its target, run by run (median)."""
    if "target" in runs[0]:
        for r in runs:
            r["disarm / target"] = r["disarm"] / r["target"]
            r["disarm / target (cpu)"] = r["disarm (cpu)"] / r["target (cpu)"]
    out = {"runs": str(len(runs))}
    for key in runs[0]:
        v = [r[key] for r in runs]
        out[key] = f"{statistics.median(v):.4g} [{min(v):.4g}, {max(v):.4g}]"
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--armed-runs", type=int, default=1, help="gofmt runs always armed")
    ap.add_argument("--only", choices=["a", "b", "c"], action="append")
    ap.add_argument("--repeat", type=int, default=1, help="runs of (a) and (c), each mode")
    args = ap.parse_args()
    only = set(args.only or ["a", "b", "c"])
    hot = build_go(REPO / "tests" / "progs" / "hot", GO)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        results = {}
        if "a" in only or "c" in only:
            log_probe = {
                "id": "log",
                "where": {"methodName": "main.work"},
                "template": "work {i}",
                "segments": [{"str": "work "}, {"dsl": "i", "json": {"ref": "i"}}],
            }
            cases: dict[str, dict[str, list[dict[str, object]]]] = {}
            if "a" in only:
                snap = {"id": "snap", "where": {"methodName": "main.work"}, "captureSnapshot": True}
                cases["a"] = {"probed": [snap]}
            if "c" in only:
                # "every": the same log probe at a rate above what the function
                # reaches when every call traps, always armed: every call is
                # captured the way the rate limit keeps one (the call is counted
                # in flight for its return), which is what one costs, in this run.
                every = {**log_probe, "sampling": {"snapshotsPerSecond": 1_000_000}}
                cases["c"] = {"probed": [log_probe], "every": [every]}
            progs = {
                (name, kind): prepare(hot, probes, d / f"{name}-{kind}")
                for name, kinds in cases.items()
                for kind, probes in kinds.items()
            }
            for name in cases:
                runs = []
                for rep in range(args.repeat):
                    modes = ["unprobed", "armed", "disarm"] + (["every"] if name == "c" else [])
                    infos = {}
                    for mode in modes:
                        print(f"  ({name}) run {rep + 1}/{args.repeat} {mode}...", flush=True)
                        prog = None
                        if mode != "unprobed":
                            prog = progs[(name, "every" if mode == "every" else "probed")]
                        infos[mode] = hot_run(hot, args.seconds, prog, mode, d)
                    run = hot_figures(infos, args.seconds)
                    run["load"] = os.getloadavg()[0]
                    print("    " + json.dumps({k: round(v, 3) for k, v in run.items()}), flush=True)
                    runs.append(run)
                results[name] = summary(runs)
        if "b" in only:
            go = go_tool(GO)
            goroot = subprocess.run(
                [str(go), "env", "GOROOT"], capture_output=True, text=True, check=True
            ).stdout.strip()
            gofmt = d / "gofmt"
            subprocess.run(
                [str(go), "build", "-o", str(gofmt), "cmd/gofmt"],
                check=True,
                env={**os.environ, "GOFLAGS": "-trimpath"},
            )
            probes = [
                {"id": f"p{i}", "where": {"methodName": m}, "captureSnapshot": True}
                for i, m in enumerate(GOFMT_PROBES)
            ]
            prog = prepare(gofmt, probes, d / "b")
            src = f"{goroot}/src/go"
            times = {}
            # Always armed last and fewer times: a run takes minutes.
            for mode in ("unprobed", "disarm", "armed"):
                runs = args.armed_runs if mode == "armed" else args.runs
                print(f"  (b) {mode}, {runs} runs...", flush=True)
                times[mode] = gofmt_times(
                    gofmt, src, runs, None if mode == "unprobed" else prog, mode, d
                )
                print(f"  (b) {mode}: {times[mode]:.3f} s", flush=True)
            results["b"] = {m: t / times["unprobed"] for m, t in times.items()}
            results["b"]["s unprobed"] = times["unprobed"]
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
