"""Running the ``godi`` command as a user would, for the tests that need a whole
stage (or ``godi run``) in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
from gobuild import REPO, build_go

SNAPSHOT_SCHEMA = json.loads((REPO / "schemas" / "snapshot.schema.json").read_text())


def godi(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``godi ARGS...`` in a child process (this interpreter, the working tree's
    package), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "stages", *args], capture_output=True, text=True, timeout=timeout
    )


def godi_env(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``godi ARGS...`` like ``godi``, with ``env`` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "stages", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def irgen_codegen(binary: Path, probes: Path | str, ir: Path, prog: Path) -> None:
    """``godi irgen`` of ``binary`` for ``probes`` into ``ir``, then ``godi codegen``
    of them into the directory ``prog``; both must succeed."""
    done = godi("irgen", str(binary), "--probes", str(probes), "-o", str(ir))
    assert done.returncode == 0, done.stderr
    done = godi("codegen", "--ir", str(ir), "--probes", str(probes), "-o", str(prog))
    assert done.returncode == 0, done.stderr


def run_probed(prog: Path, go_version: str, out: Path) -> tuple[str, list[dict[str, Any]]]:
    """Build the Go program in ``prog`` with Go ``go_version`` and run it twice: on
    its own, then under ``godi run`` with ``prog/probes.json``, writing to ``out``.
    Both runs must exit 0 and print the same. Returns what the program printed and
    the snapshots, each validated against the snapshot schema."""
    binary = build_go(prog, go_version)
    plain = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    done = godi("run", "--probes", str(prog / "probes.json"), "-o", str(out), "--", str(binary))
    assert done.returncode == plain.returncode == 0, done.stderr
    assert done.stdout == plain.stdout
    snapshots: list[dict[str, Any]] = json.loads((out / "snapshots.json").read_text())
    for s in snapshots:
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
    return plain.stdout, snapshots
