"""Opening and validating the target ELF, and the facts that need no DWARF.

Everything here works on the raw file: the ELF header is checked by hand before
pyelftools sees the file, so that a text file, a truncated copy or a binary for
another architecture fails with one clear line instead of a parser traceback.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError
from elftools.elf.elffile import ELFFile

from ..buildid import build_id_of, content_sha256
from ..errors import BinaryError

_ELF_MAGIC = b"\x7fELF"
_ELF64_HEADER_SIZE = 64
_EM_X86_64 = 62
_MACHINE_NAMES = {
    3: "386",
    62: "amd64",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "arm",
    183: "arm64",
    243: "riscv64",
    258: "loong64",
}
_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_SYMBOL_SIZE = 24  # Elf64_Sym
_STT_FUNC = 2
# Sections only the Go linker writes: a binary with neither is not a Go program.
_GO_SECTIONS = (".go.buildinfo", ".gopclntab", ".note.go.buildid")


@dataclass
class ElfImage:
    """An opened, validated amd64 ELF file.

    ``elffile`` is the pyelftools view (for the DWARF adapter); ``read`` returns the
    bytes mapped at a virtual address, for the disassembler.
    """

    path: str
    elffile: ELFFile
    stream: BinaryIO
    size: int
    _sections: list[tuple[int, int, int]] = field(default_factory=list)
    _functions: tuple[list[int], list[int], tuple[bytes, list[int]]] | None = None

    def has_section(self, name: str) -> bool:
        """Whether the file has a section called ``name``."""
        return self.elffile.get_section_by_name(name) is not None

    def is_go(self) -> bool:
        """Whether the file has a section only the Go linker writes."""
        return any(self.has_section(name) for name in _GO_SECTIONS)

    def read(self, address: int, size: int) -> bytes:
        """The file bytes mapped at ``address``, at most ``size`` of them.

        Returns fewer bytes (possibly none) past the end of the section holding
        ``address``, and none when no file-backed section holds it.
        """
        for start, end, offset in self._sections:
            if start <= address < end:
                self.stream.seek(offset + address - start)
                return self.stream.read(min(size, end - address))
        return b""

    def symbol(self, name: str) -> int | None:
        """The value (address) of the symbol ``name`` in .symtab, None if absent.

        Found by searching .strtab for the name and .symtab for entries naming
        that string, rather than by decoding every symbol.
        """
        symtab = self.elffile.get_section_by_name(".symtab")
        if symtab is None or symtab["sh_entsize"] != _SYMBOL_SIZE:
            return None
        strtab = self.elffile.get_section(symtab["sh_link"])
        strings = strtab.data()
        at = strings.find(b"\0" + name.encode() + b"\0")
        if at < 0:
            return None
        needle = (at + 1).to_bytes(4, "little")
        data = symtab.data()
        pos = data.find(needle)
        while pos >= 0:
            if pos % _SYMBOL_SIZE == 0:
                (value,) = struct.unpack_from("<Q", data, pos + 8)
                return int(value)
            pos = data.find(needle, pos + 1)
        return None

    def function_at(self, pc: int) -> tuple[int, str, int] | None:
        """(start, name, end) of the function symbol whose code holds ``pc``."""
        if self._functions is None:
            self._functions = self._function_symbols()
        starts, ends, names = self._functions
        i = bisect.bisect_right(starts, pc) - 1
        if i < 0 or pc >= ends[i]:
            return None
        strings, offset = names
        return starts[i], _c_string(strings, offset[i]), ends[i]

    def function_symbols(self) -> Iterator[tuple[int, str, int]]:
        """(start, name, end) of every function symbol with a size, by address."""
        if self._functions is None:
            self._functions = self._function_symbols()
        starts, ends, (strings, offsets) = self._functions
        for start, end, offset in zip(starts, ends, offsets, strict=True):
            yield start, _c_string(strings, offset), end

    def _function_symbols(self) -> tuple[list[int], list[int], tuple[bytes, list[int]]]:
        """(starts, ends, (string table, name offsets)) of the function symbols, by address."""
        symtab = self.elffile.get_section_by_name(".symtab")
        if symtab is None or symtab["sh_entsize"] != _SYMBOL_SIZE:
            return [], [], (b"", [])
        strings = self.elffile.get_section(symtab["sh_link"]).data()
        functions = sorted(
            (value, value + size, name)
            for name, info, _, _, value, size in struct.iter_unpack("<IBBHQQ", symtab.data())
            if info & 0xF == _STT_FUNC and size
        )
        return (
            [f[0] for f in functions],
            [f[1] for f in functions],
            (strings, [f[2] for f in functions]),
        )

    def section_address(self, name: str) -> int | None:
        """The address section ``name`` is loaded at, None if absent."""
        section = self.elffile.get_section_by_name(name)
        return int(section["sh_addr"]) if section is not None else None

    def build_id(self) -> str:
        """The binary's identity (see ``stages.buildid``)."""
        return build_id_of(self.elffile, self.stream)

    def sha256(self) -> str:
        """The hash of the file's bytes (see ``stages.buildid``)."""
        try:
            return content_sha256(self.stream.fileno())
        except OSError as e:
            raise BinaryError(self.path, f"cannot read: {e.strerror or e}") from e

    def go_version(self) -> str | None:
        """The Go version recorded in ``.go.buildinfo`` ("go1.23.9"), None if absent."""
        section = self.elffile.get_section_by_name(".go.buildinfo")
        if section is None or section["sh_type"] == "SHT_NOBITS":
            return None
        self.stream.seek(section["sh_offset"])
        data = self.stream.read(min(section["sh_size"], 64))
        if len(data) < 32 or not data.startswith(_BUILDINFO_MAGIC):
            return None
        ptr_size, flags = data[14], data[15]
        if flags & 2:
            # Go 1.18+: varint-prefixed strings inline after the 32-byte header.
            length, pos = _uvarint(data, 32)
            if length is None:
                return None
            self.stream.seek(section["sh_offset"] + pos)
            version = self.stream.read(length)
        else:
            # Older: a pointer to a Go string header (data pointer, length).
            order = ">" if flags & 1 else "<"
            fmt = order + ("Q" if ptr_size == 8 else "I")
            (header_addr,) = struct.unpack_from(fmt, data, 16)
            header = self.read(header_addr, 2 * ptr_size)
            if len(header) < 2 * ptr_size:
                return None
            data_addr, length = struct.unpack(order + fmt[1] * 2, header)
            version = self.read(data_addr, length)
        # A toolchain built with experiments appends " X:name": keep the version.
        words = version.decode("ascii", "replace").split()
        return words[0] if words and words[0].startswith("go") else None


def _c_string(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    return data[offset : end if end >= 0 else len(data)].decode("utf-8", "replace")


def _uvarint(data: bytes, pos: int) -> tuple[int | None, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


def _check_header(path: str, head: bytes, size: int) -> None:
    """Validate the raw ELF header: magic, architecture, and table extents."""
    if len(head) < 4 or head[:4] != _ELF_MAGIC:
        raise BinaryError(path, "not an ELF file")
    if len(head) < 20:
        raise BinaryError(path, f"truncated ELF file ({size} bytes, shorter than its header)")
    order = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack_from(order + "H", head, 18)
    if machine != _EM_X86_64 or head[4] != 2:
        arch = _MACHINE_NAMES.get(machine, f"e_machine {machine}")
        bits = "32-bit " if head[4] == 1 else ""
        raise BinaryError(path, f"unsupported architecture {bits}{arch}: godi supports amd64 only")
    if len(head) < _ELF64_HEADER_SIZE:
        raise BinaryError(path, f"truncated ELF file ({size} bytes, shorter than its header)")
    phoff, shoff = struct.unpack_from(order + "QQ", head, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", head, 54)
    for what, offset, count, entsize in (
        ("program header table", phoff, phnum, phentsize),
        ("section header table", shoff, shnum, shentsize),
    ):
        end = offset + count * entsize
        if count and end > size:
            raise BinaryError(
                path, f"truncated ELF file: its {what} ends at byte {end}, the file has {size}"
            )


def _file_sections(path: str, elf: ELFFile, size: int) -> list[tuple[int, int, int]]:
    """(start, end, file offset) of every allocated, file-backed section."""
    mapped = []
    for index, section in enumerate(elf.iter_sections()):
        if section["sh_type"] == "SHT_NOBITS" or section["sh_size"] == 0:
            continue
        end = section["sh_offset"] + section["sh_size"]
        if end > size:
            # The section names may themselves be past the end.
            name = section.name or f"number {index}"
            raise BinaryError(
                path, f"truncated ELF file: section {name} ends at byte {end}, the file has {size}"
            )
        if section["sh_addr"]:
            start = section["sh_addr"]
            mapped.append((start, start + section["sh_size"], section["sh_offset"]))
    return mapped


@contextmanager
def open_elf(path: str) -> Iterator[ElfImage]:
    """Open ``path`` as an amd64 ELF file, closing it on exit.

    Raises ``BinaryError`` when the file cannot be read, is not ELF, is truncated,
    or is for another architecture.
    """
    try:
        stream = Path(path).open("rb")  # noqa: SIM115 - closed below, after the caller is done
    except OSError as e:
        raise BinaryError(path, f"cannot open: {e.strerror or e}") from e
    try:
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        _check_header(path, stream.read(_ELF64_HEADER_SIZE), size)
        stream.seek(0)
        try:
            elf = ELFFile(stream)
            sections = _file_sections(path, elf, size)
        except (ELFError, ConstructError, struct.error, ValueError) as e:
            raise BinaryError(path, f"truncated or corrupt ELF file: {e}") from e
        yield ElfImage(path=path, elffile=elf, stream=stream, size=size, _sections=sections)
    finally:
        stream.close()
