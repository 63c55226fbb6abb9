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
from concurrent.futures import ThreadPoolExecutor
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


@dataclass
class Batch:
    """Functions ``first..first+n-1`` of a seed, generated and built (or why not)."""

    seed: int
    first: int
    n: int
    go: str
    src: Path
    funcs: list[Func] = field(default_factory=list)
    binary: Path | None = None
    error: str = ""
    seconds: float = 0.0


def prepare(seed: int, n: int, go: str, workdir: Path, first: int = 0) -> Batch:
    """Generate and build a batch; a failure is kept in ``error``, not raised, so a
    long run goes on with the next batch."""
    started = time.monotonic()
    batch = Batch(seed, first, n, go, workdir / f"seed{seed}-{first}-{n}-go{go}")
    try:
        batch.funcs = write(batch.src, seed, list(range(first, first + n)))
        batch.binary = build(batch.src, go)
    except (OSError, RuntimeError) as e:
        batch.error = str(e)
    batch.seconds = time.monotonic() - started
    return batch


def run_one(seed: int, n: int, go: str, workdir: Path, first: int = 0) -> Outcome:
    """Fuzz functions ``first..first+n-1`` of ``seed`` with Go ``go``."""
    return check(prepare(seed, n, go, workdir, first), workdir)


def check(batch: Batch, workdir: Path) -> Outcome:
    """Run a built batch alone and under godi, and compare every call."""
    started = time.monotonic()
    outcome = Outcome(go=batch.go)
    try:
        _check(batch, workdir, outcome)
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        # A hung or crashed run is a finding of its own; the next batch still runs.
        outcome.problems.append(f"F{batch.first}..F{batch.first + batch.n - 1}: {e!r}")
    outcome.seconds = batch.seconds + time.monotonic() - started
    return outcome


def _check(batch: Batch, workdir: Path, outcome: Outcome) -> None:
    if batch.error or batch.binary is None:
        outcome.problems.append(batch.error)
        return
    seed, go, src, funcs, binary = batch.seed, batch.go, batch.src, batch.funcs, batch.binary
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
        return
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
        outcome.failed_functions.append(
            f"{repro}/main.go (python tests/abi_fuzz/run.py --seed {seed} --first {index}"
            f" -n 1 --go {go})\n{func.decls}"
        )


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
        started = time.monotonic()
        firsts = list(range(args.first, args.first + args.n, args.batch))

        def batch_at(first: int, go: str = go) -> Batch:
            return prepare(
                args.seed, min(args.batch, args.first + args.n - first), go, args.workdir, first
            )

        # The next batch is generated and built while this one runs under godi.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(batch_at, firsts[0])
            for i, first in enumerate(firsts):
                batch = pending.result()
                if i + 1 < len(firsts):
                    pending = pool.submit(batch_at, firsts[i + 1])
                o = check(batch, args.workdir)
                total.functions += o.functions
                total.calls += o.calls
                total.values += o.values
                total.mismatches += o.mismatches
                total.problems += o.problems
                total.failed_functions += o.failed_functions
                for k, v in o.allowed.items():
                    total.allowed[k] = total.allowed.get(k, 0) + v
                # One line a batch, so a long run shows where it is and what it found.
                print(
                    f"go{go}: F{first}..F{first + batch.n - 1}: {o.functions} functions, "
                    f"{o.calls} calls, {len(o.mismatches)} mismatches, "
                    f"{len(o.problems)} problems, build {batch.seconds:.0f}s, "
                    f"total {o.seconds:.0f}s",
                    flush=True,
                )
                for prob in o.problems:
                    print("PROBLEM:", prob, flush=True)
                for m in o.mismatches:
                    print("MISMATCH:", m, flush=True)
        total.seconds = time.monotonic() - started
        print(
            f"go{go}: seed {args.seed}: {total.functions} functions, {total.calls} calls, "
            f"{total.values} values compared, {len(total.mismatches)} mismatches, "
            f"{len(total.problems)} problems, {total.seconds:.0f}s; "
            f"allowed: {total.allowed or 'none'}"
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
