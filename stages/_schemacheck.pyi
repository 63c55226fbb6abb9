"""Types of the C extension ``_schemacheck.c`` (see ``schemacheck``)."""

from typing import Any

class Checker:
    def __init__(self, nodes: list[tuple[Any, ...] | None], root: int) -> None: ...
    def check(self, text: bytes | bytearray | memoryview, /) -> str | None: ...
