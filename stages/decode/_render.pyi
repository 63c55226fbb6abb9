"""Stub of the C extension ``stages/decode/_render.c`` (see ``native``)."""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, final

K_CONST: int
K_BOOL: int
K_INT: int
K_CACHED: int
K_STRING: int
K_STRUCT: int
K_ARRAY: int
K_SLICE: int
K_POINTER: int
K_PYTHON: int
K_ADDRESS: int
K_FUNC: int
K_IFACE: int
K_MAP: int

_Block = tuple[int, int, int, int]

@final
class BlockIndex:
    """An event's blocks by ``(address, capture type index)``, read-only."""

    def get(self, key: tuple[int, int], default: None = None, /) -> _Block | None: ...
    def __getitem__(self, key: tuple[int, int], /) -> _Block: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[tuple[int, int]]: ...

def index_blocks(
    payload: bytes, pos: int, type_sizes: list[int], /
) -> tuple[BlockIndex, int] | None: ...
def crc32(data: bytes, crc: int = 0, /) -> int:
    """The CRC-32 dump records carry (C: ``stages/_crc32.h``), as ``zlib.crc32``."""

@final
class Renderer:
    """Renders values from a table of nodes, one per IR type."""

    def __init__(
        self,
        reasons: Sequence[bytes],
        dynamic: Callable[
            [int], tuple[int, bool, tuple[int, ...], bytes, int, int, bool, bool] | None
        ]
        | None = None,
        heap: Callable[[int, str, bytes, Any, bool], str | None] | None = None,
    ) -> None: ...
    def extend(self, specs: Sequence[tuple[Any, ...] | None], /) -> None: ...
    def value(self, node: int, offset: int, ctx: object, /) -> str | None: ...
    def scope(
        self, nodes: tuple[int, ...], offsets: tuple[int, ...], ctx: object, /
    ) -> list[str] | None: ...

@final
class Snapshots:
    """Whole snapshots of simple probes, from a dump's bytes (see fastpath.py)."""

    def __init__(
        self,
        renderer: Renderer,
        type_sizes: list[int],
        start: bytes,
        id_prefix: bytes,
        clock_offset_ns: int,
        truncated: bytes,
        no_entry: bytes,
        no_return: bytes,
        piece: Callable[..., str],
        stack: Callable[[bytes], str],
        context: Callable[..., object],
        summaries: Summaries | None = None,
    ) -> None: ...
    def add(self, index: int, spec: tuple[Any, ...], /) -> None: ...
    def run(self, buf: bytes, pos: int, offset: int, /) -> tuple[list[bytes], int]: ...
    def pending(self) -> list[tuple[int, bytes]]: ...
    def counts(self) -> dict[int, int]: ...
    def made(self) -> dict[int, tuple[int, int]]: ...

@final
class Summaries:
    """Message summaries of value texts (see summaries.py)."""

    def __init__(
        self, named: Callable[[str], int], max_fields: int, max_items: int, max_level: int
    ) -> None: ...
    def extend(self, specs: Sequence[tuple[Any, ...] | None], /) -> None: ...
    def summary(self, node: int, text: bytes, /) -> str | None: ...
