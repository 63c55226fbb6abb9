#!/usr/bin/env python3
"""Benchmark of the decode stage on real captured dumps (issue 18).

Each workload is a real program of the Go distribution, built with a pinned Go
(``go test -c`` of a standard-library package, or ``cmd/gofmt``), run under
``godi capture`` with probes on its real functions (no rate limit):

- ``regexp``, ``json``, ``template``: the tests of regexp, encoding/json and
  text/template (``-test.short``), run in their package directory;
- ``gofmt``: ``gofmt -l`` over ``$GOROOT/src/go`` and ``$GOROOT/src/net/http``
  with probes on go/parser and go/printer functions (over 50,000 snapshots, about
  2 GB of JSON).

The binaries, IR, programs and dumps are kept under
``artifacts/bench-decode-real/<workload>/`` (made with the ``godi`` CLI, as root,
the first time or with ``--recapture``). Then, for each dump, in this process:

- the floor: msgspec encoding the very same snapshots from ready-made Structs
  (as ``scripts/bench_decode.py`` defines it), chunk by chunk so that memory
  stays bounded;
- decode (``DecodeRun.encoded()``: read the dump, render, JSON) and validated
  decode (the same plus ``schemas.snapshot_check`` of every snapshot, what
  ``godi decode`` does): CPU time, best of R, interleaved with the floor;
- the ratio floor / validated decode (target >= 0.5);
- JSON size: bytes per snapshot of the output (one compact snapshot a line) next
  to the same values as Datadog's tracers encode them (compact JSON: msgspec's
  encoding of the Structs) and to the pretty-printed array godi wrote before.

For ``gofmt`` also the whole ``godi decode`` command in a fresh process, writing
snapshots.json: wall time (target under 15 s), CPU time (user and system: on a
shared machine the wall time is mostly waiting for a core) and peak RSS (memory
flat); the capture's dropped events, if any, are said beside the dump.

Usage: .venv/bin/python scripts/bench_decode_real.py [--only NAME...] [--repeat R]
       [--recapture] [--go VERSION]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages.artifacts import load_layout, load_program, program_hash, sha256_bytes  # noqa: E402
from stages.decode import decode  # noqa: E402
from stages.schemas import snapshot_check  # noqa: E402
from stages.snapshot import Snapshot  # noqa: E402

OUT = REPO / "artifacts" / "bench-decode-real"
GO_VERSION = "1.24.11"
UNLIMITED = {"sampling": {"snapshotsPerSecond": 0}}


def _probe(probe_id: str, method: str) -> dict[str, object]:
    return {
        "id": probe_id,
        "version": 1,
        "where": {"methodName": method},
        "captureSnapshot": True,
        **UNLIMITED,
    }


@dataclass
class Workload:
    name: str
    build: list[str]
    """go arguments after ``go``: the binary is written to ``-o``."""
    args: list[str]
    """Arguments of the binary; ``{goroot}`` is replaced."""
    cwd: str
    """Directory to run it in, relative to GOROOT."""
    probes: list[dict[str, object]]


WORKLOADS = [
    Workload(
        "regexp",
        ["test", "-c", "regexp"],
        ["-test.short", "-test.count=1"],
        "src/regexp",
        [
            _probe("compile", "regexp.compile"),
            _probe("parse", "regexp/syntax.Parse"),
            _probe("doExecute", "regexp.(*Regexp).doExecute"),
            _probe("replaceAll", "regexp.(*Regexp).replaceAll"),
            _probe("expand", "regexp.(*Regexp).expand"),
        ],
    ),
    Workload(
        "json",
        ["test", "-c", "encoding/json"],
        ["-test.short", "-test.count=1"],
        "src/encoding/json",
        [
            # None on functions taking an `any` (Marshal...), though decode
            # renders them now: a map holding itself is cut with "circular
            # reference" (tests/robust/test_decode_cycles_live.py). The set stays
            # as it was, for figures comparable with the earlier ones.
            _probe("Valid", "encoding/json.Valid"),
            _probe("Indent", "encoding/json.Indent"),
            _probe("Compact", "encoding/json.Compact"),
            _probe("checkValid", "encoding/json.checkValid"),
            _probe("unquote", "encoding/json.unquote"),
            _probe("value", "encoding/json.(*decodeState).value"),
            _probe("literalStore", "encoding/json.(*decodeState).literalStore"),
        ],
    ),
    Workload(
        "template",
        ["test", "-c", "text/template"],
        ["-test.short", "-test.count=1"],
        "src/text/template",
        [
            _probe("Execute", "text/template.(*Template).Execute"),
            _probe("evalCommand", "text/template.(*state).evalCommand"),
            _probe("evalField", "text/template.(*state).evalField"),
            _probe("Parse", "text/template/parse.Parse"),
            _probe("lex", "text/template/parse.lex"),
        ],
    ),
    Workload(
        "gofmt",
        ["build", "cmd/gofmt"],
        # src/go alone calls the probed functions about 30,000 times: with
        # net/http the dump holds over 50,000 snapshots (about 2 GB of JSON).
        ["-l", "{goroot}/src/go", "{goroot}/src/net/http"],
        "src",
        [
            _probe("ParseFile", "go/parser.ParseFile"),
            _probe("parseFuncDecl", "go/parser.(*parser).parseFuncDecl"),
            _probe("parseGenDecl", "go/parser.(*parser).parseGenDecl"),
            _probe("parseIfStmt", "go/parser.(*parser).parseIfStmt"),
            _probe("parseReturnStmt", "go/parser.(*parser).parseReturnStmt"),
            _probe("Fprint", "go/printer.(*Config).Fprint"),
            _probe("funcDecl", "go/printer.(*printer).funcDecl"),
            _probe("block", "go/printer.(*printer).block"),
            _probe("genDecl", "go/printer.(*printer).genDecl"),
        ],
    ),
]


def _godi(*args: str, cwd: Path | None = None) -> None:
    subprocess.run([str(REPO / ".venv" / "bin" / "godi"), *args], check=True, cwd=cwd)


def prepare(w: Workload, go_version: str, recapture: bool) -> Path:
    """The workload's directory with binary, ir.json, prog/ and events.dump."""
    d = OUT / w.name
    if (d / "events.dump").is_file() and not recapture:
        return d
    d.mkdir(parents=True, exist_ok=True)
    goroot = REPO / ".tools" / "go" / go_version / "go"
    go = goroot / "bin" / "go"
    if not go.is_file():
        sys.exit(f"Go {go_version} missing: scripts/bootstrap.sh {go_version}")
    binary = d / "bin"
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-trimpath -buildvcs=false",
        "GOCACHE": str(REPO / "artifacts" / "go-cache"),
    }
    print(f"[{w.name}] building with Go {go_version}", file=sys.stderr)
    build = [str(go), w.build[0], "-o", str(binary), *w.build[1:]]
    subprocess.run(build, check=True, env=env, cwd=goroot / "src")
    (d / "probes.json").write_text(json.dumps(w.probes, indent=1))
    _godi("irgen", str(binary), "--probes", str(d / "probes.json"), "-o", str(d / "ir.json"))
    _godi(
        "codegen",
        "--ir",
        str(d / "ir.json"),
        "--probes",
        str(d / "probes.json"),
        "-o",
        str(d / "prog"),
    )
    args = [a.replace("{goroot}", str(goroot)) for a in w.args]
    print(f"[{w.name}] capturing", file=sys.stderr)
    result = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "godi"),
            "capture",
            "--program",
            str(d / "prog"),
            "-o",
            str(d / "events.dump"),
            "--",
            str(binary),
            *args,
        ],
        cwd=goroot / w.cwd,
        stdout=subprocess.DEVNULL,
    )
    if result.returncode not in (0, 1):  # gofmt -l exits 1? tests may fail: still a dump
        print(f"[{w.name}] capture exited {result.returncode}", file=sys.stderr)
    return d


def best_of(repeat: int, *fns: Callable[[], object]) -> list[float]:
    """The best CPU time of each function over ``repeat`` interleaved rounds."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.process_time()
            fn()
            best[i] = min(best[i], time.process_time() - t)
    return best


def bench(d: Path, repeat: int) -> int:
    """Print the figures of the dump in ``d``; returns its number of snapshots."""
    program = load_program(d / "ir.json")
    layout = load_layout(d / "prog")
    phash = program_hash(d / "prog")
    ihash = sha256_bytes((d / "ir.json").read_bytes())
    dump = (d / "events.dump").read_bytes()
    # A check per validated run (made outside its timing): a check remembers the
    # values it found valid, and a run must not meet the previous run's.
    checks = [snapshot_check() for _ in range(repeat)]

    def run() -> Iterator[bytes]:
        return decode(
            io.BytesIO(dump), program, layout, program_hash=phash, ir_hash=ihash, service="bench"
        ).encoded()

    def decoded() -> None:
        for _ in run():
            pass

    def validated() -> None:
        check = checks.pop()
        for raw in run():
            if check(raw) is not None:
                raise AssertionError("a snapshot violates the schema")

    # The floor, chunk by chunk: Structs of 2,000 snapshots at a time (a 2 GB
    # dump's Structs would not fit), each chunk's encoding timed.
    decoder = msgspec.json.Decoder(Snapshot)
    encoder = msgspec.json.Encoder()
    buf = bytearray()
    count = json_bytes = 0
    floor_times = [0.0] * repeat
    chunk: list[bytes] = []

    def flush() -> None:
        snaps = [decoder.decode(raw) for raw in chunk]
        for r in range(repeat):
            t = time.process_time()
            for s in snaps:
                encoder.encode_into(s, buf)
            floor_times[r] += time.process_time() - t
        chunk.clear()

    counted = decode(
        io.BytesIO(dump), program, layout, program_hash=phash, ir_hash=ihash, service="bench"
    )
    for raw in counted.encoded():
        count += 1
        json_bytes += len(raw)
        chunk.append(raw)
        if len(chunk) == 2000:
            flush()
    flush()
    dropped = sum(p.dropped for p in counted.counters.probes.values()) if counted.counters else 0
    t_floor = min(floor_times)
    t_decode, t_valid = best_of(repeat, decoded, validated)
    mb = 1e6
    print(
        f"{d.name:9} {count:7} snapshots, dump {len(dump) / mb:7.1f} MB, "
        f"JSON {json_bytes / mb:7.1f} MB"
        + (f" (the capture dropped {dropped} events)" if dropped else "")
    )
    print(
        f"  floor {t_floor:6.2f} s   decode {t_decode:6.2f} s   validated decode {t_valid:6.2f} s"
        f"   ({json_bytes / mb / t_valid:.0f} MB/s of JSON)"
    )
    ratio = t_floor / t_valid
    print(
        f"  validated decode / floor = {ratio:.2f} (target >= 0.50: "
        f"{'ok' if ratio >= 0.5 else 'MISSED'}); decode alone {t_floor / t_decode:.2f}"
    )
    pretty = _pretty_size(run())
    ours = json_bytes + 2 * count
    print(
        f"  JSON per snapshot: {ours / count:,.0f} B written (compact, one a line), "
        f"{json_bytes / count:,.0f} B as Datadog encodes the same values (compact JSON), "
        f"{pretty / count:,.0f} B as the indented array of before"
    )
    return count


def _pretty_size(snapshots: Iterator[bytes]) -> int:
    """Bytes of the indent=2 array godi wrote before (measured, not written)."""
    total = 4
    for raw in snapshots:
        total += len(msgspec.json.format(raw, indent=2)) + 4 + raw.count(b"\n")
    return total


def command(d: Path, count: int) -> None:
    """The whole ``godi decode`` command in a fresh process: wall time, CPU time and
    peak RSS, for the ``count`` snapshots of the dump (target: 50,000 snapshots,
    2 GB of JSON, in under 15 s with memory flat)."""
    out = d / "snapshots.json"
    # The child reports its own peak RSS (wait4's would include this process's
    # size at fork: the dump is in memory here).
    code = (
        "import atexit, sys\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            sys.stderr.write('VmHWM ' + line.split()[1] + '\\n')\n"
        "atexit.register(hwm)\n"
        "from stages.cli import main\n"
        "main(prog_name='godi')\n"
    )
    t = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "decode",
            "--ir",
            str(d / "ir.json"),
            "--program",
            str(d / "prog"),
            str(d / "events.dump"),
            "-o",
            str(out),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    lines = child.stderr.splitlines()
    sys.stderr.write("".join(line + "\n" for line in lines if not line.startswith("VmHWM ")))
    if child.returncode:
        sys.exit(f"godi decode failed ({child.returncode})")
    peak = max(int(line.split()[1]) for line in lines if line.startswith("VmHWM "))
    size = out.stat().st_size
    print(
        f"  godi decode: {count:,} snapshots, {size / 1e9:.2f} GB of output from a "
        f"{(d / 'events.dump').stat().st_size / 1e9:.2f} GB dump: {wall:.1f} s wall "
        f"(target < 15 s: {'ok' if wall < 15 else 'MISSED'}), {cpu:.1f} s CPU (user and "
        f"system; on a shared machine the rest of the wall time is waiting), "
        f"peak RSS {peak / 1024:.0f} MiB"
    )
    out.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="workloads to run (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs")
    parser.add_argument("--recapture", action="store_true", help="build and capture again")
    parser.add_argument("--go", default=GO_VERSION, help="Go release to build with")
    args = parser.parse_args()
    for w in WORKLOADS:
        if args.only and w.name not in args.only:
            continue
        d = prepare(w, args.go, args.recapture)
        count = bench(d, args.repeat if w.name != "gofmt" else 1)
        if w.name == "gofmt":
            command(d, count)


if __name__ == "__main__":
    main()
