"""The identity of an ELF binary: its GNU build id, or failing that its Go build id."""

from __future__ import annotations

import os
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .errors import BinaryError


def build_id_of(elf: ELFFile) -> str:
    """The GNU build id (hex) of an open ELF, else its Go build id, else ""."""
    go_id = ""
    for section in elf.iter_sections():
        if section.header.sh_type != "SHT_NOTE":
            continue
        for note in section.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID":
                return str(note["n_desc"])
            if note["n_name"] == "Go" and section.name == ".note.go.buildid":
                desc = note["n_descdata"]
                go_id = desc.decode("ascii", "replace") if isinstance(desc, bytes) else str(desc)
    return go_id


def read_build_id(path: str | os.PathLike[str]) -> str:
    """The build id of the ELF file at ``path``; raises BinaryError if it is not ELF."""
    try:
        with open(path, "rb") as f:
            return _read(f)
    except OSError as e:
        raise BinaryError(str(path), f"cannot read: {e.strerror}") from e
    except ELFError as e:
        raise BinaryError(str(path), f"not an ELF file ({e})") from e


def _read(f: BinaryIO) -> str:
    return build_id_of(ELFFile(f))
