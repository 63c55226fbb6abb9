"""Stage 1, irgen: a Go ELF binary -> the IR (``stages.ir.Program``).

``generate_ir`` reads the binary's DWARF (through ``dwarf``, the one adapter,
which decodes entries with ``dies``), converts the wanted subprograms
(``functions``) and the types they reach (``types``; map and channel internals in
``runtime_layouts``, descriptor addresses in ``runtime_types``), decodes variable
locations (``locations``), line tables (``lines``) and call frames (``frames``),
finds inlined copies (``inlining``) and generic dictionaries (``generics``, with
``abi``), and disassembles each function's prologue and returns (``prologue``).
With function names, the work is proportional to those functions: they are found
by searching .debug_info for their names, not by walking the units.
``cache.generate_ir_cached`` serves reruns on an unchanged binary.
"""

from __future__ import annotations

import bisect
import gc
import logging
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from .. import artifacts
from ..errors import BinaryError
from ..ir import (
    IR_FORMAT,
    IR_FORMAT_VERSION,
    BinaryInfo,
    Function,
    InlinedFunction,
    InlinedInstance,
    InterfaceType,
    Program,
    RuntimeType,
    SymbolTable,
    Type,
)
from .descriptors import Descriptors
from .dwarf import DwarfReader, Entry, Unit, member_offset, wrap_dwarf_errors
from .elf import ElfImage, open_elf
from .functions import build_function, is_concrete, subprogram_name
from .inlining import find_instances, inlined_function, instances_in
from .runtime_types import (
    DescriptorRange,
    described_addresses,
    described_types,
    descriptor_range,
    itab_pairs,
    undescribed_elements,
    unnamed_pointers,
)
from .scope import Scope, resolve_scope
from .symbols import build_symbols
from .types import TypeTable

log = logging.getLogger(__name__)

__all__ = ["generate_ir", "package_candidates"]

ARCH = "amd64"
_PRODUCER_VERSION = re.compile(r"\bgo\d+(?:\.\d+)*(?:[a-z]+\d*)?")


def generate_ir(
    path: str, functions: Collection[str] | None = None, *, symbols: bool = True
) -> Program:
    """The IR of the Go binary at ``path``.

    With ``functions`` (exact Go names such as ``main.(*Cart).Checkout``), only those
    functions (their out-of-line code and their inlined copies) and the types they
    reference are included; names not found are absent, for the caller to report.
    ``functions`` may also hold ``pkg.F[...]`` (every shape instantiation) and line
    requests (``scope.line_request``: the functions with code for a line, with
    the copies inlined into them), resolved by ``scope.resolve_scope``.
    Without it, every concrete subprogram and inlined copy is. ``symbols=False``
    leaves out the stack symbolication table (``Program.symbols``), which covers
    the whole binary whatever the scope.
    Raises ``BinaryError`` when the file is not a usable amd64 Go ELF binary.
    """
    with _no_cyclic_gc(), open_elf(path) as image, wrap_dwarf_errors(path):
        reader = DwarfReader(image)
        go_unit = reader.check_go_producer()
        descriptors = descriptor_range(image)
        types = TypeTable(reader, descriptors)
        scope = None if functions is None else resolve_scope(reader, image, functions)
        collected = _collect(reader, image, types, scope)
        found = sorted(collected.functions, key=lambda f: (f.low_pc, f.name, f.dwarf_offset))
        inlined = collected.inlined_functions(reader, image)
        if descriptors is not None:
            _require_dynamic_types(reader, image, types, descriptors, everything=scope is None)
        all_types = types.build()
        goid_offset, stack_hi_offset = _goroutine_offsets(reader)
        build_id = image.build_id()
        sha256 = image.sha256()
        binary = BinaryInfo(
            build_id=build_id,
            sha256=sha256,
            go_version=image.go_version() or _producer_version(go_unit.producer),
            arch=ARCH,
            dwarf_version=go_unit.version,
            goid_offset=goid_offset,
            stack_hi_offset=stack_hi_offset,
            types_start=descriptors.base if descriptors is not None and descriptors.end else 0,
            types_end=(descriptors.end or 0) if descriptors is not None else 0,
        )
        return Program(
            header=artifacts.header(
                IR_FORMAT, IR_FORMAT_VERSION, {"binary": build_id, "binary_sha256": sha256}
            ),
            binary=binary,
            functions=found,
            types=all_types,
            runtime_types=_runtime_types(all_types),
            inlined=inlined,
            symbols=_symbols(image) if symbols else None,
        )


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while the IR is built.

    irgen allocates millions of small objects and frees almost none, so every
    collection would walk them all for nothing (the IR is a tree: reference
    counting frees it). Pausing it is a third of the time of a whole-binary run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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


class _Collected:
    """What the walk over the wanted subprograms found."""

    def __init__(self) -> None:
        self.functions: list[Function] = []
        # abstract origin offset -> its inlined copies, and its source file
        self.inlined: dict[int, list[InlinedInstance]] = {}
        self.files: dict[int, str] = {}

    def add_instances(
        self, found: dict[int, list[InlinedInstance]], caller: Function | None
    ) -> None:
        """Record copies inlined into ``caller``, whose line table names their file
        (each copy once: a scoped IR may find it from its function too)."""
        for origin, instances in found.items():
            known = self.inlined.setdefault(origin, [])
            seen = {i.dwarf_offset for i in known}
            known.extend(i for i in instances if i.dwarf_offset not in seen)
            if origin not in self.files and instances and caller is not None:
                first = min(instances, key=lambda i: i.entry_pc)
                self.files[origin] = _file_at(caller, first.entry_pc)

    def inlined_functions(self, reader: DwarfReader, image: ElfImage) -> list[InlinedFunction]:
        out = [
            inlined_function(
                reader, reader.entry_at(origin), instances, image, self.files.get(origin)
            )
            for origin, instances in self.inlined.items()
            if instances
        ]
        return sorted(out, key=lambda f: (f.name, f.origin))


def _file_at(function: Function, pc: int) -> str:
    """The file ``function``'s line table gives for ``pc`` ("" if none)."""
    i = bisect.bisect_right(function.lines, pc, key=lambda row: row.pc)
    return function.line_files[function.lines[i - 1].file] if i else ""


def _collect(
    reader: DwarfReader, image: ElfImage, types: TypeTable, scope: Scope | None
) -> _Collected:
    collected = _Collected()
    if scope is None:
        for unit in reader.units():
            _unit_functions(reader, image, types, unit, collected)
        return collected
    # Go writes subprogram names inline, so each wanted function is found by
    # searching .debug_info for its name: the cost does not grow with the binary.
    # An out-of-line copy of an inlinable function has no name of its own; it
    # refers to its named abstract origin, and is found by that reference, as
    # are the function's inlined copies.
    done: set[int] = set()
    for name in sorted(scope.names):
        for entry in reader.find_all_named(name, "DW_TAG_subprogram"):
            candidates = [entry]
            if not is_concrete(entry) and "DW_AT_inline" in entry.attrs:
                candidates = list(reader.find_referring(entry.offset, "DW_TAG_subprogram"))
                every = find_instances(reader, image, types, entry)
                collected.add_instances({entry.offset: every}, None)
            for candidate in candidates:
                if candidate.offset in done or not is_concrete(candidate):
                    continue
                done.add(candidate.offset)
                copies: list[Entry] | None = [] if name in scope.with_copies else None
                function = build_function(reader, image, types, candidate, name, copies)
                if function is not None:
                    collected.functions.append(function)
                    if copies:
                        found = instances_in(reader, types, copies, name)
                        collected.add_instances(found, function)
    return collected


def _unit_functions(
    reader: DwarfReader, image: ElfImage, types: TypeTable, unit: Unit, collected: _Collected
) -> None:
    reader.line_rows(unit)  # every function's rows are wanted: decode the table once
    for entry in reader.top_entries(unit):
        if entry.tag != "DW_TAG_subprogram" or not is_concrete(entry):
            continue
        name = subprogram_name(reader, entry)
        if name is None:
            continue
        inlined: list[Entry] = []
        function = build_function(reader, image, types, entry, name, inlined)
        if function is not None:
            collected.functions.append(function)
            collected.add_instances(instances_in(reader, types, inlined, name), function)
    reader.forget_line_rows(unit)


def _goroutine_offsets(reader: DwarfReader) -> tuple[int, int]:
    """Offsets in ``runtime.g`` of ``goid`` and of ``stack.hi`` (the top of the
    goroutine's stack, which identifies a frame across stack moves)."""
    g = reader.find_named("runtime.g", "DW_TAG_structure_type")
    goid = stack_hi = None
    if g is not None:
        for member in reader.children(g):
            if member.tag != "DW_TAG_member":
                continue
            offset = member_offset(member)
            if member.name == "goid":
                goid = offset
            elif member.name == "stack" and offset is not None:
                target = member.ref("DW_AT_type")
                stack = reader.entry_at(target) if target is not None else None
                while stack is not None and stack.tag == "DW_TAG_typedef":
                    inner = stack.ref("DW_AT_type")
                    stack = reader.entry_at(inner) if inner is not None else None
                for field in reader.children(stack) if stack is not None else ():
                    hi = member_offset(field)
                    if field.name == "hi" and hi is not None:
                        stack_hi = offset + hi
    if goid is None:
        raise BinaryError(reader.path, "no runtime.g.goid in the DWARF: cannot identify goroutines")
    if stack_hi is None:
        raise BinaryError(reader.path, "no runtime.g.stack.hi in the DWARF")
    return goid, stack_hi


def _symbols(image: ElfImage) -> SymbolTable | None:
    """Symbolication data for stack PCs; None (stacks left out) if unreadable."""
    try:
        return build_symbols(image)
    except BinaryError as e:
        log.warning("no stack symbolication: %s", e)
        return None


def _require_dynamic_types(
    reader: DwarfReader,
    image: ElfImage,
    types: TypeTable,
    descriptors: DescriptorRange,
    *,
    everything: bool,
) -> None:
    """Add to the IR the types its interfaces can hold, and theirs in turn, so that
    an interface value's dynamic type is known: for a non-empty interface, the types
    with an itab for it; for an empty one (``any``), and with ``everything`` (a
    whole-binary IR), every type that has a runtime descriptor (for cmd/compile:
    4,600 of them, 0.13 s). A ``*T`` the DWARF does not describe is made up from T's
    descriptor (``unnamed_pointers``); any other type without a DWARF entry from
    its own descriptor (``descriptors``: for an ``any``, every descriptor the
    linker lists; 1,000 more for the encoding/json tests, 0.04 s)."""
    described: dict[int, int] | None = None
    described_offsets: list[int] = []
    table: Descriptors | None = None
    implementers: dict[int, list[int]] | None = None
    pointers: dict[int, int] = {}
    done: set[int] = set()
    while True:
        pending = [
            t for t in types.build() if isinstance(t, InterfaceType) and t.runtime_type not in done
        ]
        if not pending and not everything:
            return
        if described is None:
            described_offsets = list(described_types(reader))
            described = described_addresses(reader, descriptors, described_offsets)
        if everything or any(t.empty for t in pending):
            for offset in described_offsets:
                types.require(offset)
            pointers = unnamed_pointers(image, reader, descriptors, described)
            for address, elem in pointers.items():
                types.pointer_to(elem, address)
            for address, offset in undescribed_elements(
                image, reader, descriptors, described
            ).items():
                types.describe(offset, address)
            table = Descriptors(image, reader, descriptors)
            for address in table.all_addresses():
                if address not in described and address not in pointers:
                    types.from_descriptor(address, table, described)
            _undescribed_interfaces(reader, image, types, described, table)
            return
        if implementers is None:
            implementers = {}
            pointers = unnamed_pointers(image, reader, descriptors, described)
            for inter, concrete in itab_pairs(image, reader):
                implementers.setdefault(inter, []).append(concrete)
        for t in pending:
            done.add(t.runtime_type)
            for address in implementers.get(t.runtime_type, ()):
                if address in described:
                    types.require(described[address])
                elif address in pointers:
                    types.pointer_to(pointers[address], address)
                else:
                    if table is None:
                        table = Descriptors(image, reader, descriptors)
                    types.from_descriptor(address, table, described)


def _undescribed_interfaces(
    reader: DwarfReader,
    image: ElfImage,
    types: TypeTable,
    described: dict[int, int],
    table: Descriptors,
) -> None:
    """The types a non-empty interface made from a descriptor can hold: those
    with an itab for it."""
    made = [
        t.runtime_type
        for t in types.build()
        if isinstance(t, InterfaceType) and not t.empty and t.runtime_type not in described
    ]
    if not made:
        return
    wanted = set(made)
    for inter, concrete in itab_pairs(image, reader):
        if inter in wanted:
            types.from_descriptor(concrete, table, described)


def _runtime_types(types: list[Type]) -> list[RuntimeType]:
    by_address: dict[int, int] = {}
    for t in types:
        if t.runtime_type and t.runtime_type not in by_address:
            by_address[t.runtime_type] = t.id
    return [RuntimeType(address=a, type=by_address[a]) for a in sorted(by_address)]


def _producer_version(producer: str) -> str:
    match = _PRODUCER_VERSION.search(producer)
    return match[0] if match else "unknown"
