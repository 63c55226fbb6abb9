"""Run the signature fuzzer: generate, build, run under godi, compare.

    python tests/abi_fuzz/run.py --seed 1 -n 300 --go 1.24.11 --go 1.27.3

For each Go version: the program of functions ``0..n-1`` of the seed is built, run
once alone and once under ``godi run`` (probes on every function); both runs must
exit 0 with the same output and the same records; then every call's snapshot is
compared with the program's record (compare.py). Each mismatching function is
written alone as a reproducer (``<workdir>/repro-go<ver>/F<i>/``: main.go, view.go,
go.mod, probes.json) and printed. Exit status 1 when anything mismatched.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from compare import Comparator, compare_call  # noqa: E402
from gen import Func, write  # noqa: E402


@dataclass
class Outcome:
    go: str
    functions: int = 0
    calls: int = 0
    values: int = 0
    allowed: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    failed_functions: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.problems


def go_env() -> dict[str, str]:
    tmp = Path(tempfile.gettempdir())
    return {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOCACHE": os.environ.get("GOCACHE", str(tmp / "gocache")),
        "GOPATH": os.environ.get("GOPATH", str(tmp / "gopath")),
        "GOFLAGS": "-trimpath -buildvcs=false",
    }


def build(src: Path, go: str) -> Path:
    tool = REPO / ".tools" / "go" / go / "go" / "bin" / "go"
    if not tool.is_file():
        raise FileNotFoundError(f"Go {go} toolchain missing at {tool} (run scripts/bootstrap.sh)")
    out = src / "fuzzprog"
    done = subprocess.run(
        [str(tool), "build", "-o", str(out), "."],
        cwd=src,
        env=go_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"go{go} build of {src} failed:\n{done.stdout}{done.stderr[-4000:]}")
    return out


def _count(view: dict[str, Any]) -> int:
    n = 1
    for key in ("p", "d"):
        if key in view:
            n += _count(view[key])
    for e in view.get("e", []):
        n += _count(e)
    for f in view.get("f", {}).values():
        n += _count(f)
    for k, v in view.get("m", []):
        n += _count(k) + _count(v)
    return n


def _canonical(path: Path) -> list[str]:
    """The records of a run, map entries in a fixed order (Go's is random)."""

    def fix(x: Any) -> Any:
        if isinstance(x, dict):
            out = {k: fix(v) for k, v in x.items()}
            if "m" in out:
                out["m"] = sorted(out["m"], key=lambda e: json.dumps(e, sort_keys=True))
            return out
        if isinstance(x, list):
            return [fix(v) for v in x]
        return x

    return [
        json.dumps(fix(json.loads(line)), sort_keys=True) for line in path.read_text().splitlines()
    ]


def run_one(seed: int, n: int, go: str, workdir: Path, first: int = 0) -> Outcome:
    """Fuzz functions ``first..first+n-1`` of ``seed`` with Go ``go``."""
    started = time.monotonic()
    outcome = Outcome(go=go)
    src = workdir / f"seed{seed}-{first}-{n}-go{go}"
    funcs = write(src, seed, list(range(first, first + n)))
    binary = build(src, go)
    plain_records = src / "plain.jsonl"
    plain = subprocess.run(
        [str(binary)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ABI_FUZZ_OUT": str(plain_records)},
    )
    records = src / "records.jsonl"
    out = src / "godi"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages",
            "run",
            "--probes",
            str(src / "probes.json"),
            "-o",
            str(out),
            "--",
            str(binary),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=REPO,
        env={**os.environ, "ABI_FUZZ_OUT": str(records)},
    )
    if plain.returncode != 0 or run.returncode != 0:
        outcome.problems.append(
            f"exit status: alone {plain.returncode}, under godi {run.returncode}\n"
            f"{plain.stderr[-2000:]}\n{run.stderr[-4000:]}"
        )
        return outcome
    if plain.stdout != run.stdout:
        outcome.problems.append("the program's output differs under godi")
    if _canonical(plain_records) != _canonical(records):
        outcome.problems.append("the program's records differ under godi")
    by_fn: dict[str, list[dict[str, Any]]] = {}
    for line in records.read_text().splitlines():
        rec = json.loads(line)
        by_fn.setdefault(rec["fn"], []).append(rec)
    snaps: dict[str, list[dict[str, Any]]] = {}
    for s in json.loads((out / "snapshots.json").read_text()):
        snaps.setdefault(s["debugger"]["snapshot"]["probe"]["id"], []).append(s)
    failed: dict[str, Func] = {}
    for func in funcs:
        want = by_fn.get(func.name, [])
        got = snaps.get(func.name, [])
        outcome.functions += 1
        if len(got) != len(want):
            outcome.mismatches.append(f"{func.name}: {len(want)} calls, {len(got)} snapshots")
            failed[func.name] = func
            continue
        for call, (rec, snap) in enumerate(zip(want, got, strict=True)):
            outcome.calls += 1
            outcome.values += sum(_count(v) for v in rec["args"].values())
            outcome.values += sum(_count(v) for v in rec["results"].values())
            major, minor = (int(x) for x in go.split(".")[:2])
            c: Comparator = compare_call(func, call, rec, snap, (major, minor))
            for why, k in c.allowed.items():
                outcome.allowed[why] = outcome.allowed.get(why, 0) + k
            if c.mismatches:
                outcome.mismatches += [str(m) for m in c.mismatches]
                failed[func.name] = func
    for name, func in failed.items():
        index = int(name[1:])
        repro = workdir / f"repro-go{go}" / name
        write(repro, seed, [index])
        outcome.failed_functions.append(f"{repro}/main.go\n{func.decls}")
    outcome.seconds = time.monotonic() - started
    return outcome


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-n", type=int, default=100, help="functions")
    p.add_argument("--first", type=int, default=0, help="index of the first function")
    p.add_argument("--batch", type=int, default=250, help="functions per program")
    p.add_argument("--go", action="append", help="Go version (repeatable)")
    p.add_argument("--workdir", type=Path, default=REPO / "artifacts" / "abi-fuzz")
    args = p.parse_args(argv)
    versions = args.go or (REPO / "scripts" / "go-versions.txt").read_text().split()
    failed = False
    for go in versions:
        total = Outcome(go=go)
        for first in range(args.first, args.first + args.n, args.batch):
            count = min(args.batch, args.first + args.n - first)
            o = run_one(args.seed, count, go, args.workdir, first)
            total.functions += o.functions
            total.calls += o.calls
            total.values += o.values
            total.seconds += o.seconds
            total.mismatches += o.mismatches
            total.problems += o.problems
            total.failed_functions += o.failed_functions
            for k, v in o.allowed.items():
                total.allowed[k] = total.allowed.get(k, 0) + v
        print(
            f"go{go}: seed {args.seed}: {total.functions} functions, {total.calls} calls, "
            f"{total.values} values compared, {len(total.mismatches)} mismatches, "
            f"{total.seconds:.0f}s; allowed: {total.allowed or 'none'}"
        )
        for prob in total.problems:
            print("PROBLEM:", prob)
        for m in total.mismatches:
            print("MISMATCH:", m)
        for r in total.failed_functions:
            print("REPRODUCER:", r, sep="\n")
        failed = failed or not total.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
