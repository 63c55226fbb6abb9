"""Floats in vector registers: what capture sets up so that a hit can have them.

eBPF cannot read XMM registers, where Go's register ABI passes float and complex
arguments and results. A captured hit whose variables have bytes there (codegen
marks those pieces ``vector``, ``ProbeLayout.vector_registers``) sends its own
thread SIGURG with ``bpf_send_signal_thread`` and leaves a token for it; the
kernel delivers the signal once the probed instruction has been stepped, saving
the whole FPU state in the signal frame, and a second uprobe, on the runtime's
signal entry ``runtime.sigtrampgo``, reads XMM0-15 from that frame, checks that
it is the hit's (same thread and token, interrupted at the instruction after the
probed one) and emits a floats record that decode joins to the hit
(``stages.decode.floats``). The Go runtime tolerates a SIGURG it did not ask
for: it is its preemption signal, ignored when no preemption is pending.

This module decides, from the binary's own bytes, per probe:

- the instruction at the probe address: its length (the expected PC after it),
  or, for a RET, that the expected PC is the return address at [RSP]; a jump or
  call has no known next PC, so that probe gets no floats;
- the XMM registers it writes: those are already overwritten when the frame is
  saved, so they are not asked for and decode reports them unavailable;
- what it adds to RSP: the frame must also have the hit's stack pointer after
  the instruction, so a token left by a hit whose signal never reached the
  handler cannot match a later frame at the same PC but another place;

and, for the process: where ``runtime.sigtrampgo`` is, and where the runtime
keeps ``sig.wanted``, the signals the program asked for with ``signal.Notify``.
BPF reads that word at each hit and does not signal a program that wants SIGURG
(unless ``--floats always``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import capstone

from ..irgen.elf import ElfImage
from ..layout import Layout

log = logging.getLogger(__name__)

__all__ = ["FloatsMode", "FloatsPlan", "plan_floats", "probed_instruction"]

FloatsMode = Literal["auto", "always", "never"]

SIG_WANTED_OFFSET = 20
"""Offset of ``wanted[0]`` in ``runtime.sig`` on linux/amd64 (Go 1.21 to 1.27:
``note`` is one uintptr, then ``mask [3]uint32``; ``_NSIG`` is 65)."""

SIGTRAMPGO = "runtime.sigtrampgo"
"""``sigtrampgo(sig uint32, info *siginfo, ctx unsafe.Pointer)``, called by the
assembly ``runtime.sigtramp`` with the register ABI: the ucontext is in RCX (Go
1.17 and later; every supported release)."""

_CONTROL = {
    capstone.CS_GRP_JUMP,
    capstone.CS_GRP_CALL,
    capstone.CS_GRP_INT,
    capstone.CS_GRP_IRET,
}


@dataclass(frozen=True)
class Instruction:
    """What floats need to know of the instruction at a probe address."""

    size: int
    is_return: bool
    control: bool
    """A jump, call or interrupt: the PC after it is not known in advance."""
    writes_xmm: int
    """Bit n: the instruction writes XMMn (or YMMn/ZMMn)."""
    text: str
    sp_delta: int | None = 0
    """What the instruction adds to RSP (None: not known in advance)."""


def probed_instruction(code: bytes, address: int) -> Instruction | None:
    """The first instruction of ``code`` (loaded at ``address``); None when capstone
    cannot decode it."""
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    for insn in md.disasm(code, address, 1):
        _read, written = insn.regs_access()
        writes = 0
        for reg in written:
            name = insn.reg_name(reg) or ""
            if name[:3] in ("xmm", "ymm", "zmm") and name[3:].isdigit():
                n = int(name[3:])
                if n < 16:
                    writes |= 1 << n
        groups = set(insn.groups)
        return Instruction(
            size=insn.size,
            is_return=capstone.CS_GRP_RET in groups,
            control=bool(groups & _CONTROL),
            writes_xmm=writes,
            text=f"{insn.mnemonic} {insn.op_str}".strip(),
            sp_delta=_sp_delta(insn, {insn.reg_name(r) for r in written}),
        )
    return None


def _sp_delta(insn: Any, written: set[str | None]) -> int | None:
    """What ``insn`` adds to RSP: 0 when it does not write it; for the forms Go
    emits around probe points (RET, PUSH, POP, ADD/SUB RSP, imm) the amount; else
    None."""
    if "rsp" not in written:
        return 0
    name = insn.mnemonic
    if name == "ret" and not insn.operands:
        return 8
    if name in ("push", "pop") and insn.size <= 2:
        return -8 if name == "push" else 8
    ops = insn.operands
    if name in ("add", "sub") and len(ops) == 2 and ops[1].type == capstone.x86.X86_OP_IMM:
        imm = int(ops[1].imm)
        return imm if name == "add" else -imm
    return None


@dataclass
class FloatsPlan:
    """What BPF is told about floats: whether to signal at all, where the runtime's
    signal entry and ``sig.wanted`` are, and per probe index the XMM registers to
    ask for, the length of the probed instruction (0: a RET) and what it adds to
    RSP (None: unknown, the frame's RSP is then not checked)."""

    enabled: bool = False
    sigtrampgo: int | None = None
    sig_wanted: int = 0
    probes: dict[int, tuple[int, int, int | None]] = field(default_factory=dict)
    notes: list[tuple[int, str]] = field(default_factory=list)
    """(probe index, what some of its floats will not have and why)."""


def plan_floats(image: ElfImage, layout: Layout, mode: FloatsMode) -> FloatsPlan:
    """The floats plan for the probes of ``layout`` in the binary ``image``."""
    plan = FloatsPlan()
    wanting = [p for p in layout.probes if p.vector_registers]
    if mode == "never":
        plan.notes += [(p.index, "floats off (--floats never)") for p in wanting]
    if not wanting or mode == "never":
        return plan
    sigtrampgo = image.symbol(SIGTRAMPGO)
    if sigtrampgo is None:
        for p in wanting:
            plan.notes.append((p.index, f"no {SIGTRAMPGO} in the binary: floats unavailable"))
        return plan
    if mode != "always":
        sig = image.symbol("runtime.sig")
        if sig is None:
            for p in wanting:
                plan.notes.append(
                    (
                        p.index,
                        "no runtime.sig in the binary: cannot tell whether the program "
                        "handles SIGURG; floats unavailable (--floats always to ask anyway)",
                    )
                )
            return plan
        plan.sig_wanted = sig + SIG_WANTED_OFFSET
    plan.sigtrampgo = sigtrampgo
    for p in wanting:
        insn = probed_instruction(image.read(p.pc, 15), p.pc)
        if insn is None:
            plan.notes.append((p.index, f"the instruction at 0x{p.pc:x} cannot be decoded"))
            continue
        if insn.control and not insn.is_return:
            plan.notes.append(
                (
                    p.index,
                    f"the probed instruction ({insn.text}) jumps: the frame of the "
                    "signal cannot be told to be the hit's; floats unavailable",
                )
            )
            continue
        mask = p.vector_registers & ~insn.writes_xmm
        if p.vector_registers & insn.writes_xmm:
            regs = ", ".join(
                f"xmm{n}" for n in range(16) if (p.vector_registers & insn.writes_xmm) >> n & 1
            )
            plan.notes.append(
                (
                    p.index,
                    f"{regs}: written by the probed instruction ({insn.text}) before the "
                    "registers can be read",
                )
            )
        if mask:
            plan.probes[p.index] = (mask, 0 if insn.is_return else insn.size, insn.sp_delta)
    plan.enabled = bool(plan.probes)
    return plan
