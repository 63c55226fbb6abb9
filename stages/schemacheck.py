"""A JSON schema compiled to a check of JSON text, at the speed of writing it.

``jsonschema`` validates a parsed document in Python: for decode's snapshots that
costs 45 times the decoding itself, and the compiled validators of PyPI
(``jsonschema-rs``, ``fastjsonschema``) still need the document parsed into Python
objects first, which alone costs more than decoding (see ``scripts/bench_decode.py``).
``SchemaCheck`` compiles a schema (``schemas/*.schema.json``, generated from the
Structs) into a table of nodes that C (``_schemacheck.c``) follows while it reads
the JSON bytes once, building nothing.

It knows the keywords msgspec's schemas use (``type``, ``enum``, ``const``,
``properties``, ``required``, ``additionalProperties``, ``items``,
``prefixItems``, ``minItems``, ``maxItems``, ``pattern``, ``minLength``,
``maxLength``, ``anyOf``, local ``$ref``) and refuses any other
(``UnsupportedSchema``) rather than ignore it, so the schemas cannot grow a rule the
check skips. Within that set it accepts exactly what ``jsonschema`` accepts of
the parsed text (``tests/test_schemacheck.py`` checks it on mutated snapshots),
with three limits: ``anyOf`` alternatives must differ by JSON type (so one
look at the value picks the alternative), patterns are anchored sequences of
ASCII characters and classes (``^0x[0-9a-f]+$``), each ``+``/``*`` followed by
what it cannot match (so matching needs no backtracking), and an object may not
repeat one of its ``properties`` (``json.loads`` would keep the last; the check
rejects it). Text that is not JSON (as RFC 8259 and strict UTF-8 define it)
fails too. Like Python's ``re``, which ``jsonschema`` uses, ``$`` also matches
before a final newline.

A ``SchemaCheck`` remembers the latest objects and arrays it found valid (in the
``bytes`` it checked, which it keeps alive: 256 values, so a few MB). A text that
starts, at a value, with one of them for the same node is that value, valid as
before (its depth accounted for), and is skipped. Consecutive snapshots repeat
most of their stacks and much of their values: this halves the check of
gofmt-sized snapshots (``tests/decode/test_schemacheck.py`` checks one checker
across mutated snapshots against ``jsonschema``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

__all__ = ["SchemaCheck", "UnsupportedSchema"]

try:
    from . import _schemacheck
except ImportError:  # not built
    _schemacheck = None  # type: ignore[assignment]

# Instance types, as the C side tells them apart: a number is INTEGER when its
# value is integral (JSON Schema: 1.0 is an integer), else NUMBER.
NULL, BOOLEAN, OBJECT, ARRAY, STRING, INTEGER, NUMBER = (1 << i for i in range(7))
ALL = (1 << 7) - 1
_TYPES = {
    "null": NULL,
    "boolean": BOOLEAN,
    "object": OBJECT,
    "array": ARRAY,
    "string": STRING,
    "integer": INTEGER,
    "number": INTEGER | NUMBER,
}
_ORDER = (NULL, BOOLEAN, OBJECT, ARRAY, STRING, INTEGER, NUMBER)

# Node kinds (mirrored in _schemacheck.c).
ANY, NEVER, ANYOF, TYPED = 0, 1, 2, 3
# additionalProperties / items that are absent (anything goes) or false.
ALLOWED, FORBIDDEN = -2, -1

_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$defs",  # definitions: checked where a $ref uses them
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",  # an annotation: jsonschema checks it only with a format checker
    }
)
_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "pattern",
        "minLength",
        "maxLength",
    }
)
_MAX_PROPERTIES = 64
"""Properties per object schema: the C side keeps which it saw in a 64-bit mask."""
_SPECIAL = set(".[]()*+?{}|\\^$")


class UnsupportedSchema(ValueError):
    """The schema uses a keyword or form the check does not implement."""


class SchemaCheck:
    """The check of one schema: ``check(raw)`` is None when the JSON text ``raw``
    is valid, else why not (a short reason with the byte offset).

    Raises ``UnsupportedSchema`` for a schema outside what it implements, and
    ``RuntimeError`` when the C extension is not built.
    """

    def __init__(self, schema: Any) -> None:
        if _schemacheck is None:
            raise RuntimeError("the _schemacheck extension is not built (scripts/bootstrap.sh)")
        self._root = schema
        self._nodes: list[tuple[Any, ...] | None] = []
        self._compiled: dict[int, int] = {}
        root = self._compile(schema, "#")
        self._checker = _schemacheck.Checker(self._nodes, root)
        self.check: Callable[[bytes], str | None] = self._checker.check

    # -- compiling ------------------------------------------------------------

    def _new(self) -> int:
        self._nodes.append(None)
        return len(self._nodes) - 1

    def _compile(self, schema: Any, where: str) -> int:
        """The index of ``schema``'s node (references followed), compiled once."""
        for _ in range(64):
            if not (isinstance(schema, dict) and "$ref" in schema):
                break
            extra = set(schema) - _ANNOTATIONS - {"$ref"}
            if extra:
                raise UnsupportedSchema(f"{where}: $ref beside {sorted(extra)}")
            where = str(schema["$ref"])
            schema = self._resolve(schema["$ref"], where)
        else:
            raise UnsupportedSchema(f"{where}: a loop of references")
        key = id(schema)
        if key in self._compiled:
            return self._compiled[key]
        index = self._new()
        self._compiled[key] = index
        self._nodes[index] = self._node(schema, where)
        return index

    def _resolve(self, ref: Any, where: str) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise UnsupportedSchema(f"{where}: only local references (#/...): {ref!r}")
        node: Any = self._root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise UnsupportedSchema(f"{where}: {ref} points at nothing")
            node = node[part]
        return node

    def _node(self, schema: Any, where: str) -> tuple[Any, ...]:
        if schema is True or schema is False:
            return (ANY if schema else NEVER,)
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"{where}: a schema is an object or a boolean")
        keywords = set(schema) - _ANNOTATIONS
        if "anyOf" in keywords:
            if keywords != {"anyOf"}:
                raise UnsupportedSchema(f"{where}: anyOf beside {sorted(keywords - {'anyOf'})}")
            return self._any_of(schema["anyOf"], where)
        unknown = keywords - _KEYWORDS
        if unknown:
            raise UnsupportedSchema(f"{where}: keywords not implemented: {sorted(unknown)}")
        return self._typed(schema, where)

    def _any_of(self, alternatives: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(alternatives, list) or not alternatives:
            raise UnsupportedSchema(f"{where}: anyOf is a non-empty array")
        dispatch = [FORBIDDEN] * len(_ORDER)
        taken = 0
        for i, alternative in enumerate(alternatives):
            index = self._compile(alternative, f"{where}/anyOf/{i}")
            types = self._types_of(index, where)
            if types & taken:
                raise UnsupportedSchema(f"{where}: anyOf alternatives that one JSON type can meet")
            taken |= types
            for slot, bit in enumerate(_ORDER):
                if types & bit:
                    dispatch[slot] = index
        return (ANYOF, tuple(dispatch))

    def _types_of(self, index: int, where: str) -> int:
        node = self._nodes[index]
        if node is None:
            raise UnsupportedSchema(f"{where}: an anyOf alternative refers to itself")
        if node[0] == ANY:
            return ALL
        if node[0] == NEVER:
            return 0
        if node[0] == ANYOF:
            return sum(bit for slot, bit in enumerate(_ORDER) if node[1][slot] != FORBIDDEN)
        types: int = node[1]
        return types

    def _typed(self, schema: dict[str, Any], where: str) -> tuple[Any, ...]:
        types = ALL
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            types = 0
            for name in names:
                if name not in _TYPES:
                    raise UnsupportedSchema(f"{where}: unknown type {name!r}")
                types |= _TYPES[name]
        enum: tuple[int, tuple[bytes, ...]] | None = None
        if "enum" in schema or "const" in schema:
            if "enum" in schema and "const" in schema:
                raise UnsupportedSchema(f"{where}: enum beside const")
            values = schema["enum"] if "enum" in schema else [schema["const"]]
            if not isinstance(values, list):
                raise UnsupportedSchema(f"{where}: enum is an array")
            literals, strings, allowed = 0, [], 0
            for value in values:
                if value is None:
                    literals |= 1
                    allowed |= NULL
                elif value is True or value is False:
                    literals |= 2 if value else 4
                    allowed |= BOOLEAN
                elif isinstance(value, str):
                    strings.append(value.encode("utf-8", "surrogatepass"))
                    allowed |= STRING
                else:
                    raise UnsupportedSchema(
                        f"{where}: enum values other than strings, booleans, null"
                    )
            types &= allowed
            enum = (literals, tuple(strings))

        properties: list[tuple[bytes, int]] = []
        required_mask = 0
        additional = ALLOWED
        if "properties" in schema:
            props = schema["properties"]
            if not isinstance(props, dict) or len(props) > _MAX_PROPERTIES:
                raise UnsupportedSchema(f"{where}: properties (at most {_MAX_PROPERTIES})")
            for name, sub in props.items():
                properties.append(
                    (
                        name.encode("utf-8", "surrogatepass"),
                        self._compile(sub, f"{where}/properties/{name}"),
                    )
                )
        if "required" in schema:
            names = [p[0] for p in properties]
            for name in schema["required"]:
                encoded = name.encode("utf-8", "surrogatepass")
                if encoded not in names:
                    raise UnsupportedSchema(f"{where}: required {name!r} is not in properties")
                required_mask |= 1 << names.index(encoded)
        if "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if extra is False:
                additional = FORBIDDEN
            elif extra is not True:
                additional = self._compile(extra, f"{where}/additionalProperties")

        prefix: list[int] = []
        items = ALLOWED
        if "prefixItems" in schema:
            prefix = [
                self._compile(sub, f"{where}/prefixItems/{i}")
                for i, sub in enumerate(schema["prefixItems"])
            ]
        if "items" in schema:
            if schema["items"] is False:
                items = FORBIDDEN
            elif schema["items"] is not True:
                items = self._compile(schema["items"], f"{where}/items")
        min_items = _count(schema, "minItems", 0, where)
        max_items = _count(schema, "maxItems", -1, where)

        pattern = _pattern(schema["pattern"], where) if "pattern" in schema else None
        min_length = _count(schema, "minLength", 0, where)
        max_length = _count(schema, "maxLength", -1, where)
        return (
            TYPED,
            types,
            enum,
            tuple(properties),
            required_mask,
            additional,
            tuple(prefix),
            items,
            min_items,
            max_items,
            pattern,
            min_length,
            max_length,
        )


def _count(schema: dict[str, Any], keyword: str, default: int, where: str) -> int:
    value = schema.get(keyword, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < -1 or value >= 1 << 62:
        raise UnsupportedSchema(f"{where}: {keyword} {value!r}")
    return value


def _pattern(pattern: Any, where: str) -> tuple[tuple[bytes, int], ...]:
    """``^atoms$``: each atom a 128-bit set of ASCII characters (16 bytes) and its
    quantifier (0: once, 1: ``+``, 2: ``*``)."""
    if not isinstance(pattern, str) or not pattern.startswith("^") or not pattern.endswith("$"):
        raise UnsupportedSchema(f"{where}: pattern {pattern!r} is not anchored with ^...$")
    body = pattern[1:-1]
    atoms: list[tuple[set[int], int]] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "[":
            end = body.find("]", i + 1)
            if end < 0:
                raise UnsupportedSchema(f"{where}: pattern {pattern!r}: unclosed class")
            chars = _class(body[i + 1 : end], pattern, where)
            i = end + 1
        elif c == "\\" and i + 1 < len(body) and body[i + 1] in _SPECIAL | {"/", "-"}:
            chars = {ord(body[i + 1])}
            i += 2
        elif c in _SPECIAL or not (" " <= c <= "~"):
            raise UnsupportedSchema(f"{where}: pattern {pattern!r}: {c!r} not implemented")
        else:
            chars = {ord(c)}
            i += 1
        quantifier = 0
        if i < len(body) and body[i] in "+*":
            quantifier = 1 if body[i] == "+" else 2
            i += 1
        if i < len(body) and body[i] in "+*?{":
            raise UnsupportedSchema(f"{where}: pattern {pattern!r}: quantifier not implemented")
        atoms.append((chars, quantifier))
    for (chars, quantifier), (following, _) in itertools.pairwise(atoms):
        if quantifier and chars & following:
            raise UnsupportedSchema(
                f"{where}: pattern {pattern!r}: a repeated atom overlaps the next one"
            )
    return tuple(
        (sum(1 << c for c in chars).to_bytes(16, "little"), quantifier)
        for chars, quantifier in atoms
    )


def _class(spec: str, pattern: str, where: str) -> set[int]:
    if not spec or spec.startswith("^"):
        raise UnsupportedSchema(f"{where}: pattern {pattern!r}: class not implemented")
    chars: set[int] = set()
    i = 0
    while i < len(spec):
        c = spec[i]
        if c == "\\" or c == "[" or not (" " <= c <= "~"):
            raise UnsupportedSchema(f"{where}: pattern {pattern!r}: class not implemented")
        if i + 2 < len(spec) and spec[i + 1] == "-":
            hi = spec[i + 2]
            if hi == "\\" or not (" " <= hi <= "~") or hi < c:
                raise UnsupportedSchema(f"{where}: pattern {pattern!r}: bad range")
            chars.update(range(ord(c), ord(hi) + 1))
            i += 3
        else:
            chars.add(ord(c))
            i += 1
    return chars
