#!/usr/bin/env python3
"""Benchmark irgen on two large Go binaries against the floors of the same machine.

Builds ``cmd/compile`` and ``cmd/go`` with a pinned toolchain (offline, from the
toolchain's own sources, once; reused from ``artifacts/bench/``), then measures,
each in a fresh subprocess (wall time, and peak RSS from ``wait4``):

- ``readelf --debug-dump=info BIN > /dev/null`` and a bare pyelftools walk over
  every DIE of every unit: the floors;
- the scoped IR of 10 functions in 10 different packages of the binary (also
  without the whole-binary stack symbol table, ``symbols=False``), and the full
  IR, each generated and serialised as ``godi irgen`` would, cache off;
- the scoped and full IR again through the build-id keyed cache, warm (the
  stored JSON bytes, as a caller writing ``ir.json`` gets them).

With ``--kinds``, measures instead ``godi irgen --probes`` (the command, cache
off) on ``cmd/compile`` with 10 probes of each kind: exact functions (as above),
generic ``pkg.F[...]`` (10 packages' generic functions) and lines (a line a third
into each of the 10 functions, which may be a line of a function inlined there).

Prints one table per binary with the ratios to the floors, and the issue-3
targets (scoped IR of cmd/compile <= 1 s and <= 150 MB; full IR <= 1.2x the
pyelftools walk). Wall and CPU time are both shown: on a shared machine CPU
time (user + system, from ``wait4``) is the steadier comparison. Not a test:
numbers depend on the machine and its load; ``--repeat N`` keeps the best.

Usage: scripts/bench_irgen.py [--go 1.27.3] [--repeat 3] [--binary PATH ...] [--kinds]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BENCH_DIR = REPO / "artifacts" / "bench"
TARGETS = ("cmd/compile", "cmd/go")
PROBES = 10

# What each measurement runs in its subprocess. argv: binary, then the names.
_WALK = """
import sys
from elftools.elf.elffile import ELFFile
with open(sys.argv[1], "rb") as f:
    dwarf = ELFFile(f).get_dwarf_info(relocate_dwarf_sections=False)
    count = 0
    for cu in dwarf.iter_CUs():
        for die in cu.iter_DIEs():
            count += 1
print(count)
"""
_IRGEN = """
import sys
sys.path.insert(0, {repo!r})
from stages.ir import encode_program
from stages.irgen import generate_ir
from stages.irgen.cache import generate_ir_json_cached
mode, names = sys.argv[2], sys.argv[3:]
symbols = not mode.endswith("-nosym")
wanted = names if mode.startswith("scoped") else None
if {cached!r}:
    data = generate_ir_json_cached(sys.argv[1], wanted, cache=True, symbols=symbols)
else:
    data = encode_program(generate_ir(sys.argv[1], wanted, symbols=symbols))
print(f"{{len(data) / 1e6:.1f}} MB of JSON")
"""


def newest_go() -> str:
    versions = (REPO / "scripts" / "go-versions-all.txt").read_text().split()
    installed = [
        v for v in versions if (REPO / ".tools" / "go" / v / "go" / "bin" / "go").is_file()
    ]
    if not installed:
        sys.exit("no Go toolchain under .tools/go: run scripts/bootstrap.sh")
    return installed[-1]


def build(target: str, go_version: str) -> Path:
    """``go build -o OUT target`` in the toolchain's GOROOT/src, offline, once."""
    goroot = REPO / ".tools" / "go" / go_version / "go"
    out = BENCH_DIR / f"{target.split('/')[-1]}-go{go_version}"
    if out.is_file():
        return out
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOCACHE": os.environ.get("GOCACHE", str(Path(tempfile.gettempdir()) / "gocache")),
    }
    print(f"building {target} with go{go_version} (a few minutes, once)...", flush=True)
    tmp = out.with_name(out.name + ".tmp")
    subprocess.run(
        [str(goroot / "bin" / "go"), "build", "-o", str(tmp), target],
        cwd=goroot / "src",
        env=env,
        check=True,
    )
    tmp.replace(out)
    return out


def pick_probes(binary: Path, count: int = PROBES) -> list[str]:
    """``count`` functions from ``count`` different packages of the binary.

    From the symbol table: the ``count`` packages with the most code, and in
    each its largest plain function (no closure, wrapper or generic
    instantiation): the heaviest realistic probes, each with its own DWARF
    subprogram.
    """
    sys.path.insert(0, str(REPO))
    from stages.irgen.elf import open_elf

    by_package: dict[str, list[tuple[int, str]]] = {}
    with open_elf(str(binary)) as image:
        for start, name, end in image.function_symbols():
            if any(mark in name for mark in (".func", "-fm", "[", ".abi0", "..", "go:", "type:")):
                continue
            slash = name.rfind("/")
            dot = name.find(".", slash + 1)
            if dot > 0:
                by_package.setdefault(name[:dot], []).append((end - start, name))
    packages = sorted(by_package, key=lambda p: (-sum(s for s, _ in by_package[p]), p))
    return [max(by_package[p])[1] for p in packages[:count]]


def pick_generics(binary: Path, count: int = PROBES) -> list[str]:
    """``pkg.F[...]`` for the first generic function (by name) of ``count``
    packages, from the symbol table's instantiations."""
    sys.path.insert(0, str(REPO))
    from stages.irgen.elf import open_elf

    stems: dict[str, str] = {}
    with open_elf(str(binary)) as image:
        for _, name, _ in image.function_symbols():
            stem = name.split("[", 1)[0]
            if stem == name or ".func" in name or "(" in stem or name.startswith("go:"):
                continue
            stems.setdefault(stem[: stem.rfind(".")], stem + "[...]")
    return sorted(stems.values())[:count]


def pick_lines(binary: Path, functions: list[str]) -> list[tuple[str, int]]:
    """(``dir/file.go``, line) of the code a third into each function, by the
    pclntab (the line of whatever is inlined there, if anything)."""
    sys.path.insert(0, str(REPO))
    from stages.irgen import _symbols
    from stages.irgen.elf import open_elf
    from stages.pclntab import Pclntab

    out = []
    with open_elf(str(binary)) as image:
        table = Pclntab(_symbols(image))
        for name in functions:
            entry = image.symbol(name)
            index = table.index(entry) if entry is not None else None
            if index is None:
                continue
            file, line = table.function(index).position(table.size(index) // 3)
            out.append(("/".join(file.split("/")[-2:]), line))
    return out


def bench_kinds(binary: Path, repeat: int) -> dict[str, dict[str, float]]:
    """``godi irgen --probes`` with 10 probes of each kind, cache off."""
    functions = pick_probes(binary)
    kinds: dict[str, list[dict[str, object]]] = {
        "exact functions": [{"where": {"methodName": f}} for f in functions],
        "generics F[...]": [{"where": {"methodName": g}} for g in pick_generics(binary)],
        "lines": [
            {"where": {"sourceFile": f, "lines": [str(n)]}}
            for f, n in pick_lines(binary, functions)
        ],
    }
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{binary.name}: godi irgen --probes, cache off, load {load}")
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GODI_IR_CACHE"] = "0"
        for kind, probes in kinds.items():
            path = Path(tmp) / "probes.json"
            path.write_text(json.dumps([{"id": f"p{i}", **p} for i, p in enumerate(probes)]))
            argv = [PYTHON, "-m", "stages", "irgen", str(binary), "--probes", str(path)]
            results = [_run_once([*argv, "-o", str(Path(tmp) / "ir.json")]) for _ in range(repeat)]
            walls, cpus = [r[0] for r in results], [r[1] for r in results]
            rows[kind] = {"wall_s": min(walls), "cpu_s": min(cpus)}
            print(
                f"  {kind:<16} {len(probes):3} probes  cpu {min(cpus):.2f}-{max(cpus):.2f} s"
                f"  wall {min(walls):.2f}-{max(walls):.2f} s"
                f"  {max(r[2] for r in results) / 1e6:.0f} MB",
                flush=True,
            )
    return rows


def run(argv: list[str], repeat: int) -> tuple[float, float, int, str]:
    """The best wall time, best CPU time and the peak RSS of ``repeat`` runs."""
    results = [_run_once(argv) for _ in range(repeat)]
    return (
        min(r[0] for r in results),
        min(r[1] for r in results),
        max(r[2] for r in results),
        results[-1][3],
    )


def _run_once(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS bytes, output."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status:
        raise RuntimeError(f"{' '.join(argv[:4])} failed: {err.decode()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss * 1024, out.decode().strip()


def bench(binary: Path, repeat: int) -> dict[str, dict[str, float]]:
    probes = pick_probes(binary)
    print(f"\n{binary.name}: {binary.stat().st_size / 1e6:.1f} MB; scoped probes:")
    for name in probes:
        print(f"  {name}")
    readelf = shutil.which("readelf")
    if readelf is None:
        sys.exit("readelf not found (binutils)")
    rows: dict[str, dict[str, float]] = {}

    def record(label: str, argv: list[str]) -> None:
        wall, cpu, rss, out = run(argv, repeat)
        rows[label] = {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss / 1e6}
        print(
            f"  {label:<28} {wall:7.2f} s wall {cpu:7.2f} s cpu {rss / 1e6:7.1f} MB   {out[:40]}",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as cache:
        os.environ["GODI_CACHE_DIR"] = cache
        record(
            "readelf --debug-dump=info",
            ["sh", "-c", f'"{readelf}" --debug-dump=info "{binary}" > /dev/null'],
        )
        record("pyelftools DIE walk", [PYTHON, "-c", _WALK, str(binary)])
        fresh = _IRGEN.format(repo=str(REPO), cached=False)
        cached = _IRGEN.format(repo=str(REPO), cached=True)
        scoped = [str(binary), "scoped", *probes]
        record("scoped IR (10 probes)", [PYTHON, "-c", fresh, *scoped])
        record(
            "  same, no symbol table", [PYTHON, "-c", fresh, str(binary), "scoped-nosym", *probes]
        )
        record("full IR", [PYTHON, "-c", fresh, str(binary), "full"])
        _run_once([PYTHON, "-c", cached, *scoped])  # fill the cache
        _run_once([PYTHON, "-c", cached, str(binary), "full"])
        record("scoped IR, cached rerun", [PYTHON, "-c", cached, *scoped])
        record("full IR, cached rerun", [PYTHON, "-c", cached, str(binary), "full"])
    walk, elf = rows["pyelftools DIE walk"], rows["readelf --debug-dump=info"]
    print("  ratios (ours / floor):")
    for label in ("scoped IR (10 probes)", "full IR", "full IR, cached rerun"):
        ours = rows[label]
        print(
            f"    {label:<26} {ours['wall_s'] / walk['wall_s']:5.2f}x walk wall "
            f"{ours['cpu_s'] / walk['cpu_s']:5.2f}x walk cpu "
            f"{ours['peak_rss_mb'] / walk['peak_rss_mb']:5.2f}x walk RSS "
            f"{ours['wall_s'] / elf['wall_s']:6.2f}x readelf wall"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--go", help="toolchain building the binaries (default: newest installed)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (best wall)")
    parser.add_argument("--binary", action="append", type=Path, help="bench this binary instead")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument(
        "--kinds", action="store_true", help="godi irgen --probes per probe kind (cmd/compile)"
    )
    args = parser.parse_args()
    if args.kinds:
        binary = (args.binary or [build("cmd/compile", args.go or newest_go())])[0]
        rows = bench_kinds(binary, args.repeat)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
        return
    binaries = args.binary or [build(t, args.go or newest_go()) for t in TARGETS]
    results = {str(b): bench(b, args.repeat) for b in binaries}
    for binary, rows in results.items():
        if "compile" not in Path(binary).name:
            continue
        scoped, full = rows["scoped IR (10 probes)"], rows["full IR"]
        bare = rows["  same, no symbol table"]
        walk = rows["pyelftools DIE walk"]["wall_s"]
        print(f"\ntargets on {Path(binary).name}:")
        seconds = f"{scoped['wall_s']:.2f} s ({bare['wall_s']:.2f} s w/o symbols)"
        print(f"  scoped IR <= 1 s:      {seconds}")
        print(
            f"  scoped IR <= 150 MB:   {scoped['peak_rss_mb']:.0f} MB "
            f"({bare['peak_rss_mb']:.0f} MB w/o symbols)"
        )
        cpu = full["cpu_s"] / rows["pyelftools DIE walk"]["cpu_s"]
        print(f"  full IR <= 1.2x walk:  {full['wall_s'] / walk:.2f}x wall, {cpu:.2f}x cpu")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
