"""Hand-built ``.gopclntab`` tables (Go 1.20+ format) for tests of ``stages.pclntab``.

A test describes functions the way it reasons about them (name, file runs, line
runs, inline tree) and gets the ``SymbolTable`` the linker would have written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from stages.ir import SymbolTable
from stages.pclntab import GO120_MAGIC

Runs = tuple[tuple[int, int], ...]
"""pcvalue runs: ``(end offset from the entry, value)``, from the entry on."""


@dataclass(frozen=True)
class Inlined:
    name: str
    parent_pc: int
    func_id: int = 0


@dataclass(frozen=True)
class Func:
    entry: int
    size: int
    name: str
    files: tuple[str, ...] = ()
    """The compilation unit's files: ``pcfile`` values index them. Empty: no unit."""
    pcfile: Runs = ()
    pcln: Runs = ()
    pcinl: Runs = ()
    inlined: tuple[Inlined, ...] = ()
    func_id: int = 0


def pcvalue(runs: Runs, quantum: int = 1) -> bytes:
    """The encoded stream of ``runs``, without its terminator."""
    out = bytearray()
    val, pc = -1, 0
    for end, value in runs:
        delta = value - val
        zigzag = (delta << 1) ^ (delta >> 63)
        step = (end - pc) // quantum
        for n in (zigzag & (2**64 - 1), step):
            while True:
                b = n & 0x7F
                n >>= 7
                out.append(b | (0x80 if n else 0))
                if not n:
                    break
        val, pc = value, end
    return bytes(out)


@dataclass
class _Strings:
    """A NUL-terminated string table, each string stored once."""

    data: bytearray = field(default_factory=bytearray)
    offsets: dict[str, int] = field(default_factory=dict)

    def __call__(self, s: str) -> int:
        if s not in self.offsets:
            self.offsets[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.offsets[s]


def build_table(functions: list[Func], *, quantum: int = 1) -> SymbolTable:
    """The ``SymbolTable`` of ``functions`` (sorted by entry, not overlapping; the
    first one's entry is ``runtime.text``)."""
    text = functions[0].entry
    names, files = _Strings(), _Strings()
    cutab: list[int] = []
    pctab = bytearray(b"\0")  # offset 0 means "no table"
    funcdata = bytearray()
    funcs = bytearray()
    functab: list[int] = []
    header_size = 8 + 8 * 8
    nfunc = len(functions)
    func_base = (2 * nfunc + 2) * 4  # nfunc + 1 (entry, _func offset) pairs

    def stream(runs: Runs) -> int:
        if not runs:
            return 0
        at = len(pctab)
        pctab.extend(pcvalue(runs, quantum) + b"\0")
        return at

    for fn in functions:
        cu = len(cutab) if fn.files else 0xFFFFFFF
        cutab.extend(files(f) for f in fn.files)
        inltree = 0xFFFFFFFF
        if fn.inlined:
            inltree = len(funcdata)
            for call in fn.inlined:
                funcdata += struct.pack(
                    "<B3xiii", call.func_id, names(call.name), call.parent_pc, 0
                )
        functab += [fn.entry - text, func_base + len(funcs)]
        funcs += struct.pack(
            "<IiiIIIIIIiBBBB",
            fn.entry - text,
            names(fn.name),
            0,
            0,
            0,
            stream(fn.pcfile),
            stream(fn.pcln),
            3,  # npcdata: unsafe point, stack map, inline tree index
            cu,
            0,
            fn.func_id,
            0,
            0,
            4,  # nfuncdata: up to the inline tree
        )
        funcs += struct.pack("<3I", 0, 0, stream(fn.pcinl))
        funcs += struct.pack("<4I", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, inltree)
    end = functions[-1].entry + functions[-1].size
    functab += [end - text, 0]
    body = [
        bytes(names.data),
        struct.pack(f"<{len(cutab)}I", *cutab),
        bytes(files.data),
        bytes(pctab),
        struct.pack(f"<{len(functab)}I", *functab) + bytes(funcs),
    ]
    offsets = []
    at = header_size
    for part in body:
        offsets.append(at)
        at += len(part)
    header = struct.pack(
        "<IBBBB8Q", GO120_MAGIC, 0, 0, quantum, 8, nfunc, len(files.offsets), 0, *offsets
    )
    return SymbolTable(text=text, pclntab=header + b"".join(body), funcdata=bytes(funcdata))
