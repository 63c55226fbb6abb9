"""Regenerate the committed raw dumps under ``tests/decode/fixtures/`` (needs root).

Each case runs the real pipeline on a test program built by a pinned Go and keeps
what decode needs offline: ``ir.json`` (gzipped), ``prog/layout.json``,
``prog/probes.bpf.c`` and ``events.dump``. To keep the fixture small, the IR's
symbol table is cut down to the functions the stacks pass through: a first
``godi run`` finds them, then ``godi codegen`` and ``godi capture`` run again from
the reduced IR.

Usage: ``sudo .venv/bin/python tests/decode/make_fixtures.py [CASE...]``, then
``pytest tests/decode --update-goldens`` and review the golden diff.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

import msgspec  # noqa: E402
from gobuild import REPO, build_go  # noqa: E402

from stages.artifacts import load_program  # noqa: E402
from stages.dump import RECORD_EVENT, RecordReader, read_header  # noqa: E402
from stages.ir import encode_program  # noqa: E402
from stages.irgen.pclntab import build_symbols  # noqa: E402
from stages.layout import EVENT_HEADER_FORMAT  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROGS = REPO / "tests" / "progs"

CASES: dict[str, tuple[str, str, Path]] = {
    # name: (program, Go version, probe file)
    "example-go1.23.9": ("example", "1.23.9", PROGS / "example" / "probes.json"),
    "example-go1.27.3": ("example", "1.27.3", PROGS / "example" / "probes.json"),
    "robust-go1.27.3": ("robust", "1.27.3", FIXTURES / "robust-probes.json"),
}


def stack_pcs(dump: Path) -> set[int]:
    """Every PC of every event's stack (return addresses backed up by one)."""
    head = struct.Struct(EVENT_HEADER_FORMAT)
    pcs: set[int] = set()
    with dump.open("rb") as f:
        read_header(f)
        for record in RecordReader(f, f.tell()):
            if record.kind != RECORD_EVENT:
                continue
            fields = head.unpack_from(record.payload)
            root_len, stack_len = fields[6], fields[7]
            at = head.size + ((root_len + 7) & ~7)
            stack = struct.unpack_from(f"<{stack_len}Q", record.payload, at)
            pcs.update(stack[:1])
            pcs.update(pc - 1 for pc in stack[1:])
    return pcs


def godi(*args: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "stages", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    if run.returncode != 0:
        raise SystemExit(f"godi {args[0]} failed:\n{run.stderr}")


def make(case: str) -> None:
    program, version, probes = CASES[case]
    binary = str(build_go(PROGS / program, version))
    with tempfile.TemporaryDirectory() as tmp:
        # A first capture tells which functions the stacks pass through...
        first = Path(tmp) / "first"
        godi("run", "--probes", str(probes), "-o", str(first), "--service", program, "--", binary)
        pcs = stack_pcs(first / "events.dump")
        # ...so that the fixture's IR keeps only their symbols (the whole table is
        # half a megabyte). The program is then generated and captured from that IR.
        ir = load_program(first / "ir.json")
        ir = msgspec.structs.replace(ir, symbols=build_symbols(binary, pcs))
        out = Path(tmp) / "out"
        out.mkdir()
        (out / "ir.json").write_bytes(encode_program(ir))
        godi(
            "codegen",
            "--ir",
            str(out / "ir.json"),
            "--probes",
            str(probes),
            "-o",
            str(out / "prog"),
        )
        godi(
            "capture", "--program", str(out / "prog"), "-o", str(out / "events.dump"), "--", binary
        )
        missing = stack_pcs(out / "events.dump") - pcs
        if missing:
            raise SystemExit(f"{case}: the second capture's stacks differ: {sorted(missing)}")
        dest = FIXTURES / case
        shutil.rmtree(dest, ignore_errors=True)
        (dest / "prog").mkdir(parents=True)
        for name in ("events.dump", "prog/layout.json", "prog/probes.bpf.c"):
            shutil.copyfile(out / name, dest / name)
        (dest / "ir.json.gz").write_bytes(gzip.compress((out / "ir.json").read_bytes(), mtime=0))
        sizes = {p.name: p.stat().st_size for p in dest.rglob("*") if p.is_file()}
        print(f"{case}: {sizes}")


def main(argv: list[str]) -> None:
    for case in argv or list(CASES):
        make(case)


if __name__ == "__main__":
    main(sys.argv[1:])
