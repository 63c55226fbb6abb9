"""The layout: what codegen tells capture and decode about the generated program.

Data only. ``layout.json`` sits next to ``probes.bpf.c`` and describes

- each installed probe: where it is attached, which variables it captures and how
  each variable's bytes are assembled into the event's *root* area;
- the capture type table the BPF walker follows (``BpfType``), indexed by position;
- the probes that could not be installed, with the reason (``ProbeIssue``).

The binary record format of one event is defined once in ``bpf/godi_event.h``; the
constants below mirror it and a test checks they agree.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ._base import ArtifactHeader, Struct
from .ir import ProbeIssue
from .spec import Capture, Probe

LAYOUT_FORMAT = "godi.layout"
LAYOUT_FORMAT_VERSION = 1

# --- mirrors bpf/godi_event.h --------------------------------------------------
EVENT_HEADER_SIZE = 64
"""struct godi_event: probe u32, data_len u32, ktime_ns u64, goid u64, tgid u32,
tid u32, root_len u32, stack_len u16, flags u16, fail_mask u64, cfa u64, stack_hi u64."""
EVENT_HEADER_FORMAT = "<IIQQIIIHHQQQ"
BLOCK_HEADER_SIZE = 24
"""struct godi_block: addr u64, type u32, count u32, len u32, flags u32."""
BLOCK_HEADER_FORMAT = "<QIIII"

EVENT_FLAG_TRUNCATED = 1
"""The event ran out of buffer or queue budget: some referenced data is missing."""
EVENT_FLAG_STACK_TRUNCATED = 2
"""The frame-pointer walk stopped at its bound before reaching the outermost frame."""
EVENT_FLAG_FLOATS_ASKED = 4
"""BPF signalled the thread for its vector registers (``stages.floats``): a floats
record with this event's thread and time should follow."""
EVENT_FLAG_FLOATS_REFUSED = 8
"""The hit wanted vector registers but the thread was not signalled: the program
handles SIGURG itself (``signal.Notify``, seen in ``runtime.sig.wanted``)."""

FLOATS_PROBE_BIT = 0x80000000
"""Set in ``godi_event.probe`` of a floats record (struct godi_floats): the vector
registers of the hit of probe ``probe & ~FLOATS_PROBE_BIT`` whose ``ktime_ns`` and
``tid`` the record repeats."""
FLOATS_RECORD_FORMAT = "<IIQQ16Q"
"""struct godi_floats after its godi_event header: status u32, mask u32, rip u64,
expected u64, then the low 8 bytes of XMM0..XMM15."""
FLOATS_OK = 0
"""The frame is the hit's: same thread and token, interrupted at the expected PC."""
FLOATS_PC_MISMATCH = 1
"""The signal frame's interrupted PC is not the instruction after the probed one."""
FLOATS_READ_FAILED = 2
"""The signal frame (ucontext or its FPU area) could not be read."""
FLOATS_SP_MISMATCH = 3
"""The signal frame's stack pointer is not the hit's after the probed instruction."""

BLOCK_FLAG_READ_FAILED = 1
"""Reading the block's memory failed; ``len`` is 0."""
BLOCK_FLAG_SHORT = 2
"""Fewer elements than wanted were copied (budget); ``count`` is what was copied."""
BLOCK_FLAG_PARTIAL = 4
"""The memory stopped being readable inside element ``count`` (a page the program
never touched is not mapped yet): ``len`` is ``count * size`` plus the bytes of that
element before the page boundary (fewer than ``size``)."""

SLOT_POINTER = 1
"""*T: follow to ``target``, one level deeper."""
SLOT_STRING = 2
"""string: its bytes (``target`` = BYTES_TYPE), at most maxLength."""
SLOT_SLICE = 3
"""[]T: its elements, at most maxCollectionSize."""
SLOT_REF = 4
"""A runtime reference that is part of the value (map header, bucket overflow,
hchan, func code pointer): followed without spending depth."""
SLOT_ARRAY_LOG2 = 5
"""Map buckets: ``1 << (byte at aux) >> shift`` elements of ``target``."""
SLOT_ARRAY_MASK = 6
"""Swiss-table groups: ``(u64 at aux) + 1`` elements of ``target``."""
SLOT_SWISS_SMALL = 7
"""Swiss map directory pointer when ``dirLen`` (u64 at aux) is 0: one group."""
SLOT_SWISS_DIR = 8
"""Swiss map directory pointer when ``dirLen`` (u64 at aux) is not 0: table pointers."""
SLOT_EFACE = 9
"""interface {}: (type, data); the dynamic type decides what data points at."""
SLOT_IFACE = 10
"""Non-empty interface: (itab, data); the itab (``target``) is copied too."""
SLOT_KEY_GUARD = 11
"""A map entry's string key at ``offset``, checked against the redaction set before
any of its value (``shift`` bytes at ``aux``) is followed: the value of a redacted
key is zeroed in the copy and ``KEY_REDACTED`` set in the key's length word."""
SLOT_ZERO = 12
"""Redacted bytes inline in the element: ``shift`` bytes (at most 256) at ``offset``
are zeroed before anything of the element is followed or sent (``codegen.redacted``)."""
SLOT_INLINE = 13
"""[N]T inside the element: its first ``aux`` elements of capture type ``target``
(at most maxCollectionSize of them), already in the event at ``offset``, scanned in
place at the same depth. A large array of references takes one slot, not one per
reference (and elements past maxCollectionSize, never shown, are not followed)."""
SLOT_MORE = 14
"""The element's further references: capture type ``target`` lists them (offsets
from the element's start), scanned over the same element. Chains the slots of an
element with more references than one entry holds (GODI_MAX_SLOTS)."""
SLOT_RTYPE = 15
"""A word of a runtime type descriptor reflect made on the heap (a block of role
``rtype``, ``RTYPE_COPY`` bytes), or of one of its struct fields (role ``rfield``),
pointing at what decode needs to build the type: copied as capture type ``target``
if the descriptor's kind has it there (``shift``, one of ``RTYPE_*``); a
descriptor only when outside the binary's (``types_start``, ``types_end``)."""
RTYPE_ELEM = 0
"""At 48: a pointer's, slice's, array's or chan's element, a map's key."""
RTYPE_VALUE = 1
"""At 56: a map's value."""
RTYPE_FIELDS = 2
"""At 56: a struct's fields (pointer, length), at most ``RFIELDS_MAX``."""
RTYPE_ANY = 3
"""A struct field's type (``abi.StructField.Typ``), whatever the kind."""
RTYPE_COPY = 80
"""Bytes copied of a heap descriptor: abi.Type and what its kind adds for a pointer,
slice, array, chan, map (key and value) or struct (package, fields); a func's
parameters past the first three are not in them (GODI_RTYPE_COPY)."""
RFIELD_SIZE = 24
"""abi.StructField: Name (a pointer to the name's bytes), Typ, Offset."""
RNAME_COPY = 64
"""Bytes copied of a field's name (abi.Name: flags, varint length, bytes, tag)."""
RFIELDS_MAX = 64
"""Fields copied of a heap struct descriptor (GODI_RFIELDS_MAX)."""
KEY_REDACTED = 1 << 63
"""The mark a key guard sets in a redacted key's length (Go lengths never have it)."""
KEY_READ = 64
"""Bytes of a key the guard reads (GODI_KEY_READ): a longer key whose first bytes
could still normalise to a redacted name counts as redacted."""

BYTES_TYPE = 0
"""Index of the capture type for raw bytes (string contents); always present."""

# ----------------------------------------------------------------------------------


class BpfSlot(Struct, frozen=True, kw_only=True):
    """A reference inside one element of a capture type that the walker follows.

    ``kind`` is one of the ``SLOT_*`` constants; ``target`` the capture type index of
    what it points at (pointee, string bytes, slice element).
    """

    offset: int
    kind: int
    target: int
    aux: int = 0
    """Offset, in the same element, of the count a SLOT_ARRAY_*/SLOT_SWISS_* slot reads."""
    shift: int = 0


class BpfType(Struct, frozen=True, kw_only=True):
    """One entry of the capture type table the BPF walker is driven by.

    ``ir_type`` is the IR type id this entry stands for (None for raw bytes and for
    a probe's synthetic root). ``slots`` lists the references in one element, in
    offset order; ``slots_truncated`` says the element had more than the walker's
    per-type limit, so some references are not followed.
    """

    index: int
    ir_type: int | None
    size: int
    role: str = "value"
    """What the entry's bytes are: a Go ``value`` of ``ir_type``, ``root`` of a probe,
    or a runtime structure of the map/chan type ``ir_type`` (``map_header``,
    ``map_bucket``, ``map_table``, ``map_directory``, ``map_group``, ``chan``), a func's
    ``code`` pointer, an ``itab``."""
    slots: list[BpfSlot] = []
    slots_truncated: bool = False


PieceSource = Literal["register", "stack", "memory", "unavailable", "vector"]


class PieceLayout(Struct, frozen=True, kw_only=True):
    """Bytes ``[offset, offset+size)`` of a variable and where BPF read them from.

    ``source`` ``unavailable`` means the root holds zeros there; ``reason`` says why
    (optimised out, vector register not readable from eBPF...). ``vector``: the
    root holds zeros and the bytes are the low ``size`` bytes of XMM ``register``,
    which a floats record of the hit may bring (``stages.floats``); without one
    decode reports them unavailable.
    """

    offset: int
    size: int
    source: PieceSource
    reason: str | None = None
    fail_bit: int | None = None
    """For memory pieces: the bit of ``godi_event.fail_mask`` set when the read failed."""
    register: int | None = None
    """For vector pieces: the XMM register number (0..15)."""


CaptureRole = Literal["argument", "local", "return"]


class VariableLayout(Struct, frozen=True, kw_only=True):
    """A captured variable: its place in the event's root area, and its pieces.

    ``root_offset`` is None when the variable has no location at the probe PC;
    ``reason`` then says why and the decoder reports it ``unavailable``.
    """

    name: str
    type: int
    role: CaptureRole
    root_offset: int | None
    size: int
    pieces: list[PieceLayout] = []
    reason: str | None = None


ProbeKind = Literal["entry", "return", "line"]


class ProbeLayout(Struct, frozen=True, kw_only=True):
    """An installed probe: one uprobe and what its events contain."""

    index: int
    probe_id: str
    probe_version: int
    kind: ProbeKind
    function: str
    file: str
    line: int
    pc: int
    root_type: int
    root_size: int
    limits: Capture
    capture_snapshot: bool
    variables: list[VariableLayout]
    bpf_function: str
    rate_slot: int = 0
    """Index of the rate limit this probe's entries share (one per Datadog probe)."""
    has_return: bool = False
    """The function has return probes: its entry and returns are paired."""
    gated: bool = False
    """Returns follow their entry's sampling decision through BPF's call map."""
    cfa_offset: int = 0
    """CFA = RSP + cfa_offset at ``pc``."""
    pushed_bp: bool = False
    """The function pushed RBP by ``pc``: the caller's RBP is at CFA-16."""
    want_stack: bool = False
    """The BPF program walks the frame pointers for this probe's events."""
    root_refs: int = 0
    """References in the root; 0: the walker has nothing to follow."""
    decided: bool = False
    """BPF decides the probe's condition here, before sampling (codegen.conditions)."""
    vector_registers: int = 0
    """Bit n: a captured variable has bytes in XMM n (``stages.floats``)."""

    @property
    def uprobe(self) -> str:
        """Which of its probe's uprobes this is, for messages: an entry and its
        returns share a probe id and a function, never a kind and address."""
        return f"{self.kind} at 0x{self.pc:x} ({self.function})"


class RuntimeTypeEntry(Struct, frozen=True, kw_only=True):
    """For an interface holding a value whose runtime type descriptor is at
    ``address`` (IR type ``type``): the capture type to copy at the data word, or
    None when there is nothing to follow."""

    address: int
    type: int
    capture_type: int | None


class RateLimit(Struct, frozen=True, kw_only=True):
    """The rate limit of one Datadog probe, enforced in BPF before anything is copied."""

    slot: int
    probe_id: str
    per_second: float | None
    """None: no limit."""


class Layout(Struct, frozen=True, kw_only=True):
    """``layout.json``: everything capture and decode need about the program."""

    header: ArtifactHeader
    binary_build_id: str
    goid_offset: int
    stack_hi_offset: int
    probes: list[ProbeLayout]
    types: list[BpfType]
    issues: list[ProbeIssue] = []
    rates: list[RateLimit] = []
    runtime_types: list[RuntimeTypeEntry] = []
    definitions: list[Probe] = []
    """The definitions of the installed probes (conditions, templates, capture
    expressions are evaluated by decode), one per probe id."""
    redacted_keys: list[str] = []
    """The redacted identifiers (normalised, sorted) the program's key guards check
    map keys against (``stages.redaction.key_hash``); decode redacts them too."""
    redacted_types: list[str] = []
    """The redacted type names (and ``prefix*`` patterns) whose values' bytes the
    program zeroes (``codegen.redacted``); decode redacts them too, so that it never
    shows those zeros as values."""
    types_start: int = 0
    types_end: int = 0
    """The binary's runtime type descriptors ``[types_start, types_end)`` (IR
    ``BinaryInfo``): an interface's type word outside points at one reflect made at
    run time, which the walker copies (``SLOT_RTYPE``); 0, 0: not copied."""
    binary_sha256: str = ""
    """The hash of the bytes of the binary the IR was made from: capture attaches
    only to a file with this content (``stages.capture.identity``); empty in a
    layout made before it was recorded, which capture refuses."""


_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(Layout)


def encode_layout(layout: Layout) -> bytes:
    """Serialise ``layout`` to deterministic JSON."""
    return _encoder.encode(layout)


def decode_layout(data: bytes) -> Layout:
    """Parse ``layout.json`` bytes; raises ``msgspec.ValidationError`` on a bad shape."""
    return _decoder.decode(data)
