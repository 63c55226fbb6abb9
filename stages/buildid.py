"""The identity of an ELF binary: its build id, and the hash of its bytes.

The build id is a name: the GNU build id (hex) when the binary has one, else the
Go build id string, else ``sha256:`` and a hash of the file's bytes. Names are
set by hand in many builds (``go build -ldflags=-B=0x...``) and two different
programs can share one, so nothing that must match the code of a binary relies on
it: the IR records ``content_sha256`` of the file it was made from, the IR cache
is keyed by it, and capture checks it against the very file it attaches to.
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection

from .errors import BinaryError

_HASHES: dict[tuple[int, ...], str] = {}


def build_id_of(elf: ELFFile, stream: BinaryIO) -> str:
    """The build id of an open ELF whose bytes ``stream`` reads."""
    go_id = ""
    for section in elf.iter_sections():
        if not isinstance(section, NoteSection):
            continue
        for note in section.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID" and note["n_name"] == "GNU":
                return str(note["n_desc"])
            if note["n_name"] == "Go" and section.name == ".note.go.buildid":
                desc = note["n_desc"]
                go_id = desc.decode("ascii", "replace") if isinstance(desc, bytes) else str(desc)
    if go_id:
        return go_id
    return "sha256:" + content_sha256(stream.fileno())


def read_build_id(path: str | os.PathLike[str]) -> str:
    """The build id of the ELF file at ``path``; raises BinaryError if it is not ELF."""
    try:
        with open(path, "rb") as f:
            return build_id_of(ELFFile(f), f)
    except OSError as e:
        raise BinaryError(str(path), f"cannot read: {e.strerror}") from e
    except ELFError as e:
        raise BinaryError(str(path), f"not an ELF file ({e})") from e


def content_sha256(fd: int) -> str:
    """The hex SHA-256 of every byte of the open file ``fd`` (its position is kept).

    Read from the file itself; a second call in the same process for a file with
    the same device, inode, size, modification and change times (the change time
    moves with every write, and cannot be set back) reuses the first result.
    Raises OSError when the file cannot be read.
    """
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _HASHES.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        digest.update(chunk)
        offset += len(chunk)
    value = digest.hexdigest()
    if offset == st.st_size:  # a file that changed while being read is not remembered
        _HASHES[key] = value
    return value


def file_sha256(path: str | os.PathLike[str]) -> str:
    """``content_sha256`` of the file at ``path``; raises BinaryError if unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise BinaryError(str(path), f"cannot read: {e.strerror}") from e
    try:
        return content_sha256(fd)
    except OSError as e:
        raise BinaryError(str(path), f"cannot read: {e.strerror}") from e
    finally:
        os.close(fd)
