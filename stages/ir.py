"""The IR: what irgen learns from a Go binary, and all later stages rely on.

Data only. Types and functions are keyed by their DWARF offset (``id``), so the IR
of one binary is deterministic and two stages agree on identities without a
registry. Typedefs are kept as their own nodes (Go names every struct twice: the
struct DIE and a typedef to it); ``Program.resolve`` looks through them.

The IR is a tree (its parts refer to each other by id), so its numerous Structs
are declared ``gc=False``: the cyclic garbage collector need not track millions
of objects that cannot form a cycle (msgspec's performance notes).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ._base import ArtifactHeader, Struct

IR_FORMAT = "godi.ir"
IR_FORMAT_VERSION = 2

# --------------------------------------------------------------------------- types

GoBaseKind = Literal[
    "bool",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uintptr",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


class TypeBase(Struct, tag_field="kind", frozen=True, kw_only=True, gc=False):
    """Common to every type: DWARF offset, Go name as DWARF spells it, byte size.

    ``runtime_type`` is the address of the runtime type descriptor (from
    ``DW_AT_go_runtime_type``, an offset from ``runtime.types``), 0 when the binary
    has none for this type.
    """

    id: int
    name: str
    size: int
    align: int = 1
    runtime_type: int = 0


class BaseType(TypeBase, tag="base", frozen=True, kw_only=True):
    """bool, the integers, uintptr, floats and complex numbers."""

    go_kind: GoBaseKind


class StringType(TypeBase, tag="string", frozen=True, kw_only=True):
    """A Go string header: data pointer at 0, byte length at 8."""


class PointerType(TypeBase, tag="pointer", frozen=True, kw_only=True):
    """``*T``; ``elem`` is None for a pointer whose target type DWARF omits."""

    elem: int | None


class UnsafePointerType(TypeBase, tag="unsafe_pointer", frozen=True, kw_only=True):
    """``unsafe.Pointer``: an address with no type to follow."""


class Field(Struct, frozen=True, kw_only=True, gc=False):
    """A struct member: name, byte offset, type, whether it is embedded."""

    name: str
    offset: int
    type: int
    embedded: bool = False


class StructType(TypeBase, tag="struct", frozen=True, kw_only=True):
    """A struct, fields in declaration order."""

    fields: list[Field]


class ArrayType(TypeBase, tag="array", frozen=True, kw_only=True):
    """``[count]elem``."""

    elem: int
    count: int


class SliceType(TypeBase, tag="slice", frozen=True, kw_only=True):
    """A slice header: data pointer at 0, length at 8, capacity at 16."""

    elem: int


class MapLayoutBase(Struct, tag_field="kind", frozen=True, kw_only=True, gc=False):
    """The runtime's data structures behind one map type, as a walker needs them.

    Every offset and size is read from the binary's DWARF (the linker's synthesised
    ``hash<K,V>``/``map<K,V>`` types), never assumed. Type ids name the IR types of
    the runtime structs. ``*_indirect`` is true when the runtime stores a pointer
    to the key or value (Go does that for keys or values over 128 bytes); then the
    slot size is a pointer's.
    """


class BucketMapLayout(MapLayoutBase, tag="buckets", frozen=True, kw_only=True):
    """Go <= 1.23 hash maps (``runtime/map.go``).

    The header (``hash<K,V>``) holds ``count``, ``B`` (log2 of the bucket count),
    ``buckets`` and, while growing, ``oldbuckets`` (2^(B-1) buckets whose entries
    are not all evacuated). A bucket (``bucket<K,V>``) holds ``bucket_slots`` top
    hash bytes, then as many keys, then as many values, then the ``overflow``
    bucket pointer. A slot is full when its top hash is >= ``min_top_hash``;
    ``empty_rest`` means no full slot follows in the bucket or its overflows.
    While growing, the old buckets are half as many as the new ones, or as many
    when ``flags & same_size_grow``; their evacuated slots are no longer full.
    """

    header: int
    header_size: int
    count_offset: int
    flags_offset: int
    log2_buckets_offset: int
    buckets_offset: int
    old_buckets_offset: int
    bucket: int
    bucket_size: int
    bucket_slots: int
    tophash_offset: int
    keys_offset: int
    key_size: int
    key_indirect: bool
    values_offset: int
    value_size: int
    value_indirect: bool
    overflow_offset: int
    min_top_hash: int
    empty_rest: int
    same_size_grow: int


class SwissMapLayout(MapLayoutBase, tag="swiss", frozen=True, kw_only=True):
    """Go >= 1.24 swiss tables (``internal/runtime/maps``).

    The header (``map<K,V>``) holds ``used`` (the count), ``dirPtr`` and ``dirLen``.
    With ``dirLen == 0``, ``dirPtr`` points at one group (a small map); otherwise at
    ``dirLen`` table pointers, where consecutive entries may repeat a table (a
    table's ``index`` is the first directory entry holding it). A table
    (``table<K,V>``) references ``lengthMask + 1`` consecutive groups through
    ``groups.data``. A group is a control word of ``group_slots`` bytes followed
    by as many slots, each a key then an element; a slot is full when the high
    bit (``ctrl_empty``) of its control byte is clear.
    """

    header: int
    header_size: int
    used_offset: int
    dir_ptr_offset: int
    dir_len_offset: int
    table: int
    table_size: int
    table_used_offset: int
    table_index_offset: int
    groups_data_offset: int
    groups_length_mask_offset: int
    group: int
    group_size: int
    ctrl_offset: int
    group_slots: int
    slots_offset: int
    slot_size: int
    key_offset: int
    key_size: int
    key_indirect: bool
    elem_offset: int
    elem_size: int
    elem_indirect: bool
    ctrl_empty: int
    ctrl_deleted: int


MapLayout = BucketMapLayout | SwissMapLayout


class ChanLayout(Struct, frozen=True, kw_only=True, gc=False):
    """The runtime's ``hchan`` behind a channel type (``runtime/chan.go``).

    ``qcount`` elements are buffered in a ring of ``dataqsiz`` slots at ``buf``;
    the oldest is at index ``recvx``. ``closed`` is a uint32, non-zero once closed.
    """

    header: int
    header_size: int
    qcount_offset: int
    dataqsiz_offset: int
    buf_offset: int
    elemsize_offset: int
    closed_offset: int
    sendx_offset: int
    recvx_offset: int


class MapType(TypeBase, tag="map", frozen=True, kw_only=True):
    """``map[key]value``: a pointer to the runtime map header ``header``.

    ``header`` is the DWARF type of the runtime's header struct for this map
    (``hash<K,V>`` before Go 1.24, ``map<K,V>`` with swiss tables), None when the
    binary does not describe it. ``layout`` is what iterating it takes; None and
    ``layout_unavailable`` says why when the DWARF lacks a part of it.
    """

    key: int
    value: int
    header: int | None = None
    layout: MapLayout | None = None
    layout_unavailable: str | None = None


class ChanType(TypeBase, tag="chan", frozen=True, kw_only=True):
    """``chan elem``: a pointer to the runtime ``hchan`` (``header``, ``layout``)."""

    elem: int
    header: int | None = None
    layout: ChanLayout | None = None
    layout_unavailable: str | None = None


class FuncType(TypeBase, tag="func", frozen=True, kw_only=True):
    """A func value: a pointer to a closure whose first word is the code address."""


class InterfaceType(TypeBase, tag="interface", frozen=True, kw_only=True):
    """An interface: (type or itab word, data word). ``empty`` for ``interface {}``."""

    empty: bool


class TypedefType(TypeBase, tag="typedef", frozen=True, kw_only=True):
    """A named type that DWARF describes as a typedef of ``target``.

    In a generic shape function, the type of a variable whose type depends on a
    type parameter is a typedef named ``.param<N>`` with ``dict_index``
    (``DW_AT_go_dict_index``): the entry of the function's dictionary (see
    ``DictionaryParam``) that holds the runtime type descriptor of the variable's
    concrete type. ``target`` is then the shape type (``go.shape.int``).
    """

    target: int
    dict_index: int | None = None


class UnsupportedType(TypeBase, tag="unsupported", frozen=True, kw_only=True):
    """A type irgen could not describe; ``reason`` says why."""

    reason: str


Type = (
    BaseType
    | StringType
    | PointerType
    | UnsafePointerType
    | StructType
    | ArrayType
    | SliceType
    | MapType
    | ChanType
    | FuncType
    | InterfaceType
    | TypedefType
    | UnsupportedType
)

# ----------------------------------------------------------------------- locations


class PieceBase(Struct, tag_field="kind", frozen=True, kw_only=True, gc=False):
    """One piece of a variable's value. ``size`` None means the whole variable."""

    size: int | None = None


class RegisterPiece(PieceBase, tag="register", frozen=True, kw_only=True):
    """The piece is held in DWARF register ``register`` (0 = rax, 17.. = xmm0..)."""

    register: int


class CfaPiece(PieceBase, tag="cfa", frozen=True, kw_only=True):
    """The piece is in memory at CFA + ``offset`` (``DW_OP_call_frame_cfa``/fbreg)."""

    offset: int


class AddressPiece(PieceBase, tag="address", frozen=True, kw_only=True):
    """The piece is in memory at a fixed address (a global)."""

    address: int


class MissingPiece(PieceBase, tag="missing", frozen=True, kw_only=True):
    """The piece exists but DWARF says it is optimised out here."""


Piece = RegisterPiece | CfaPiece | AddressPiece | MissingPiece


class LocationRange(Struct, frozen=True, kw_only=True, gc=False):
    """Where a variable lives while ``low_pc <= pc < high_pc``."""

    low_pc: int
    high_pc: int
    pieces: list[Piece]


VariableRole = Literal["param", "result", "local"]


class Variable(Struct, frozen=True, kw_only=True, gc=False):
    """A parameter, result or local of a function.

    ``locations`` is empty and ``unavailable`` says why when DWARF gives no usable
    location (optimised out, unsupported expression). Locals in lexical blocks carry
    the block's PC ``scope`` ranges.
    """

    name: str
    type: int
    role: VariableRole
    decl_line: int = 0
    locations: list[LocationRange] = []
    unavailable: str | None = None
    scope: list[tuple[int, int]] = []


class ReturnSite(Struct, frozen=True, kw_only=True, gc=False):
    """A return instruction: its PC and the CFA offset from RSP there."""

    pc: int
    cfa_offset: int


class LineRow(Struct, frozen=True, array_like=True, kw_only=False, gc=False):
    """One line-table row, serialised as ``[pc, file, line, is_stmt]``.

    From ``pc`` until the next row, the code is for ``line`` of file number
    ``file`` in the function's ``line_files``; ``is_stmt`` marks the start of a
    statement, the place for a ``file:line`` probe.
    """

    pc: int
    file: int
    line: int
    is_stmt: bool


class InlinedInstance(Struct, frozen=True, kw_only=True, gc=False):
    """One copy of a function the compiler inlined into ``caller``.

    ``ranges`` are the copy's PCs; ``entry_pc`` is the lowest, where a probe on
    the inlined function goes, and CFA = RSP + ``entry_cfa_offset`` there (from
    the caller's call-frame information). ``call_file``:``call_line`` is the call
    site. ``variables`` are the inlined function's parameters and locals in this
    copy, with locations in the caller's frame.
    """

    caller: str
    entry_pc: int
    entry_cfa_offset: int
    ranges: list[tuple[int, int]]
    call_file: str
    call_line: int
    variables: list[Variable] = []
    dwarf_offset: int = 0


class InlinedFunction(Struct, frozen=True, kw_only=True, gc=False):
    """A function with inlined copies: its abstract origin and every copy.

    ``origin`` is the DWARF offset of the abstract subprogram
    (``DW_AT_inline``); ``file``/``line`` are its declaration.
    """

    name: str
    origin: int
    file: str
    line: int
    instances: list[InlinedInstance]


class DictionaryParam(Struct, frozen=True, kw_only=True, gc=False):
    """The hidden dictionary argument of a generic shape function.

    One shape function (``pkg.F[go.shape.int]``) serves every type argument of
    the same GC shape; its caller passes a pointer to the instantiation's
    dictionary, an array of words whose entry ``TypedefType.dict_index`` is the
    runtime type descriptor of a variable's concrete type (then named through
    ``Program.runtime_types``). It is the first argument after the receiver
    (``shapeSig`` in ``cmd/compile/internal/noder/reader.go``); ``entry_pieces``
    say where the register ABI puts it, valid at ``Function.entry_pc``.
    ``variable`` names the DWARF parameter describing it when the compiler writes
    one (``.dict``, Go >= 1.27). DWARF locates that one in the argument's spill
    slot, which the function may never write; irgen replaces its location by
    ``entry_pieces`` from the first instruction to ``entry_pc``, where it holds.
    """

    entry_pieces: list[Piece]
    variable: str | None = None


class Function(Struct, frozen=True, kw_only=True, gc=False):
    """A subprogram with the PCs a probe can use.

    ``entry_pc`` is the first PC after the stack-growth check and the frame set-up;
    at it, CFA = RSP + ``entry_cfa_offset``. ``frame_pointer`` tells whether the
    function pushed RBP by ``entry_pc`` (then [RBP] is the caller's RBP).
    ``return_sites`` are found from the call-frame rows and disassembly.
    ``lines`` is the function's line table (``line_files`` names its files), for
    ``file:line`` probes; it includes the rows of code inlined into it.
    ``dictionary`` is set for a generic shape instantiation. Which variables are
    live at a PC follows from their scopes and location ranges: ``live_at``.
    """

    name: str
    low_pc: int
    high_pc: int
    file: str
    line: int
    entry_pc: int
    entry_cfa_offset: int
    frame_pointer: bool
    variables: list[Variable]
    return_sites: list[ReturnSite] = []
    dwarf_offset: int = 0
    dictionary: DictionaryParam | None = None
    line_files: list[str] = []
    lines: list[LineRow] = []

    def live_at(self, pc: int) -> list[Variable]:
        """The variables a probe at ``pc`` can show: every parameter (a debugger
        lists them even where their location is lost, as unavailable), and the
        locals whose lexical scope holds ``pc`` and that have a location there."""
        return live_variables_at(self.variables, pc)


def live_variables_at(variables: list[Variable], pc: int) -> list[Variable]:
    """Of ``variables``, every parameter and the locals live at ``pc`` (see
    ``Function.live_at``)."""
    return [
        v
        for v in variables
        if v.role == "param"
        or (
            v.role == "local"
            and (not v.scope or any(lo <= pc < hi for lo, hi in v.scope))
            and any(r.low_pc <= pc < r.high_pc for r in v.locations)
        )
    ]


class BinaryInfo(Struct, frozen=True, kw_only=True):
    """Facts about the binary as a whole.

    ``build_id`` is only a name, which two different programs may share. ``sha256``
    is the hash of the file's bytes (``stages.buildid.content_sha256``): what
    identifies the code the IR describes (empty in an IR made before it was
    recorded: capture refuses such an IR's probes).
    """

    build_id: str
    go_version: str
    arch: str
    dwarf_version: int
    goid_offset: int
    stack_hi_offset: int = 8
    """Offset of ``stack.hi`` in ``runtime.g``: the top of the goroutine's stack."""
    sha256: str = ""
    types_start: int = 0
    types_end: int = 0
    """Where the binary's runtime type descriptors are: ``[types_start, types_end)``
    (``runtime.types``, ``runtime.etypes``); 0, 0 when unknown. A type word outside
    points at a descriptor reflect made at run time, on the heap."""


class ProbeIssue(Struct, frozen=True, kw_only=True):
    """A per-probe problem found by a stage: a probe that cannot be installed as asked.

    ``kind`` is a stable machine-readable word (``function_not_found``,
    ``line_not_found``, ``invalid_probe``, ``unsupported_probe_type``...).
    """

    probe_id: str
    kind: str
    message: str


# ------------------------------------------------------------------------- symbols


class SymbolTable(Struct, frozen=True, kw_only=True):
    """What symbolicating a PC takes: the binary's ``.gopclntab``, as the linker wrote it.

    Present even in stripped binaries, so every stack PC can be named: for a PC,
    the function containing it, its file and line and its inlined frames
    (``stages.pclntab`` reads it, lazily). ``text`` is the address of
    ``runtime.text``, which the table's PCs are relative to. Inline trees live in
    ``go:func.*``: at ``funcdata_offset`` in ``pclntab`` when the linker put it
    there (Go 1.27), else in ``funcdata`` (from ``go:func.*`` to the end of its
    section); neither when it could not be found (inlined frames are then not
    expanded). Bytes are base64 in JSON.
    """

    text: int
    pclntab: bytes
    funcdata: bytes = b""
    funcdata_offset: int = -1


class RuntimeType(Struct, frozen=True, kw_only=True, gc=False):
    """A runtime type descriptor at ``address`` describes the IR type ``type``.

    What an interface's type word (or its itab's type field) and a generic
    dictionary's entries point at.
    """

    address: int
    type: int


class Program(Struct, frozen=True, kw_only=True):
    """The serialised IR of one binary (``ir.json``).

    ``runtime_types`` maps descriptor addresses to IR types, sorted by address:
    for every type with a descriptor in the whole-binary IR, for the types the
    kept functions reach in a scoped one. ``inlined`` lists the functions with
    inlined copies: all of them in the whole-binary IR, the wanted ones in a
    scoped one (a wanted function may exist only inlined).
    """

    header: ArtifactHeader
    binary: BinaryInfo
    functions: list[Function]
    types: list[Type]
    issues: list[ProbeIssue] = []
    runtime_types: list[RuntimeType] = []
    inlined: list[InlinedFunction] = []
    symbols: SymbolTable | None = None
    """Symbolication data for stack PCs (None: stacks are left out)."""

    def function(self, name: str) -> Function | None:
        """The function called ``name``, or None."""
        for fn in self.functions:
            if fn.name == name:
                return fn
        return None


class TypeIndex:
    """Fast lookup of a Program's types by id, looking through typedefs."""

    def __init__(self, types: list[Type]) -> None:
        self._by_id: dict[int, Type] = {t.id: t for t in types}

    def __getitem__(self, type_id: int) -> Type:
        return self._by_id[type_id]

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._by_id

    def resolve(self, type_id: int) -> Type:
        """The type ``type_id`` names, with typedefs followed to their target."""
        t = self._by_id[type_id]
        seen = 0
        while isinstance(t, TypedefType) and seen < 64:
            t = self._by_id[t.target]
            seen += 1
        return t


_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(Program)


def encode_program(program: Program) -> bytes:
    """Serialise ``program`` to deterministic JSON."""
    return _encoder.encode(program)


def decode_program(data: bytes) -> Program:
    """Parse ``ir.json`` bytes; raises ``msgspec.ValidationError`` on a bad shape."""
    return _decoder.decode(data)
