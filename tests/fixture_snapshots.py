"""Real snapshots for the tests of what reads them (goldens, ``godi show``, the
report page): the committed dumps of real captures under tests/decode/fixtures,
decoded offline (no root, no Go)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec

_DECODE_TESTS = str(Path(__file__).resolve().parent / "decode")
if _DECODE_TESTS not in sys.path:
    sys.path.insert(0, _DECODE_TESTS)

from fixture_cases import FIXTURES, load_case  # noqa: E402

__all__ = ["FIXTURES", "fixture_snapshots"]


def fixture_snapshots(case: str) -> list[dict[str, Any]]:
    """The snapshots decode makes of a fixture's dump, as JSON data."""
    return [msgspec.json.decode(raw) for raw in load_case(case).run().encoded()]
