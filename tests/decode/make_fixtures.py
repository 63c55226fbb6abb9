"""Regenerate the committed raw dumps under ``tests/decode/fixtures/`` (needs root).

Each case runs the real pipeline on a test program built by a pinned Go and keeps
what decode needs offline: ``ir.json`` (gzipped), ``prog/layout.json``,
``prog/probes.bpf.c`` and ``events.dump``.

Usage: ``sudo .venv/bin/python tests/decode/make_fixtures.py [CASE...]``, then
``pytest tests/decode --update-goldens`` and review the golden diff.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from gobuild import REPO, build_go  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROGS = REPO / "tests" / "progs"

CASES: dict[str, tuple[str, str, Path]] = {
    # name: (program, Go version, probe file)
    "example-go1.23.9": ("example", "1.23.9", PROGS / "example" / "probes.json"),
    "example-go1.27.3": ("example", "1.27.3", PROGS / "example" / "probes.json"),
    "robust-go1.27.3": ("robust", "1.27.3", FIXTURES / "robust-probes.json"),
}


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
        out = Path(tmp)
        godi("run", "--probes", str(probes), "-o", str(out), "--service", program, "--", binary)
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
