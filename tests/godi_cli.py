"""Running the ``godi`` command as a user would, for the tests that need a whole
stage (or ``godi run``) in its own process."""

from __future__ import annotations

import os
import subprocess
import sys


def godi(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``godi ARGS...`` in a child process (this interpreter, the working tree's
    package), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "stages", *args], capture_output=True, text=True, timeout=timeout
    )


def godi_env(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``godi ARGS...`` like ``godi``, with ``env`` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "stages", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )
