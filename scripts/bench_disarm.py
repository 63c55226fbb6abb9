"""What disarming (stages/capture/disarm.py) saves, measured in one run, side by
side: the unprobed program, every probe always armed (``--always-armed``) and
disarming (the default), for

- (a) hot: tests/progs/hot calling ``work`` about 10^6 times a second (busy work
  between calls), one snapshot probe at the default 1/s; the figure is the
  program's own call rate over its run;
- (b) gofmt: ``gofmt -l GOROOT/src/go`` with 9 probes on go/printer and go/parser
  functions at their default rate; capture runs with ``--binary`` and the bench
  times each gofmt run, runs 1.2 s apart so that each begins with its probes armed
  and a token due (as a fresh launch would);
- (c) log: a log probe (no snapshot, 5000/s by default) on the same hot function.

Prints the slowdown of each mode (unprobed time / probed time, from the program's
own rate for (a) and (c), wall time for (b)). On a shared machine the figures are
noisy: compare the modes of one run. Run as root:

    .venv/bin/python scripts/bench_disarm.py [--seconds 5] [--runs 5] [--armed-runs 1]
"""

from __future__ import annotations

import argparse
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
SPIN = 600  # about 10^6 calls/s of work() on this VM

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


def hot_rate(hot: Path, seconds: float, prog: Path | None, mode: str, d: Path) -> float:
    """Calls per second of the hot program, unprobed or under capture."""
    cmd = [str(hot), str(seconds), "1", str(SPIN)]
    if prog is None:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    else:
        extra = ["--always-armed"] if mode == "armed" else []
        r = godi("capture", "--program", str(prog), "-o", str(d / "dump"), *extra, "--", *cmd)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        table = r.stderr.splitlines()[-2:]
        print("      " + "\n      ".join(table))
    assert "wrong=0" in out
    return int(re.search(r"calls=(\d+)", out)[1]) / seconds  # type: ignore[index]


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--armed-runs", type=int, default=1, help="gofmt runs always armed")
    ap.add_argument("--only", choices=["a", "b", "c"], action="append")
    args = ap.parse_args()
    only = set(args.only or ["a", "b", "c"])
    hot = build_go(REPO / "tests" / "progs" / "hot", GO)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        results = {}
        if "a" in only or "c" in only:
            cases = {}
            if "a" in only:
                cases["a"] = [
                    {"id": "snap", "where": {"methodName": "main.work"}, "captureSnapshot": True}
                ]
            if "c" in only:
                cases["c"] = [
                    {
                        "id": "log",
                        "where": {"methodName": "main.work"},
                        "template": "work {i}",
                        "segments": [{"str": "work "}, {"dsl": "i", "json": {"ref": "i"}}],
                    }
                ]
            for name, probes in cases.items():
                prog = prepare(hot, probes, d / name)
                rates = {}
                for mode in ("unprobed", "armed", "disarm"):
                    print(f"  ({name}) {mode}...", flush=True)
                    rates[mode] = hot_rate(
                        hot, args.seconds, None if mode == "unprobed" else prog, mode, d
                    )
                results[name] = {m: rates["unprobed"] / r for m, r in rates.items()}
                results[name]["calls/s unprobed"] = rates["unprobed"]
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
