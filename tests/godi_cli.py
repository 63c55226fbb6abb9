"""Running the ``godi`` command as a user would, for the tests that need a whole
stage (or ``godi run``) in its own process."""

from __future__ import annotations

import subprocess
import sys


def godi(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``godi ARGS...`` in a child process (this interpreter, the working tree's
    package), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "stages", *args], capture_output=True, text=True, timeout=timeout
    )
