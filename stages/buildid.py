"""The identity of an ELF binary, as irgen records it and capture checks it.

The GNU build id (hex) when the binary has one, else the Go build id string, else
``sha256:`` and a hash of the file's bytes.
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection

from .errors import BinaryError


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
    digest = hashlib.sha256()
    stream.seek(0)
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def read_build_id(path: str | os.PathLike[str]) -> str:
    """The build id of the ELF file at ``path``; raises BinaryError if it is not ELF."""
    try:
        with open(path, "rb") as f:
            return build_id_of(ELFFile(f), f)
    except OSError as e:
        raise BinaryError(str(path), f"cannot read: {e.strerror}") from e
    except ELFError as e:
        raise BinaryError(str(path), f"not an ELF file ({e})") from e
