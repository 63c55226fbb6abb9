"""Stub of the C extension ``stages/irgen/_lines.c`` (see ``lines.sequence_pcs_at``)."""

def line_rows(
    data: bytes,
    start: int,
    end: int,
    unit: int,
    line_range: int,
    opcode_base: int,
    line_base: int,
    lengths: bytes,
    default_is_stmt: bool,
    one_sequence: bool,
    /,
) -> list[tuple[int, int, int, bool]] | None: ...
def sequence_pcs_at(
    data: bytes,
    start: int,
    end: int,
    unit: int,
    line_range: int,
    opcode_base: int,
    line_base: int,
    lengths: bytes,
    wanted: dict[int, set[int]],
    /,
) -> list[int] | None: ...
