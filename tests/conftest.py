"""Shared test plumbing: the live-test switch, goldens, and the tests/ import path.

``GODI_LIVE_TESTS`` decides the tests that attach real uprobes (marker ``live``):
unset, they run when possible and are skipped with the reason otherwise (not root,
no BCC); ``1``, they must run (a missing prerequisite fails them); ``0``, they are
skipped. CI sets ``1``. ``pytest --update-goldens`` rewrites golden files instead
of comparing against them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing",
    )


def _live_problem() -> str | None:
    import os

    if os.geteuid() != 0:
        return "live tests need root"
    try:
        import bcc  # noqa: F401
    except ImportError:
        return "BCC (python3-bpfcc) is not importable"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    switch = os.environ.get("GODI_LIVE_TESTS", "")
    problem = _live_problem()
    for item in items:
        if "live" not in item.keywords:
            continue
        if switch == "0":
            item.add_marker(pytest.mark.skip(reason="GODI_LIVE_TESTS=0"))
        elif problem and switch != "1":
            item.add_marker(pytest.mark.skip(reason=problem))
        # switch == "1" with a problem: let the test run and fail loudly.


@pytest.fixture(scope="session")
def update_goldens(request: pytest.FixtureRequest) -> bool:
    """Whether this run rewrites goldens."""
    return bool(request.config.getoption("--update-goldens"))
