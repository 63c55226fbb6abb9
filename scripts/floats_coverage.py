#!/usr/bin/env python3
"""Coverage of floats in vector registers (issue 22): run as root, prints fractions.

Generates a Go program of random signatures (seeded): float32, float64, complex64,
complex128 arguments and results, next to integers, inside register-assigned
structs and one-element arrays, with up to three return sites per function
(chosen by the first argument, ``sel``), and ``leaf`` functions small enough to
have no frame (their first instruction may write a float register). Every call
prints each leaf of its arguments and results with %v, from the function itself
at each return site (or, for a leaf function, from its caller). The program runs
under ``godi run`` with a probe on every function, every hit captured, and each
float leaf of each snapshot is compared with what the program printed:

- read: the value is the program's (exactly the text %v printed);
- unavailable: godi says so (decode's reasons are printed);
- wrong: a value that is not the program's (must be 0).

Usage: sudo .venv/bin/python scripts/floats_coverage.py [--functions N] [--seed S]
       [--go VERSION ...]   (default: scripts/go-versions.txt)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

FLOATS = ("float32", "float64", "complex64", "complex128")

STRUCTS = {
    "S": [("A", "float32"), ("B", "int"), ("C", "float64")],
    "P": [("X", "float64"), ("Y", "float64")],
    "Z": [("C", "complex64"), ("N", "int")],
    "Q": [("F", "float32"), ("G", "float32"), ("H", "float32")],
}
ARRAYS = {"A1": ("float64", 1), "B1": ("float32", 1)}
PALETTE = [*FLOATS, *FLOATS, "int", *STRUCTS, *ARRAYS]


@dataclass
class Fn:
    name: str
    params: list[tuple[str, str]]
    results: list[str]
    sites: int
    leaf: bool


def leaves(name: str, typ: str) -> list[tuple[str, str, str]]:
    """(path printed, Go expression, leaf type) of every leaf of ``name``."""
    if typ in STRUCTS:
        return [(f"{name}.{f}", f"{name}.{f}", t) for f, t in STRUCTS[typ]]
    if typ in ARRAYS:
        t, n = ARRAYS[typ]
        return [(f"{name}[{i}]", f"{name}[{i}]", t) for i in range(n)]
    return [(name, name, typ)]


def literal(typ: str, rnd: random.Random) -> str:
    """A Go literal of ``typ`` with varied values (some not exact in binary)."""

    def number() -> str:
        return (
            rnd.choice(
                ["1.5", "-0.25", "3.141592653589793", "0.1", "-1e-07", "123456.789", "2", "-7.75"]
            )
            if rnd.random() < 0.6
            else f"{rnd.uniform(-1000, 1000):.6g}"
        )

    if typ in ("float32", "float64"):
        return f"{typ}({number()})"
    if typ in ("complex64", "complex128"):
        return f"{typ}(complex({number()}, {number()}))"
    if typ == "int":
        return str(rnd.randint(-50, 50))
    if typ in STRUCTS:
        return typ + "{" + ", ".join(literal(t, rnd) for _, t in STRUCTS[typ]) + "}"
    t, n = ARRAYS[typ]
    return f"{typ}{{" + ", ".join(literal(t, rnd) for _ in range(n)) + "}"


def result_expr(typ: str, params: list[tuple[str, str]], site: int, rnd: random.Random) -> str:
    """A result of ``typ`` computed from the arguments (so it is not a constant)."""
    scalars = [(e, t) for n, ty in params for _, e, t in leaves(n, ty)]
    same = [e for e, t in scalars if t == typ]
    if typ in STRUCTS:
        fields = (result_expr(t, params, site, rnd) for _, t in STRUCTS[typ])
        return typ + "{" + ", ".join(fields) + "}"
    if typ in ARRAYS:
        t, n = ARRAYS[typ]
        return f"{typ}{{" + ", ".join(result_expr(t, params, site, rnd) for _ in range(n)) + "}"
    base = rnd.choice(same) if same else literal(typ, rnd)
    return f"({base} + {typ}({site + 1}))" if typ != "int" else f"({base} + {site + 1})"


def generate(n: int, seed: int) -> tuple[str, list[Fn]]:
    rnd = random.Random(seed)
    fns: list[Fn] = []
    for i in range(n):
        leaf = rnd.random() < 0.25
        params = [("sel", "int")] + [
            (f"a{j}", rnd.choice(PALETTE)) for j in range(rnd.randint(1, 6))
        ]
        results = [rnd.choice(PALETTE) for _ in range(rnd.randint(1, 2))]
        fns.append(Fn(f"f{i}", params, results, 1 if leaf else rnd.randint(1, 3), leaf))
    out = ["package main", "", 'import "fmt"', ""]
    for name, fields in STRUCTS.items():
        out.append(f"type {name} struct {{ " + "; ".join(f"{f} {t}" for f, t in fields) + " }")
    for name, (t, k) in ARRAYS.items():
        out.append(f"type {name} [{k}]{t}")
    calls = []
    for f in fns:
        sig = ", ".join(f"{n} {t}" for n, t in f.params)
        res = ", ".join(f.results)
        arg_leaves = [lf for n, t in f.params for lf in leaves(n, t)]
        out += ["", "//go:noinline", f"func {f.name}({sig}) ({res}) {{"]
        for site in range(f.sites):
            values = [result_expr(t, f.params, site, rnd) for t in f.results]
            if f.leaf:
                out.append(f"\treturn {', '.join(values)}")
                continue
            names = [f"r{k}" for k in range(len(f.results))]
            res_leaves = [lf for k, t in enumerate(f.results) for lf in leaves(names[k], t)]
            fmt_ = " ".join(f"{p}=%v" for p, _, _ in arg_leaves + res_leaves)
            exprs = ", ".join(e for _, e, _ in arg_leaves + res_leaves)
            body = [
                f"\t\t{', '.join(names)} := {', '.join(values)}",
                f'\t\tfmt.Printf("{f.name} {fmt_}\\n", {exprs})',
                f"\t\treturn {', '.join(names)}",
            ]
            if site < f.sites - 1:
                out += [f"\tif sel == {site} {{", *body, "\t}"]
            else:
                out += ["\t{", *body, "\t}"]
        out.append("}")
        for site in range(f.sites):
            args = [str(site)] + [literal(t, rnd) for _, t in f.params[1:]]
            calls.append((f, args))
    out += ["", "func main() {"]
    for k, (f, args) in enumerate(calls):
        if not f.leaf:
            out.append(f"\t{f.name}({', '.join(args)})")
            continue
        # The caller prints a leaf function's arguments and results.
        names = [f"c{k}_{j}" for j in range(len(f.params))]
        rnames = [f"c{k}_r{j}" for j in range(len(f.results))]
        out.append(f"\t{', '.join(names)} := {', '.join(args)}")
        out.append(f"\t{', '.join(rnames)} := {f.name}({', '.join(names)})")
        pairs = [lf for (n, t), v in zip(f.params, names, strict=True) for lf in leaves_as(n, t, v)]
        pairs += [
            lf for j, (t, v) in enumerate(zip(f.results, rnames, strict=True))
            for lf in leaves_as(f"r{j}", t, v)
        ]  # fmt: skip
        fmt_ = " ".join(f"{p}=%v" for p, _ in pairs)
        out.append(f'\tfmt.Printf("{f.name} {fmt_}\\n", {", ".join(e for _, e in pairs)})')
    out.append("}")
    return "\n".join(out) + "\n", fns


def leaves_as(name: str, typ: str, var: str) -> list[tuple[str, str]]:
    return [(p, var + e[len(name) :]) for p, e, _ in leaves(name, typ)]


def flatten(prefix: str, v: dict[str, Any], out: dict[str, str | None]) -> None:
    if "fields" in v:
        for k, x in v["fields"].items():
            flatten(f"{prefix}.{k}", x, out)
    elif "elements" in v:
        for i, x in enumerate(v["elements"]):
            flatten(f"{prefix}[{i}]", x, out)
    else:
        out[prefix] = v.get("value")


def measure(go_version: str, n: int, seed: int, work: Path) -> Counter[str]:
    src = work / f"go{go_version}"
    src.mkdir(parents=True)
    text, fns = generate(n, seed)
    (src / "main.go").write_text(text)
    (src / "go.mod").write_text("module gen\n\ngo 1.21\n")
    go = REPO / ".tools" / "go" / go_version / "go" / "bin" / "go"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-trimpath"}
    subprocess.run([str(go), "vet", "."], cwd=src, env=env, check=True)
    subprocess.run([str(go), "build", "-o", "gen", "."], cwd=src, env=env, check=True)
    probes = [
        {
            "id": f.name,
            "where": {"methodName": f"main.{f.name}"},
            "captureSnapshot": True,
            "sampling": {"snapshotsPerSecond": 0},
        }
        for f in fns
    ]
    (src / "probes.json").write_text(json.dumps(probes))
    plain = subprocess.run([str(src / "gen")], capture_output=True, text=True, check=True)
    run = subprocess.run(
        [sys.executable, "-m", "stages", "run", "--probes", str(src / "probes.json"),
         "-o", str(src / "out"), "--", str(src / "gen")],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == plain.stdout, "the program's output changed"
    printed: dict[tuple[str, str], dict[str, str]] = {}
    for line in plain.stdout.splitlines():
        name, *pairs = line.split(" ")
        values = dict(p.split("=", 1) for p in pairs)
        printed[(name, values["sel"])] = values
    by_name = {f.name: f for f in fns}
    tally: Counter[str] = Counter()
    for s in json.loads((src / "out" / "snapshots.json").read_text()):
        snap = s["debugger"]["snapshot"]
        f = by_name[snap["probe"]["id"]]
        got: dict[str, str | None] = {}
        for k, v in snap["captures"]["entry"]["arguments"].items():
            flatten(k, v, got)
        ret = snap["captures"]["return"]["locals"]["@return"]
        if len(f.results) == 1:
            flatten("r0", ret, got)
        else:
            for k, v in ret["fields"].items():
                flatten(k, v, got)
        want = printed[(f.name, got["sel"] or "")]
        kinds = {p: t for n, t in f.params for p, _, t in leaves(n, t)}
        kinds |= {p: t for j, t in enumerate(f.results) for p, _, t in leaves(f"r{j}", t)}
        for path, typ in kinds.items():
            if typ not in FLOATS:
                continue
            value = got.get(path)
            tally[f"{typ} {'result' if path.startswith('r') else 'argument'}"] += 1
            if value is None:
                tally["unavailable"] += 1
            elif value == want[path]:
                tally["read"] += 1
            else:
                tally["wrong"] += 1
                print(f"  WRONG {f.name} {path}: godi {value}, program {want[path]}")
    for line in run.stderr.splitlines():
        if "floats in vector registers" in line:
            print(f"  go{go_version}: {line.removeprefix('godi: ')}")
    return tally


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--functions", type=int, default=40)
    ap.add_argument("--seed", type=int, default=22)
    pinned = (REPO / "scripts" / "go-versions.txt").read_text().split()
    ap.add_argument("--go", nargs="*", default=pinned)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("floats_coverage: run as root (uprobes)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="floats-coverage-"))
    total: Counter[str] = Counter()
    for v in args.go:
        t = measure(v, args.functions, args.seed, work)
        floats = t["read"] + t["unavailable"] + t["wrong"]
        print(f"go{v}: {t['read']}/{floats} float leaves read, {t['unavailable']} unavailable, "
              f"{t['wrong']} wrong")  # fmt: skip
        total += t
    floats = total["read"] + total["unavailable"] + total["wrong"]
    print(f"all: {total['read']}/{floats} = {100 * total['read'] / max(floats, 1):.1f}% read, "
          f"{total['unavailable']} unavailable, {total['wrong']} wrong")  # fmt: skip
    for k in sorted(k for k in total if k.split()[0] in FLOATS):
        print(f"  {k}: {total[k]}")
    return 1 if total["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
