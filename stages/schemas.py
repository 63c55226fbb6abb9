"""JSON schemas of godi's formats, generated from the msgspec Structs.

``schemas/*.schema.json`` are written by ``godi schemas`` and checked by
``godi schemas --check`` (CI runs it): the Structs are the single definition.
The Snakemake config schema (``schemas/config.schema.yaml``) is hand-written.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from .dump import Counters, DumpHeader
from .ir import Program
from .layout import Layout
from .paths import schemas_dir
from .snapshot import Snapshot
from .spec import ProbeFile
from .upload.status import ProbeStatus

SCHEMAS: dict[str, Any] = {
    "ir.schema.json": Program,
    "layout.schema.json": Layout,
    "probes.schema.json": ProbeFile,
    "snapshot.schema.json": Snapshot,
    "snapshots.schema.json": list[Snapshot],
    "dump-header.schema.json": DumpHeader,
    "dump-counters.schema.json": Counters,
    "probe-statuses.schema.json": list[ProbeStatus],
}


def render(name: str) -> bytes:
    """The schema file ``name`` as it should be on disk."""
    schema = clean_descriptions(msgspec.json.schema(SCHEMAS[name]))
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return (json.dumps(schema, indent=2, sort_keys=True) + "\n").encode()


def clean_descriptions(node: Any) -> Any:
    """``node`` with every ``description`` text passed through ``inspect.cleandoc``.

    msgspec copies docstrings into descriptions, and how it trims their indentation
    changed between releases (0.22 kept the body's indentation, 0.23 removes it):
    cleaning them here keeps the generated schemas the same under either.
    """
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else clean_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [clean_descriptions(value) for value in node]
    return node


def write_all(directory: Path | None = None) -> list[Path]:
    """(Re)write every generated schema; returns the paths written."""
    d = directory or schemas_dir()
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for name in sorted(SCHEMAS):
        path = d / name
        path.write_bytes(render(name))
        out.append(path)
    return out


def drifted(directory: Path | None = None) -> list[str]:
    """Names of schema files missing or different from what the Structs generate."""
    d = directory or schemas_dir()
    bad = []
    for name in sorted(SCHEMAS):
        path = d / name
        if not path.is_file() or path.read_bytes() != render(name):
            bad.append(name)
    return bad


@functools.cache
def snapshot_validator() -> Any:
    """The reference validator of one snapshot: ``jsonschema``, on the parsed JSON
    (slow; ``snapshot_check`` is the fast check of the same schema)."""
    import jsonschema

    schema = json.loads(render("snapshot.schema.json"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@functools.cache
def snapshot_check() -> Callable[[bytes], str | None]:
    """The check of one snapshot's JSON text against ``snapshot.schema.json``, in C
    (``schemacheck``): None when valid, else why not. It accepts what
    ``snapshot_validator`` accepts (tests/test_schemacheck.py)."""
    from .schemacheck import SchemaCheck

    return SchemaCheck(json.loads(render("snapshot.schema.json"))).check


def explain_snapshot(raw: bytes, reason: str) -> str:
    """Why the snapshot ``raw`` failed ``snapshot_check`` (which said ``reason``):
    the reference validator's first message, with where it is."""
    try:
        instance = json.loads(raw)
    except ValueError:
        return f"not JSON ({reason})"
    for error in snapshot_validator().iter_errors(instance):
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        return f"{error.message}" + (f" (at {where})" if where else "")
    return reason
