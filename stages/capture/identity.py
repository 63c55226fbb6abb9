"""Proving, before anything is attached, that the probes fit the file they go into.

A uprobe placed inside an instruction corrupts the target's code: it dies with
SIGSEGV or, worse, computes something else. The layout names a virtual address
for each uprobe and the hash of the binary the IR was made from, and both are
only claims. So capture opens the very file it will attach to (the launched
program, the ``--binary`` path, or ``/proc/PID/exe``) and, from that open file's
own bytes:

- its content hash must be the layout's (``stages.buildid.content_sha256``):
  another binary, even one with the same build id, refuses the whole capture;
- each uprobe address must be where an instruction starts: the function holding
  it is found in the file's ``.gopclntab`` (else its ELF symbols), and its code
  decoded with capstone from the function's start up to the address. A probe
  that fails is refused with the reason; the others go on.

The probes are then attached through the open file (``/proc/self/fd/N``), so the
file checked is the file probed even if its path is replaced meanwhile.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import capstone

from ..buildid import content_sha256, read_build_id
from ..errors import BinaryError, TargetError
from ..irgen.elf import ElfImage, open_elf
from ..irgen.symbols import build_symbols
from ..layout import Layout, ProbeLayout
from ..pclntab import Pclntab, PclntabError

log = logging.getLogger(__name__)

__all__ = ["CheckedBinary", "instructions", "open_checked"]

MAX_INSTRUCTION = 15
"""The longest x86-64 instruction, in bytes."""


@dataclass
class CheckedBinary:
    """A binary opened and checked against a layout; attach through ``attach_path``.

    ``refused`` maps the index of each probe whose address is not an instruction
    boundary of this file to the reason. ``close`` releases the file.
    """

    path: str
    fd: int
    sha256: str
    refused: dict[int, str] = field(default_factory=dict)

    @property
    def attach_path(self) -> str:
        """A path naming the checked file itself (for the kernel, which resolves it
        in godi's process)."""
        return f"/proc/self/fd/{self.fd}"

    def identity(self) -> tuple[int, int]:
        """(device, inode) of the checked file."""
        st = os.fstat(self.fd)
        return st.st_dev, st.st_ino

    def close(self) -> None:
        """Close the file (the probes attached through it stay)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_checked(path: str, layout: Layout, name: str | None = None) -> CheckedBinary:
    """Open ``path`` and prove the layout's probes fit it (see the module docstring).

    ``name`` is how messages call the file (default ``path``). Raises
    ``TargetError`` when the file cannot be read or is not the binary the layout
    was generated for; a probe at an address that is not an instruction start is
    only refused (``CheckedBinary.refused``).
    """
    shown = name or path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise TargetError(f"{shown}: cannot open: {e.strerror}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TargetError(f"{shown}: not a regular file")
        content = content_sha256(fd)
        if not layout.binary_sha256:
            raise TargetError(
                "layout.json does not record which binary it was made for: "
                "rerun irgen and codegen with this godi"
            )
        if content != layout.binary_sha256:
            same_name = read_build_id(f"/proc/self/fd/{fd}") == layout.binary_build_id
            raise TargetError(
                f"{shown} is not the binary the probes were generated for: its bytes hash to "
                f"sha256 {content[:16]}..., that binary's to {layout.binary_sha256[:16]}..."
                + (f" (both have build id {layout.binary_build_id})" if same_name else "")
                + "; nothing attached: run irgen and codegen on this binary"
            )
        refused = _check_boundaries(fd, shown, layout.probes)
    except OSError as e:
        os.close(fd)
        raise TargetError(f"{shown}: cannot read: {e.strerror}") from e
    except BaseException:
        os.close(fd)
        raise
    for index, reason in sorted(refused.items()):
        p = layout.probes[index]
        log.warning("probe %s %s: refused: %s", p.probe_id, p.uprobe, reason)
    return CheckedBinary(path=path, fd=fd, sha256=content, refused=refused)


def _check_boundaries(fd: int, shown: str, probes: Iterable[ProbeLayout]) -> dict[int, str]:
    """Refusals for the probes of ``probes`` whose address is not an instruction start
    of the file ``fd`` (named ``shown``), by probe index."""
    refused: dict[int, str] = {}
    with open_elf(f"/proc/self/fd/{fd}") as image:
        image.path = shown
        segments = [
            (s["p_vaddr"], s["p_vaddr"] + s["p_filesz"])
            for s in image.elffile.iter_segments()
            if s["p_type"] == "PT_LOAD" and s["p_flags"] & 1  # PF_X
        ]
        table: Pclntab | None = None
        try:
            table = Pclntab(build_symbols(image))
        except (BinaryError, PclntabError) as e:
            log.info("%s: no usable .gopclntab (%s): using the ELF symbols", shown, e)
        wanted: dict[tuple[int, int, str], list[ProbeLayout]] = defaultdict(list)
        for p in probes:
            if not any(lo <= p.pc < hi for lo, hi in segments):
                refused[p.index] = f"0x{p.pc:x} is not in the code of {shown}; not attached"
                continue
            found = _function_at(table, image, p.pc)
            if found is None:
                refused[p.index] = f"0x{p.pc:x} is not inside any function of {shown}; not attached"
                continue
            wanted[found].append(p)
        for (start, end, fname), group in wanted.items():
            top = max(p.pc for p in group)
            code = image.read(start, min(end, top + MAX_INSTRUCTION) - start)
            spans = instructions(code, start, top)
            starts = {at for at, _ in spans}
            for p in group:
                if p.pc in starts:
                    continue
                inside = next((at for at, size in spans if at < p.pc < at + size), None)
                if inside is None:
                    stop = spans[-1][0] + spans[-1][1] if spans else start
                    refused[p.index] = (
                        f"the code of {fname} in {shown} cannot be decoded from its start "
                        f"0x{start:x} up to 0x{p.pc:x} (stops at 0x{stop:x}); not attached"
                    )
                else:
                    refused[p.index] = (
                        f"0x{p.pc:x} is not an instruction boundary of {shown}: it is inside "
                        f"the instruction at 0x{inside:x} of {fname}; not attached (a uprobe "
                        "there would corrupt the code)"
                    )
    return refused


def _function_at(table: Pclntab | None, image: ElfImage, pc: int) -> tuple[int, int, str] | None:
    """(start, end, name) of the function holding ``pc``: from ``.gopclntab``, which
    every Go binary has, else from the ELF symbol table."""
    if table is not None:
        index = table.index(pc)
        if index is not None:
            try:
                fn = table.function(index)
            except PclntabError:
                pass
            else:
                return fn.entry, table.text + table.entries[index + 1], fn.name
    symbol = image.function_at(pc)
    if symbol is None:
        return None
    start, name, end = symbol
    return start, end, name


def instructions(code: bytes, address: int, until: int) -> list[tuple[int, int]]:
    """(address, size) of the instructions of ``code`` (loaded at ``address``),
    decoded one after the other up to the first that reaches ``until``, or up to
    the first bytes capstone cannot decode."""
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    out: list[tuple[int, int]] = []
    for at, size, _mnemonic, _operands in md.disasm_lite(code, address):
        out.append((at, size))
        if at + size > until:
            break
    return out
