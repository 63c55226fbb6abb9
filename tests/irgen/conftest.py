"""Fixtures for the irgen tests: the test programs built by every chosen Go version.

The versions come from ``$GODI_GO_VERSIONS`` or ``scripts/go-versions.txt`` (see
``tests/gobuild.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from gobuild import REPO, build_go, go_versions  # noqa: E402

from stages.ir import Program  # noqa: E402
from stages.irgen import generate_ir  # noqa: E402

EXAMPLE = REPO / "tests" / "progs" / "example"
TYPES = REPO / "tests" / "progs" / "types"
PROBED = (
    "main.scalars",
    "main.greet",
    "main.move",
    "main.weigh",
    "main.describe",
    "main.sum",
    "main.walk",
    "main.(*Cart).Checkout",
)


@pytest.fixture(scope="session")
def probed() -> tuple[str, ...]:
    """The example's functions marked noinline, which the tests probe."""
    return PROBED


@pytest.fixture(scope="session", params=go_versions())
def go_version(request: pytest.FixtureRequest) -> str:
    """Each pinned Go version in turn."""
    return str(request.param)


@pytest.fixture(scope="session")
def example_binary(go_version: str) -> Path:
    """The example program built by ``go_version``."""
    return build_go(EXAMPLE, go_version)


@pytest.fixture(scope="session")
def example_ir(example_binary: Path) -> Program:
    """The IR of the example's probed functions."""
    return generate_ir(str(example_binary), PROBED)


@pytest.fixture(scope="session")
def whole_ir(example_binary: Path) -> Program:
    """The IR of every function of the example binary."""
    return generate_ir(str(example_binary))


# The types program's functions a test probes: one per kind, methods, closures and
# generic shape instantiations.
TYPES_PROBED = (
    "main.integers",
    "main.floats",
    "main.text",
    "main.pointers",
    "main.structs",
    "main.arrays",
    "main.slices",
    "main.maps",
    "main.channels",
    "main.funcs",
    "main.interfaces",
    "main.named",
    "main.inlining",
    "main.makeAdder",
    "main.makeAdder.func1",
    "main.Celsius.String",
    "main.Counter.Value",
    "main.(*Counter).Add",
    "main.Largest[go.shape.int]",
    "main.Largest[go.shape.string]",
    "main.MakePair[go.shape.string,go.shape.int]",
    "main.MakePair[go.shape.float64,go.shape.string]",
)


@pytest.fixture(scope="session")
def types_probed() -> tuple[str, ...]:
    """The types program's probed functions."""
    return TYPES_PROBED


@pytest.fixture(scope="session")
def types_binary(go_version: str) -> Path:
    """The types program built by ``go_version``."""
    return build_go(TYPES, go_version)


@pytest.fixture(scope="session")
def types_ir(types_binary: Path) -> Program:
    """The IR of the types program's probed functions."""
    return generate_ir(str(types_binary), TYPES_PROBED)


@pytest.fixture(scope="session")
def types_whole_ir(types_binary: Path) -> Program:
    """The IR of every function of the types program."""
    return generate_ir(str(types_binary))


class Image:
    """A test's view of a binary's loaded bytes and symbols (through pyelftools)."""

    def __init__(self, path: Path) -> None:
        from elftools.elf.elffile import ELFFile

        data = path.read_bytes()
        with path.open("rb") as f:
            elf = ELFFile(f)
            self.sections = [
                (s["sh_addr"], s["sh_size"], s["sh_offset"])
                for s in elf.iter_sections()
                if s["sh_addr"] and s["sh_type"] != "SHT_NOBITS"
            ]
            symtab = elf.get_section_by_name(".symtab")
            self.symbols = {s.name: s["st_value"] for s in symtab.iter_symbols()}  # type: ignore[union-attr]
        self.data = data

    def read(self, address: int, size: int) -> bytes:
        for start, length, offset in self.sections:
            if start <= address < start + length:
                return self.data[offset + address - start : offset + address - start + size]
        raise AssertionError(f"{address:#x} is in no loaded section")

    def word(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), "little")


@pytest.fixture(scope="session")
def types_image(types_binary: Path) -> Image:
    return Image(types_binary)
