"""A local stand-in for the Datadog agent's debugger intake, for offline runs and tests.

``Intake`` serves ``/debugger/v1/input``, ``/debugger/v2/input`` and
``/debugger/v1/diagnostics`` on 127.0.0.1, keeps every accepted request under its
output directory and counts snapshots by id (``store``), and misbehaves on demand
(``faults``: status codes, delays, dropped connections, lost responses).
"""

from __future__ import annotations

from .faults import FaultPlan, Step, parse_plan, parse_step
from .server import Intake, IntakeOptions
from .store import Store

__all__ = ["FaultPlan", "Intake", "IntakeOptions", "Step", "Store", "parse_plan", "parse_step"]
