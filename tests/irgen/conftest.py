"""Fixtures for the irgen tests: the example program built by every pinned Go."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from gobuild import REPO, build_go, go_versions  # noqa: E402

from stages.ir import Program  # noqa: E402
from stages.irgen import generate_ir  # noqa: E402

EXAMPLE = REPO / "tests" / "progs" / "example"
PROBED = (
    "main.scalars",
    "main.greet",
    "main.move",
    "main.weigh",
    "main.describe",
    "main.sum",
    "main.walk",
    "main.(*Cart).Checkout",
)


@pytest.fixture(scope="session")
def probed() -> tuple[str, ...]:
    """The example's functions marked noinline, which the tests probe."""
    return PROBED


@pytest.fixture(scope="session", params=go_versions())
def go_version(request: pytest.FixtureRequest) -> str:
    """Each pinned Go version in turn."""
    return str(request.param)


@pytest.fixture(scope="session")
def example_binary(go_version: str) -> Path:
    """The example program built by ``go_version``."""
    return build_go(EXAMPLE, go_version)


@pytest.fixture(scope="session")
def example_ir(example_binary: Path) -> Program:
    """The IR of the example's probed functions."""
    return generate_ir(str(example_binary), PROBED)


@pytest.fixture(scope="session")
def whole_ir(example_binary: Path) -> Program:
    """The IR of every function of the example binary."""
    return generate_ir(str(example_binary))
