"""Stage 1, irgen: a Go ELF binary -> the IR (``stages.ir.Program``).

``generate_ir`` reads the binary's DWARF (through ``dwarf``, the one pyelftools
adapter), converts the wanted subprograms (``functions``) and the types they reach
(``types``), decodes variable locations (``locations``) and disassembles each
function's prologue and returns (``prologue``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

from .. import artifacts
from ..errors import BinaryError
from ..ir import IR_FORMAT, IR_FORMAT_VERSION, BinaryInfo, Function, Program
from .dwarf import DwarfReader, Unit, wrap_dwarf_errors
from .elf import ElfImage, open_elf
from .functions import build_function, is_concrete, subprogram_name
from .types import TypeTable, member_offset

__all__ = ["generate_ir", "package_candidates"]

ARCH = "amd64"
_PRODUCER_VERSION = re.compile(r"\bgo\d+(?:\.\d+)*(?:[a-z]+\d*)?")


def generate_ir(path: str, functions: Collection[str] | None = None) -> Program:
    """The IR of the Go binary at ``path``.

    With ``functions`` (exact Go names such as ``main.(*Cart).Checkout``), only those
    functions and the types they reference are included; names not found are
    absent, for the caller to report. Without it, every concrete subprogram is.
    Raises ``BinaryError`` when the file is not a usable amd64 Go ELF binary.
    """
    with open_elf(path) as image, wrap_dwarf_errors(path):
        reader = DwarfReader(image)
        go_unit = reader.check_go_producer()
        types = TypeTable(reader)
        wanted = None if functions is None else frozenset(functions)
        found = sorted(
            _collect(reader, image, types, wanted), key=lambda f: (f.low_pc, f.name, f.dwarf_offset)
        )
        goid_offset = _goid_offset(reader)
        build_id = image.build_id()
        binary = BinaryInfo(
            build_id=build_id,
            go_version=image.go_version() or _producer_version(go_unit.producer),
            arch=ARCH,
            dwarf_version=go_unit.version,
            goid_offset=goid_offset,
        )
        return Program(
            header=artifacts.header(IR_FORMAT, IR_FORMAT_VERSION, {"binary": build_id}),
            binary=binary,
            functions=found,
            types=types.build(),
        )


def package_candidates(name: str) -> set[str]:
    """The import paths a Go function name can belong to.

    The package is what precedes a dot after the last slash (``a/b.c.F`` may be
    ``a/b`` or ``a/b.c``); type arguments in brackets are ignored.
    """
    base = name.split("[", 1)[0]
    candidates = set()
    dot = base.find(".", base.rfind("/") + 1)
    while dot != -1:
        candidates.add(base[:dot])
        dot = base.find(".", dot + 1)
    return candidates


def _collect(
    reader: DwarfReader, image: ElfImage, types: TypeTable, wanted: frozenset[str] | None
) -> Iterator[Function]:
    packages: set[str] | None = None
    if wanted is not None:
        packages = set().union(*(package_candidates(n) for n in wanted)) if wanted else set()
    seen: set[str] = set()
    searched: set[int] = set()
    for unit in reader.units():
        if packages is not None and unit.name not in packages:
            continue
        searched.add(unit.offset)
        yield from _unit_functions(reader, image, types, unit, wanted, seen)
    if wanted is None:
        return
    # Generic code is compiled into the package that instantiates it, so a
    # missing instantiation may live in any unit.
    if any("[" in name for name in wanted - seen):
        for unit in reader.units():
            if unit.offset not in searched:
                yield from _unit_functions(reader, image, types, unit, wanted, seen)


def _unit_functions(
    reader: DwarfReader,
    image: ElfImage,
    types: TypeTable,
    unit: Unit,
    wanted: frozenset[str] | None,
    seen: set[str],
) -> Iterator[Function]:
    for entry in reader.top_entries(unit):
        if entry.tag != "DW_TAG_subprogram" or not is_concrete(entry):
            continue
        name = subprogram_name(reader, entry)
        if name is None or (wanted is not None and name not in wanted):
            continue
        function = build_function(reader, image, types, entry, name)
        if function is not None:
            seen.add(name)
            yield function


def _goid_offset(reader: DwarfReader) -> int:
    g = reader.find_named("runtime.g", "DW_TAG_structure_type")
    if g is not None:
        for member in reader.children(g):
            if member.tag == "DW_TAG_member" and member.name == "goid":
                offset = member_offset(member)
                if offset is not None:
                    return offset
    raise BinaryError(reader.path, "no runtime.g.goid in the DWARF: cannot identify goroutines")


def _producer_version(producer: str) -> str:
    match = _PRODUCER_VERSION.search(producer)
    return match[0] if match else "unknown"
