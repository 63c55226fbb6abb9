"""Where godi's own non-Python files are."""

from __future__ import annotations

from pathlib import Path


def bpf_dir() -> Path:
    """The folder holding the hand-written BPF headers (``bpf/`` of the project)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "bpf", here / "bpf"):
        if (candidate / "godi.h").is_file():
            return candidate
    raise FileNotFoundError("godi's bpf/ headers are not installed next to the package")


def schemas_dir() -> Path:
    """The project's ``schemas/`` folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "schemas", here / "schemas"):
        if candidate.is_dir():
            return candidate
    return here.parent / "schemas"
