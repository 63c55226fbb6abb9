"""Reading and writing the pipeline's artifact files.

Thin I/O helpers around the data modules: every stage loads its inputs and writes
its outputs through here, so format checks and provenance live in one place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import msgspec

from . import __version__
from ._base import ArtifactHeader
from .errors import ArtifactError
from .ir import IR_FORMAT, IR_FORMAT_VERSION, Program, decode_program, encode_program
from .layout import LAYOUT_FORMAT, LAYOUT_FORMAT_VERSION, Layout, decode_layout, encode_layout

C_FILE = "probes.bpf.c"
LAYOUT_FILE = "layout.json"


def header(fmt: str, version: int, inputs: dict[str, str]) -> ArtifactHeader:
    """A provenance header for an artifact written by this godi."""
    return ArtifactHeader(
        format=fmt, format_version=version, tool_version=__version__, inputs=inputs
    )


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


PRIVATE_MODE = 0o600
"""The mode of files that may hold a target's data or code (dumps, IRs, the IR
cache, snapshots): readable by their owner only."""


def write_atomic(path: str | os.PathLike[str], data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; mode 0600
    when ``private``."""
    with open_atomic(path, private=private) as f:
        f.write(data)


def create_private(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for writing from scratch, unbuffered, mode 0600 whatever it
    was (a dump is written as it comes, so that a cut one still holds its records:
    not through a rename)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
        return os.fdopen(fd, "wb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def open_atomic(path: str | os.PathLike[str], *, private: bool = False) -> Iterator[BinaryIO]:
    """A file to write ``path`` through: a temporary file renamed over ``path``
    when the block ends normally, removed if it raises. ``private``: mode 0600
    (``PRIVATE_MODE``) from its creation on, else what an ordinary open() gives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if not private:  # mkstemp creates 0600: give it an ordinary open()'s mode
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ArtifactError(str(path), f"cannot read {what}: {e.strerror}") from e


def _check_header(path: str, got: ArtifactHeader, fmt: str, version: int) -> None:
    if got.format != fmt:
        raise ArtifactError(path, f"is a {got.format!r} artifact, expected {fmt!r}")
    if got.format_version != version:
        raise ArtifactError(
            path,
            f"{fmt} format version {got.format_version}, this godi reads {version}: regenerate it",
        )


def load_program(path: str | os.PathLike[str]) -> Program:
    """Read and check ``ir.json``."""
    data = _read(path, "IR")
    try:
        program = decode_program(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise ArtifactError(str(path), f"not a godi IR file: {e}") from e
    _check_header(str(path), program.header, IR_FORMAT, IR_FORMAT_VERSION)
    return program


def dump_program(program: Program, path: str | os.PathLike[str]) -> None:
    """Write ``ir.json``."""
    write_atomic(path, encode_program(program), private=True)


def program_hash(directory: str | os.PathLike[str]) -> str:
    """The hash identifying a generated program: its C source and its layout."""
    d = Path(directory)
    h = hashlib.sha256()
    for name in (C_FILE, LAYOUT_FILE):
        data = _read(d / name, name)
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def load_layout(directory: str | os.PathLike[str]) -> Layout:
    """Read and check ``DIR/layout.json``."""
    path = Path(directory) / LAYOUT_FILE
    data = _read(path, "layout")
    try:
        layout = decode_layout(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise ArtifactError(str(path), f"not a godi layout file: {e}") from e
    _check_header(str(path), layout.header, LAYOUT_FORMAT, LAYOUT_FORMAT_VERSION)
    return layout


def load_c_source(directory: str | os.PathLike[str]) -> str:
    """Read ``DIR/probes.bpf.c``."""
    return _read(Path(directory) / C_FILE, "generated C").decode()


def dump_generated(directory: str | os.PathLike[str], c_source: str, layout: Layout) -> None:
    """Write ``DIR/probes.bpf.c`` and ``DIR/layout.json``."""
    d = Path(directory)
    write_atomic(d / C_FILE, c_source.encode())
    write_atomic(d / LAYOUT_FILE, encode_layout(layout))
