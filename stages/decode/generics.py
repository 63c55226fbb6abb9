"""The concrete types behind a generic shape function's ``go.shape.*`` types.

Go compiles ``Largest[T]`` once per GC shape (``main.Largest[go.shape.int]``)
and passes the instantiation's dictionary as a hidden ``.dict`` argument
(``stages.ir.DictionaryParam``). DWARF types a variable that depends on a type
parameter as a typedef ``.param<N>`` of the shape type, with the index of the
dictionary word holding the concrete type's runtime descriptor. With the
dictionary captured at the entry, the snapshot can say ``[]main.Celsius``
where the binary's DWARF says ``.param0`` and ``[]go.shape.float64``, as a
debugger user expects: ``ShapeNames.renames`` maps the shape spellings of a
call to the concrete ones, found by walking the shape and the concrete type side
by side (same GC shape, so the same structure). Values are rendered with the
shape type (its layout is the concrete type's); only the names change.
"""

from __future__ import annotations

from ..ir import (
    ArrayType,
    ChanType,
    Function,
    MapType,
    PointerType,
    Program,
    SliceType,
    StructType,
    Type,
    TypedefType,
    TypeIndex,
)
from ..snapshot import CapturedValue
from .jsontext import quote

__all__ = ["DICT_NAME", "ShapeNames", "dictionary_words", "rename_text"]

DICT_NAME = ".dict"
_SHAPE = "go.shape."
_MAX_DEPTH = 16


def _is_shape(name: str) -> bool:
    return _SHAPE in name or name.startswith(".param")


class ShapeNames:
    """Concrete type names for the events of shape functions of one program."""

    def __init__(self, program: Program) -> None:
        self._types = TypeIndex(program.types)
        self._by_descriptor = {rt.address: rt.type for rt in program.runtime_types}
        self._indexed: dict[str, list[tuple[int, TypedefType]]] = {}
        for fn in program.functions:
            if fn.dictionary is not None:
                self._indexed[fn.name] = self._dict_typedefs(fn)

    def _dict_typedefs(self, fn: Function) -> list[tuple[int, TypedefType]]:
        out = []
        for v in fn.variables:
            if v.type not in self._types:
                continue
            t = self._types[v.type]
            if isinstance(t, TypedefType) and t.dict_index is not None:
                out.append((t.dict_index, t))
        return out

    def is_shape_function(self, function: str) -> bool:
        return function in self._indexed

    def renames(self, function: str, words: list[int]) -> dict[str, str]:
        """Shape type name -> concrete type name, for a call of ``function`` whose
        dictionary holds ``words``. Empty when nothing can be named."""
        out: dict[str, str] = {}
        for index, typedef in self._indexed.get(function, []):
            if index >= len(words):
                continue
            concrete = self._by_descriptor.get(words[index])
            if concrete is None or concrete not in self._types:
                continue
            out.setdefault(typedef.name, self._types[concrete].name)
            self._walk(self._types[typedef.target], self._types[concrete], out, 0)
        return out

    def _walk(self, shape: Type, concrete: Type, out: dict[str, str], depth: int) -> None:
        """Record the names of ``shape``'s parts that differ from ``concrete``'s."""
        if depth > _MAX_DEPTH:
            return
        if _is_shape(shape.name) and shape.name != concrete.name:
            if shape.name in out:
                return  # already walked (and recursive types end here)
            out[shape.name] = concrete.name
        types = self._types
        shape_t = types.resolve(shape.id)
        concrete_t = types.resolve(concrete.id)
        pairs: list[tuple[int | None, int | None]] = []
        if isinstance(shape_t, (PointerType, SliceType, ArrayType, ChanType)) and isinstance(
            concrete_t, type(shape_t)
        ):
            pairs = [(shape_t.elem, concrete_t.elem)]
        elif isinstance(shape_t, MapType) and isinstance(concrete_t, MapType):
            pairs = [(shape_t.key, concrete_t.key), (shape_t.value, concrete_t.value)]
        elif (
            isinstance(shape_t, StructType)
            and isinstance(concrete_t, StructType)
            and len(shape_t.fields) == len(concrete_t.fields)
        ):
            pairs = [
                (a.type, b.type) for a, b in zip(shape_t.fields, concrete_t.fields, strict=True)
            ]
        for a, b in pairs:
            if a is not None and b is not None and a in types and b in types:
                self._walk(types[a], types[b], out, depth + 1)


def rename_text(text: str, names: dict[str, str]) -> str:
    """The JSON text of a value with its type names spelled by ``names``."""
    for old, new in names.items():
        text = text.replace(f'"type":{quote(old)}', f'"type":{quote(new)}')
    return text


def dictionary_words(value: CapturedValue) -> list[int]:
    """The words of a captured ``.dict`` (``*[N]uintptr``) argument."""
    out = []
    for element in value.elements or []:
        try:
            out.append(int(element.value or "", 0))
        except ValueError:
            out.append(0)
    return out
