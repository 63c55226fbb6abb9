"""Interface values whose dynamic type reflect made at run time.

reflect.SliceOf, StructOf, MapOf, ArrayOf, ChanOf, FuncOf and PointerTo (of a
type without a ``*T`` in the binary) make a runtime type descriptor on the heap
when the binary has none of the type: an interface holding such a value has a
type word outside the binary's descriptors (``Layout.types_start``/``types_end``),
which no IR type describes. The walker copies the descriptor into the event
(``SLOT_RTYPE``: capture types of roles ``rtype``, ``rfield``, ``rname``), with
the descriptors it refers to that are on the heap too, and the names of a
struct's fields; ``CopiedDescriptors`` reads them with the same parser irgen
reads the binary's with (``stages.rtypes``), and the value is shown with the
type's name as ``%T`` prints it. Its value is not captured (``unimplemented``):
the walker has no capture type for it. A type whose descriptors were not all
copied (the event's room, a name past ``RNAME_COPY`` bytes, a struct of more
than ``RFIELDS_MAX`` fields, a func of more than three parameters) is ``missing
type information``, as before.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..layout import BLOCK_FLAG_READ_FAILED
from ..rtypes import TFLAG_NAMED, Bad, DescriptorParser, embedded_names, go_string
from . import jsontext
from .events import Blocks


class CopiedDescriptors(DescriptorParser):
    """The descriptors, fields and names one event holds copies of."""

    def __init__(
        self, payload: bytes, blocks: Blocks, rtype: int, rfield: int | None, rname: int | None
    ) -> None:
        super().__init__()
        self._payload = payload
        self._blocks = blocks
        self._rtype = rtype
        self._others = tuple(ix for ix in (rfield, rname) if ix is not None)
        self._segments: list[tuple[int, int, int]] = []  # address, end address, payload offset

    def _load(self, address: int, ix: int, whole: bool) -> bool:
        block = self._blocks.get((address, ix))
        if block is None or block[3] & BLOCK_FLAG_READ_FAILED or (whole and block[2] < 1):
            return False
        start, end = block[0], block[1]
        self._segments.append((address, address + end - start, start))
        return True

    def _at(self, address: int, n: int) -> int:
        """The payload offset of the ``n`` bytes copied from ``address``."""
        for _ in range(2):
            for lo, hi, start in self._segments:
                if lo <= address and address + n <= hi:
                    return start + address - lo
            # the start of a struct's fields or of a field's name, met now
            if not any(self._load(address, ix, False) for ix in self._others):
                break
        raise Bad(address)

    def holds(self, address: int) -> bool:
        return self._load(address, self._rtype, True)

    def _u(self, fmt: str, address: int) -> int:
        return int(
            struct.unpack_from(fmt, self._payload, self._at(address, struct.calcsize(fmt)))[0]
        )

    _mem = _u

    def _bytes(self, address: int, n: int) -> str:
        at = self._at(address, n)
        return self._payload[at : at + n].decode("utf-8", "replace")

    def _type_name(self, a: int, kind: int, tflag: int) -> tuple[str, bool]:
        # Its Str is an id in the runtime's reflectOffs, not readable here: the
        # name is spelled from its parts (go_string). reflect names none of them.
        return "", bool(tflag & TFLAG_NAMED)

    def _pkg_name(self, address: int) -> str:
        return ""


class HeapTypes:
    """Renders an interface whose type word is a heap descriptor (one decode)."""

    def __init__(
        self,
        types_start: int,
        types_end: int,
        roles: dict[tuple[str, int | None], int],
        known: Callable[[int], str | None],
        go_version: str = "",
    ) -> None:
        self._start = types_start
        self._end = types_end
        self._rtype = roles.get(("rtype", None))
        self._rfield = roles.get(("rfield", None))
        self._rname = roles.get(("rname", None))
        self._known = known
        self._named_embedded = embedded_names(go_version)

    def interface(
        self, descriptor: int, head: str, payload: bytes, blocks: Blocks, deep: bool
    ) -> str | None:
        """The text of an interface (whose own type's text starts ``head``) holding
        a value of the heap type at ``descriptor``: ``depth`` where the walker did
        not go (``deep``), else its type's name and ``unimplemented``; None when
        ``descriptor`` is not a heap one or its type cannot be named."""
        if self._rtype is None or self._start <= descriptor < self._end:
            return None
        if deep:
            return head + ',"notCapturedReason":"depth"}'
        parser = CopiedDescriptors(payload, blocks, self._rtype, self._rfield, self._rname)
        name = go_string(descriptor, self._known, parser, self._named_embedded)
        if name is None:
            return None
        return head + ',"fields":{"data":' + jsontext.value_text(name, "unimplemented") + "}}"
