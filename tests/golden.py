"""Golden files: pretty, sorted JSON with volatile fields normalised.

``check_golden(path, data, update)`` compares ``data`` (after normalisation) with
the file and fails with a unified diff; with ``update`` it rewrites the file
atomically instead. Goldens live under ``tests/golden/`` named by case, Go version
and architecture.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
_ADDRESS = re.compile(r"^0x[0-9a-f]+$")


def normalise_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``snapshot`` with ids, timestamps, addresses and goroutine ids fixed."""
    s = json.loads(json.dumps(snapshot))
    s["timestamp"] = 0
    if "duration" in s:
        s["duration"] = 0
    s["logger"]["thread_id"] = 0
    body = s["debugger"]["snapshot"]
    body["id"] = "<id>"
    body["timestamp"] = 0

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if isinstance(v.get("address"), str) and _ADDRESS.match(v["address"]):
                v["address"] = "<address>"
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(body.get("captures"))
    return s


def render(data: Any) -> str:
    """Pretty, sorted JSON text."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


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
