"""Generated schemas depend on the Structs only, not on how msgspec trims docstrings."""

from __future__ import annotations

import inspect
import json
from typing import Any

import msgspec

from stages import schemas


class Documented(msgspec.Struct):
    """One line.

    An indented body, as every docstring in stages/ has:
        with a deeper line.
    """

    x: int = 0


def descriptions(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [v for k, v in node.items() if k == "description" and isinstance(v, str)]
        for k, v in node.items():
            if k != "description" or not isinstance(v, str):
                out += descriptions(v)
        return out
    if isinstance(node, list):
        return [d for v in node for d in descriptions(v)]
    return []


def test_both_msgspec_trimmings_give_the_same_description() -> None:
    raw = Documented.__doc__
    assert raw is not None
    kept_indent = {"description": raw.strip("\n")}  # msgspec 0.22: dedent, strip newlines
    cleaned = {"description": inspect.cleandoc(raw)}  # msgspec 0.23
    assert schemas.clean_descriptions(kept_indent) == schemas.clean_descriptions(cleaned)
    assert schemas.clean_descriptions(cleaned)["description"] == (
        "One line.\n\nAn indented body, as every docstring in stages/ has:\n    with a deeper line."
    )


def test_a_property_named_description_is_not_mistaken_for_text() -> None:
    node = {"properties": {"description": {"type": "string", "description": "  x\n  y"}}}
    assert schemas.clean_descriptions(node) == {
        "properties": {"description": {"type": "string", "description": "x\ny"}}
    }


def test_every_generated_description_is_already_clean() -> None:
    for name in schemas.SCHEMAS:
        for text in descriptions(json.loads(schemas.render(name))):
            assert text == inspect.cleandoc(text), (name, text)


def test_committed_schemas_match_the_structs() -> None:
    assert schemas.drifted() == []
