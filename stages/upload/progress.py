"""The progress record of an upload: ``<input>.progress.json``, next to the input.

Rewritten atomically each time items are handled for good (acknowledged by the
agent, dead-lettered or set aside), it says how far a rerun may skip: the number
of items handled and the byte offset past the last one, for one input file
(recognised by size, mtime and a hash of its first KiB) and one endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, Literal

import msgspec

from .._base import Struct
from ..artifacts import write_atomic
from ..errors import UploadInputError
from .source import Identity, Position

PROGRESS_FORMAT: Final = "godi-upload-progress"
PROGRESS_FORMAT_VERSION = 1


class InputIdentity(Struct, frozen=True, kw_only=True):
    """The input file the record is about."""

    size: int
    mtime_ns: int
    head_sha256: str


class Totals(Struct, frozen=True, kw_only=True):
    """Counters over every run on this input."""

    sent: int = 0
    batches: int = 0
    retries: int = 0
    dead_lettered: int = 0
    oversize: int = 0


class Progress(Struct, frozen=True, kw_only=True):
    """How far the uploads of one input got."""

    format: Literal["godi-upload-progress"] = PROGRESS_FORMAT
    format_version: int = PROGRESS_FORMAT_VERSION
    input: InputIdentity
    endpoint: str
    items: int
    offset: int
    complete: bool = False
    totals: Totals = Totals()

    @property
    def position(self) -> Position:
        return Position(self.items, self.offset)


_decoder = msgspec.json.Decoder(Progress)
_encoder = msgspec.json.Encoder()


def progress_path(input_path: str | os.PathLike[str]) -> Path:
    """Where the progress record of ``input_path`` lives."""
    p = Path(input_path)
    return p.with_name(p.name + ".progress.json")


def to_identity(ident: Identity) -> InputIdentity:
    return InputIdentity(size=ident.size, mtime_ns=ident.mtime_ns, head_sha256=ident.head_sha256)


def load_progress(
    input_path: str | os.PathLike[str], ident: Identity, endpoint: str
) -> Progress | None:
    """The progress record of ``input_path``, checked against the file and endpoint.

    None when there is none, or it records nothing done yet. Raises
    ``UploadInputError`` when the record is unreadable, or is about another version
    of the file or another endpoint: resuming would then skip or resend the wrong
    items, so the user decides (``--restart``).
    """
    path = progress_path(input_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UploadInputError(str(path), f"cannot read: {e.strerror}") from e
    try:
        progress = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise UploadInputError(
            str(path), f"not a godi upload progress record ({e}); remove it or use --restart"
        ) from e
    if progress.items == 0 and not progress.complete:
        return None  # nothing was skipped yet: any file, any endpoint may start afresh
    if progress.input != to_identity(ident):
        raise UploadInputError(
            str(input_path),
            f"changed since {path.name} was written (size, mtime or first KiB differ); "
            "use --restart to upload it again from the start",
        )
    if progress.endpoint != endpoint:
        raise UploadInputError(
            str(input_path),
            f"{path.name} records an upload to {progress.endpoint}, not {endpoint}; "
            "use --restart to upload it there from the start",
        )
    return progress


def save_progress(input_path: str | os.PathLike[str], progress: Progress) -> None:
    """Replace the progress record of ``input_path`` atomically."""
    write_atomic(progress_path(input_path), _encoder.encode(progress) + b"\n")
