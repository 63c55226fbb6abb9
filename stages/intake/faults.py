"""Fault plans: how the local intake misbehaves, request by request, for testing.

A plan is a sequence of steps; each step applies to the next N requests to the
intake endpoints (in the order they arrive), then the next step takes over; once
the plan is used up every request is served normally. A step is written
``ACTION`` or ``ACTIONxN`` (N defaults to 1):

=============  =====================================================================
``ok``         serve normally (to let some requests through before a fault)
``500``        answer with this status code (any 400-599) and store nothing; 429 and
               503 carry ``Retry-After`` when the intake was given ``--retry-after``
``drop``       read half the body, then reset the connection: nothing stored, no answer
``lose``       store the request, then reset the connection instead of answering
               (the client cannot know it was accepted: its retry is a duplicate)
``delay:S``    wait S seconds before answering; if the client gave up meanwhile,
               the request is abandoned (not stored), as a server that had not
               committed it yet would do
=============  =====================================================================

Examples: ``500x3``, ``429x2``, ``okx5``, ``dropx2``, ``losex1``, ``delay:2x3``.
A plan file holds steps separated by blanks or newlines; ``#`` starts a comment.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..errors import IntakeError

Action = Literal["ok", "status", "drop", "lose", "delay"]

_STEP = re.compile(
    r"(?P<action>[1-5][0-9][0-9]|ok|drop|lose|delay:(?P<seconds>[0-9]+(?:\.[0-9]+)?))"
    r"(?:x(?P<count>[0-9]+))?"
)


@dataclass(frozen=True)
class Step:
    """One step of a fault plan: ``action`` for the next ``count`` requests."""

    action: Action
    count: int = 1
    code: int = 0  # for "status"
    seconds: float = 0.0  # for "delay"

    def __str__(self) -> str:
        what = {"status": str(self.code), "delay": f"delay:{self.seconds:g}"}.get(
            self.action, self.action
        )
        return f"{what}x{self.count}"


OK = Step("ok")
_SIMPLE: dict[str, Action] = {"ok": "ok", "drop": "drop", "lose": "lose"}


def parse_step(text: str) -> Step:
    """One step from its text (``500x3``, ``dropx2``, ``delay:1.5``...)."""
    m = _STEP.fullmatch(text.strip())
    if m is None:
        raise IntakeError(
            f"fault step {text!r}: expected CODE, ok, drop, lose or delay:SECONDS, "
            "optionally followed by xCOUNT (e.g. 500x3, dropx2, delay:2x1)"
        )
    count = int(m["count"]) if m["count"] is not None else 1
    if count < 1:
        raise IntakeError(f"fault step {text!r}: the count must be at least 1")
    action = m["action"]
    if action.isdigit():
        code = int(action)
        if code < 400:
            raise IntakeError(f"fault step {text!r}: a failure status must be 400-599")
        return Step("status", count, code=code)
    if m["seconds"] is not None:
        return Step("delay", count, seconds=float(m["seconds"]))
    return Step(_SIMPLE[action], count)


def parse_plan(text: str) -> list[Step]:
    """The steps of a plan file: steps separated by blanks, ``#`` comments."""
    steps: list[Step] = []
    for line in text.splitlines():
        steps.extend(parse_step(word) for word in line.split("#", 1)[0].split())
    return steps


class FaultPlan:
    """Hands out the action for each request, in arrival order; thread-safe."""

    def __init__(self, steps: Iterable[Step] = ()) -> None:
        self.steps = tuple(steps)
        self._i = 0
        self._used = 0
        self._lock = threading.Lock()

    def next(self) -> Step:
        """The step that applies to the request arriving now."""
        with self._lock:
            while self._i < len(self.steps) and self._used >= self.steps[self._i].count:
                self._i += 1
                self._used = 0
            if self._i >= len(self.steps):
                return OK
            self._used += 1
            return self.steps[self._i]

    def __str__(self) -> str:
        return " ".join(str(s) for s in self.steps) or "none"
