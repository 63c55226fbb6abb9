"""The process being traced: launched by godi, or an existing PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass

from ..errors import TargetError

# The shell stops itself, so the probes can be attached while nothing of the
# target has run yet, then execs the command under the same PID.
_STOP_THEN_EXEC = 'kill -STOP $$ && exec "$@"'


@dataclass
class Target:
    """A traced process: its PID, binary path, command line, and whether we own it."""

    pid: int
    binary: str
    command: list[str]
    launched: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        """Whether the process still runs."""
        if self.launched is not None:
            return self.launched.poll() is None
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                stat = f.read()
        except FileNotFoundError:
            return False
        # A zombie has exited; only its parent has not reaped it yet.
        state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
        return state not in (b"Z", b"X")

    def exit_status(self) -> int | None:
        """The launched process's exit status (negative: killed by that signal)."""
        return self.launched.returncode if self.launched is not None else None


def resolve_executable(command: list[str]) -> str:
    """The absolute path of the program ``command`` runs."""
    if not command:
        raise TargetError("no command given to launch")
    exe = command[0]
    path = exe if os.sep in exe else shutil.which(exe)
    if not path or not os.path.isfile(path):
        raise TargetError(f"cannot find the program {exe!r}")
    if not os.access(path, os.X_OK):
        raise TargetError(f"{path} is not executable")
    return os.path.realpath(path)


def launch_stopped(command: list[str]) -> Target:
    """Start ``command`` stopped before its first instruction; resume with ``resume``."""
    binary = resolve_executable(command)
    proc = subprocess.Popen(["/bin/sh", "-c", _STOP_THEN_EXEC, "godi-launch", *command])
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        proc.wait()
        raise TargetError(f"could not start {command[0]!r} (status {status})")
    return Target(pid=proc.pid, binary=binary, command=list(command), launched=proc)


def resume(target: Target) -> None:
    """Let a target started by ``launch_stopped`` run."""
    os.kill(target.pid, signal.SIGCONT)


def attach_pid(pid: int) -> Target:
    """A running process by PID."""
    try:
        binary = os.readlink(f"/proc/{pid}/exe")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except FileNotFoundError as e:
        raise TargetError(f"no process with PID {pid}") from e
    except PermissionError as e:
        raise TargetError(f"not allowed to inspect PID {pid} (run as root)") from e
    binary = binary.removesuffix(" (deleted)")
    # The mapped file: works even if the path was replaced since the start.
    return Target(
        pid=pid,
        binary=f"/proc/{pid}/exe" if not os.path.exists(binary) else binary,
        command=command,
    )


def stop(target: Target, timeout: float = 5.0) -> None:
    """End a target godi launched (SIGTERM, then SIGKILL); never touches others."""
    proc = target.launched
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
