"""Generated renderers for values laid out side by side: the fields of a struct,
the elements of an array or slice, the variables of a root scope.

Rendering such a group value by value costs a call, an unpack and a hole check per
value. Here one Python function is generated per group: one ``struct.unpack_from``
reads the words of every value that has a word form (``Words``: scalars, strings,
slices, pointers), scalars are looked up inline in their type's cache, and the
others are called with their words or, for the remaining kinds, at their offset.
The generated code only arranges calls to the renderers' own parts (``values``),
so the value contract stays in one place; groups with holes take the value by
value path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .values import Buffer, Render, RenderContext


class Source:
    """The objects a generated function refers to, by the names given them."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}

    def ref(self, obj: object) -> str:
        """A name for ``obj`` in the generated code."""
        name = f"_{len(self.env)}"
        self.env[name] = obj
        return name


@dataclass(frozen=True, slots=True)
class Words:
    """How a value of a type renders from the words of its bytes.

    ``fmt`` is the ``struct`` format (no byte order) of its bytes, ``count`` the
    number of words it unpacks to; ``code(source, words)`` gives a Python
    expression of the value's JSON text from the names of those words (it may use
    ``depth`` and ``ctx`` too).
    """

    fmt: str
    count: int
    code: Callable[[Source, Sequence[str]], str]


@dataclass(frozen=True, slots=True)
class Slot:
    """A value of a group: at ``offset`` from the group's, rendered by ``render``
    (or always the text ``render``), or from its ``words`` when it has them."""

    offset: int
    render: Render | str
    words: Words | None = None


Group = Callable[["Buffer", int, int, "RenderContext"], list[str]]
"""A generated group renderer: ``(buffer, offset, depth, context) -> the texts of
the group's values`` (without holes)."""


def group_renderer(slots: Sequence[Slot], name: str) -> Group:
    """A function rendering the values of ``slots`` (``name`` names it in tracebacks)."""
    src = Source()
    lines = [f"def {name}(buf, off, depth, ctx):", *_unpack(src, slots)]
    lines.append(f"    return [{', '.join(_exprs(src, slots))}]")
    return cast("Group", _compile(lines, src, name))


def struct_renderer(
    slots: Sequence[Slot], template: str, total: int, slow: Render, name: str
) -> Render:
    """A struct's renderer: ``template % texts`` of its fields, ``template`` having
    one ``%s`` per slot, in order. With holes, or a field limit below ``total``,
    the struct is ``slow``'s."""
    src = Source()
    lines = [
        f"def {name}(buf, off, depth, holes, ctx):",
        f"    if holes or ctx.max_field_count < {total}:",
        f"        return {src.ref(slow)}(buf, off, depth, holes, ctx)",
        *_unpack(src, slots),
    ]
    exprs = _exprs(src, slots)
    tail = "," if len(exprs) == 1 else ""
    lines.append(f"    return {src.ref(template)} % ({', '.join(exprs)}{tail})")
    return cast("Render", _compile(lines, src, name))


Elements = Callable[["Buffer", int, int, int, "RenderContext"], list[str]]
"""A renderer of consecutive values: ``(buffer, start, count, depth, context) ->
their texts``."""


def elements_renderer(words: Words, stride: int, name: str) -> Elements:
    """A renderer of ``count`` values of ``stride`` bytes each from ``start``: one
    ``struct.iter_unpack`` for them all."""
    src = Source()
    size = struct.calcsize("<" + words.fmt)
    each = struct.Struct("<" + words.fmt + ("x" * (stride - size)))
    names = [f"w{i}" for i in range(words.count)]
    expr = words.code(src, names)
    lines = [
        f"def {name}(buf, start, count, depth, ctx):",
        f"    data = buf[start:start + count * {stride}]",
        f"    return [{expr} for {', '.join(names)}, in {src.ref(each.iter_unpack)}(data)]",
    ]
    return cast("Elements", _compile(lines, src, name))


def _worded(slots: Sequence[Slot]) -> list[tuple[int, Slot]]:
    """The slots read from words, by offset, each starting after the previous one's
    words end (a slot overlapping them, like a zero-size field, is not)."""
    out = []
    pos = -1
    for i in sorted(range(len(slots)), key=lambda i: slots[i].offset):
        slot = slots[i]
        if slot.words is not None and slot.offset >= pos:
            out.append((i, slot))
            pos = slot.offset + struct.calcsize("<" + slot.words.fmt)
    return out


def _unpack(src: Source, slots: Sequence[Slot]) -> list[str]:
    """The line unpacking the words of ``slots`` into ``w0``, ``w1``..."""
    worded = _worded(slots)
    if not worded:
        return []
    base = worded[0][1].offset
    fmt = ""
    pos = base
    names: list[str] = []
    for _, slot in worded:
        assert slot.words is not None
        if slot.offset > pos:
            fmt += f"{slot.offset - pos}x"
        fmt += slot.words.fmt
        pos = slot.offset + struct.calcsize("<" + slot.words.fmt)
        first = len(names)
        names.extend(f"w{first + k}" for k in range(slot.words.count))
    unpack = src.ref(struct.Struct("<" + fmt).unpack_from)
    return [f"    {', '.join(names)}, = {unpack}(buf, off + {base})"]


def _exprs(src: Source, slots: Sequence[Slot]) -> list[str]:
    """One expression per slot, in order: of its words (named as ``_unpack`` names
    them), its constant text, or a call of its renderer at its offset."""
    exprs = [""] * len(slots)
    first = 0
    for i, slot in _worded(slots):
        assert slot.words is not None
        names = [f"w{first + k}" for k in range(slot.words.count)]
        first += slot.words.count
        exprs[i] = slot.words.code(src, names)
    for i, slot in enumerate(slots):
        if exprs[i]:
            continue
        if isinstance(slot.render, str):
            exprs[i] = src.ref(slot.render)
        else:
            exprs[i] = f"{src.ref(slot.render)}(buf, off + {slot.offset}, depth, (), ctx)"
    return exprs


def _compile(lines: list[str], src: Source, name: str) -> object:
    code = compile("\n".join(lines) + "\n", f"<godi {name}>", "exec")
    namespace = dict(src.env)
    exec(code, namespace)
    return namespace[name]
