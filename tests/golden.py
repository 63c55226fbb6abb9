"""Golden files: pretty, sorted JSON with volatile fields normalised.

``check_golden(path, data, update)`` compares ``data`` (after normalisation) with
the file and fails with a unified diff; with ``update`` it rewrites the file
atomically instead. Goldens live under ``tests/golden/`` named by case, Go version
and architecture. Snapshots are normalised by ``stages.golden.normalise_snapshot``
and rendered by ``stages.golden.render_json``, what ``godi golden`` uses for users'
goldens.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from stages.golden import normalise_snapshot, render_json

__all__ = ["GOLDEN_DIR", "check_golden", "normalise_snapshot", "render"]

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
render = render_json


def check_golden(path: Path, data: Any, update: bool) -> None:
    """Compare ``data`` with the golden at ``path``, or rewrite it when ``update``."""
    text = render(data)
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        return
    if not path.is_file():
        pytest.fail(f"golden {path} is missing: run pytest --update-goldens to create it")
    want = path.read_text()
    if want != text:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=str(path),
                tofile="actual",
            )
        )
        pytest.fail(f"output differs from golden (pytest --update-goldens to accept):\n{diff}")
