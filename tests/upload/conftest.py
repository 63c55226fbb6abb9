"""Fixtures for the upload tests: local intakes on loopback, stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from upload_helpers import StartIntake

from stages.intake import Intake, IntakeOptions, parse_step


@pytest.fixture
def start_intake(tmp_path: Path) -> Iterator[StartIntake]:
    """Start an intake on a background thread: ``start_intake("500x2", retry_after=1)``.

    Positional arguments are fault steps; keywords go to ``IntakeOptions`` (plus
    ``port`` and ``out``). Every intake started is stopped at the end of the test.
    """
    started: list[Intake] = []

    def start(*steps: str, port: int = 0, out: Path | None = None, **kw: Any) -> Intake:
        options = IntakeOptions(plan=tuple(parse_step(s) for s in steps), **kw)
        intake = Intake(out or tmp_path / "intake", port, options).start()
        started.append(intake)
        return intake

    yield start
    for intake in started:
        intake.stop()
