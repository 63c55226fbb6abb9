"""irgen refuses what is not a usable amd64 Go ELF binary, with one clear line."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from gobuild import REPO, build_go, go_versions

from stages.errors import BinaryError
from stages.irgen import generate_ir

EXAMPLE = REPO / "tests" / "progs" / "example"
NEWEST_GO = go_versions()[-1]


def refusal(path: Path | str) -> str:
    with pytest.raises(BinaryError) as info:
        generate_ir(str(path), ["main.greet"])
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot open" in refusal(tmp_path / "nope")


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some text, not a program\n")
    assert refusal(path).endswith("not an ELF file")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert refusal(path).endswith("not an ELF file")


@pytest.mark.parametrize("keep", [10, 40, 0.5])
def test_truncated_binary(tmp_path: Path, keep: float) -> None:
    data = build_go(EXAMPLE, NEWEST_GO).read_bytes()
    size = int(len(data) * keep) if keep < 1 else int(keep)
    path = tmp_path / "truncated"
    path.write_bytes(data[:size])
    assert "truncated" in refusal(path)


def test_c_binary_without_dwarf() -> None:
    true = shutil.which("true") or "/bin/true"
    if not Path(true).is_file():
        pytest.skip("no /bin/true")
    assert "not a Go binary" in refusal(Path(true).resolve())


def test_c_binary_with_dwarf(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a C binary with DWARF")
    source = tmp_path / "hello.c"
    source.write_text("int main(void) { return 0; }\n")
    binary = tmp_path / "hello"
    subprocess.run([cc, "-g", "-o", str(binary), str(source)], check=True)
    message = refusal(binary)
    assert "not a Go binary (DWARF producer" in message
    assert "GNU" in message or "clang" in message


@pytest.mark.parametrize("ldflags", ["-w", "-s -w"])
def test_go_binary_without_dwarf(tmp_path: Path, ldflags: str) -> None:
    binary = build_go(EXAMPLE, NEWEST_GO, tmp_path / "example", ldflags=ldflags)
    assert refusal(binary).endswith("no DWARF debug info: built with -ldflags=-w or stripped?")


def test_other_architecture(tmp_path: Path) -> None:
    data = bytearray(build_go(EXAMPLE, NEWEST_GO).read_bytes())
    struct.pack_into("<H", data, 18, 183)  # e_machine = EM_AARCH64
    path = tmp_path / "arm64"
    path.write_bytes(bytes(data))
    assert "unsupported architecture arm64: godi supports amd64 only" in refusal(path)


def test_corrupt_dwarf(tmp_path: Path) -> None:
    source = build_go(EXAMPLE, NEWEST_GO)
    data = bytearray(source.read_bytes())
    with source.open("rb") as f:
        section = ELFFile(f).get_section_by_name(".debug_info")
        assert section is not None
        start, size = section["sh_offset"], section["sh_size"]
    # Keep the compression header, garble the payload.
    data[start + 24 : start + size] = b"\xa5" * (size - 24)
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(data))
    assert "corrupt DWARF" in refusal(path)


def test_32_bit_elf(tmp_path: Path) -> None:
    data = bytearray(build_go(EXAMPLE, NEWEST_GO).read_bytes())
    data[4] = 1  # EI_CLASS = ELFCLASS32
    path = tmp_path / "x32"
    path.write_bytes(bytes(data))
    assert "unsupported architecture 32-bit amd64" in refusal(path)
