"""The process being traced: launched by godi, or an existing PID.

A launched target starts behind a gate: a small process (Python, ``-I -S``)
that blocks reading a pipe whose write end only godi holds, then execs the
command under the same PID. godi attaches the probes to that PID while nothing
of the target has run, then closes its end: the gate reads end-of-file and
execs. If godi dies first, however it dies (SIGKILL included), the kernel closes
the pipe and the gate execs all the same, and godi's probes are gone with its
file descriptors: the target always runs, never stays stopped, and godi never
signals it (``Target.release`` only closes the pipe).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from ..errors import TargetError

# argv: the gate's read fd, the program's path, then the command (argv[0] as given).
# Python sets SIGPIPE and SIGXFSZ to SIG_IGN and SIGINT to its own handler at
# start; the command gets them back as the gate got them (default), since an
# ignored signal stays ignored across exec.
_GATE = r"""
import os, signal, sys
fd = int(sys.argv[1])
for s in (signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(s, signal.SIG_DFL)
if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
try:
    while os.read(fd, 4096):
        pass
except OSError:
    pass
os.close(fd)
try:
    os.execv(sys.argv[2], sys.argv[3:])
except OSError as e:
    sys.stderr.write(f"godi: cannot run {sys.argv[2]}: {e.strerror}\n")
    sys.exit(127)
"""


@dataclass
class Target:
    """A traced process: its PID, binary path, command line, and whether we launched it.

    ``gate`` is the write end of a launched target's gate pipe until ``release``.
    """

    pid: int
    binary: str
    command: list[str]
    launched: subprocess.Popen[bytes] | None = None
    gate: int | None = None

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

    def release(self) -> None:
        """Let a launched target run (close the gate); idempotent, never signals it."""
        if self.gate is not None:
            os.close(self.gate)
            self.gate = None

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a launched target to exit; whether it did."""
        if self.launched is None:
            return not self.alive()
        deadline = time.monotonic() + timeout
        while self.launched.poll() is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


def find_executable(command: list[str]) -> str:
    """The path of the program ``command`` runs, as the shell would find it."""
    if not command:
        raise TargetError("no command given to launch")
    exe = command[0]
    path = exe if os.sep in exe else shutil.which(exe)
    if not path or not os.path.isfile(path):
        raise TargetError(f"cannot find the program {exe!r}")
    if not os.access(path, os.X_OK):
        raise TargetError(f"{path} is not executable")
    return path


def resolve_executable(command: list[str]) -> str:
    """The absolute path of the program ``command`` runs."""
    return os.path.realpath(find_executable(command))


def launch_gated(command: list[str], path: str | None = None) -> Target:
    """Start ``command`` held at the gate (see the module docstring): its PID exists,
    none of its code has run. ``path`` is the file to exec (default: found as the
    shell would); ``Target.release`` lets it run.

    Raises ``TargetError`` when the gate cannot be started.
    """
    exe = path or find_executable(command)
    read_end, write_end = os.pipe()  # both close-on-exec: the gate alone inherits one
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _GATE, str(read_end), exe, *command],
            pass_fds=(read_end,),
        )
    except OSError as e:
        os.close(write_end)
        raise TargetError(f"could not start {command[0]!r}: {e.strerror}") from e
    finally:
        os.close(read_end)
    return Target(
        pid=proc.pid,
        binary=os.path.realpath(exe),
        command=list(command),
        launched=proc,
        gate=write_end,
    )


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
