"""One exception hierarchy for godi; the CLI maps it to exit codes in one place."""

from __future__ import annotations


class GodiError(Exception):
    """Base of every error godi raises on purpose.

    ``user_error`` errors are caused by the input (exit status 2); the others are
    failures of the environment or of godi itself (exit status 1).
    """

    user_error = False


class BinaryError(GodiError):
    """The target is not a usable Go ELF binary (not ELF, truncated, no Go DWARF)."""

    user_error = True

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class ProbeFileError(GodiError):
    """The probe file cannot be read or no probe in it is valid."""

    user_error = True

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class NoUsableProbeError(GodiError):
    """Every probe was rejected; the message lists each probe's reason."""

    user_error = True


class CodegenError(GodiError):
    """Generating the BPF program failed for a reason other than a single probe."""


class ArtifactError(GodiError):
    """An input artifact is malformed, of another format version, or from other inputs."""

    user_error = True

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class CaptureError(GodiError):
    """Loading or attaching the BPF program, or running the target, failed."""


class TargetError(CaptureError):
    """The target process cannot be started or attached to (no such PID, bad command)."""

    user_error = True


class OutputError(GodiError):
    """An output cannot be written (no space left, read-only, no permission): the
    user's choice of location, so exit status 2. Whatever was written before the
    failure is kept and readable up to there."""

    user_error = True

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class DecodeError(GodiError):
    """A dump cannot be decoded (bad magic, header mismatch, corrupt record)."""

    user_error = True


class UploadError(GodiError):
    """Delivering to the agent failed for good (retries exhausted, unusable agent URL).

    Every batch acknowledged before the failure is recorded in the input's progress
    file, so rerunning the same command resumes where this one stopped.
    """


class UploadInputError(UploadError):
    """An upload input cannot be read: malformed JSON, or changed since its progress record."""

    user_error = True

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class IntakeError(GodiError):
    """The local intake cannot start: bad fault plan, port in use, unusable output directory."""

    user_error = True


class UsageError(GodiError):
    """The command line asks for something that cannot be done as given: a flag-made
    probe with a bad ``--line``, a glob matching nothing or too much, a bad
    ``--when`` expression, conflicting options."""

    user_error = True
