"""Loading a probe file: JSON (or YAML) array of Datadog probe definitions.

Each probe is validated on its own against the probe JSON schema, so one bad
definition becomes a per-probe issue and the others still run; only a file that is
unreadable, not an array, or has no valid probe at all is an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .errors import ProbeFileError
from .ir import ProbeIssue
from .spec import Probe


@dataclass
class ProbeSet:
    """The valid probes of a file (highest version per id) and the rejected ones."""

    probes: list[Probe]
    issues: list[ProbeIssue] = field(default_factory=list)
    sha256: str = ""


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = msgspec.json.schema(Probe)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _message(error: Any) -> str:
    """The error's message; for "one of these types" a readable list of the types."""
    ctx = error.context or []
    if error.validator == "anyOf" and ctx and all(c.validator == "type" for c in ctx):
        types = " or ".join(repr(c.validator_value) for c in ctx)
        return f"{error.instance!r} is not of type {types}"
    return str(error.message)


def _path(error: Any, index: int) -> str:
    parts = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"$[{index}]{parts}"


def _nonfinite(item: Any) -> str | None:
    """The path (below the item) of a NaN or infinite number in ``item``, which
    YAML can spell (``.nan``, ``.inf``) and no probe field accepts."""
    stack: list[tuple[str, Any]] = [("", item)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where
        if isinstance(value, dict):
            stack += [(f"{where}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(f"{where}[{j}]", v) for j, v in enumerate(value)]
    return None


_MSGSPEC_AT = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$", re.S)


def _at(item: Any, path: str) -> Any:
    """The value at a msgspec error path (``.capture.maxLength``, ``.lines[0]``)."""
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        try:
            item = item[name] if name else item[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return item


def _convert(item: Any, index: int) -> Probe | str:
    """The Probe of a schema-valid item, or why it is not one. The JSON schema
    lets an integral float (``1.0``, ``1e308``) pass as an integer; msgspec does
    not, and says where."""
    where = _nonfinite(item)
    if where is not None:
        return f"$[{index}]{where}: not a finite number"
    try:
        return msgspec.convert(item, Probe)
    except msgspec.ValidationError as e:
        m = _MSGSPEC_AT.match(str(e))
        if m is None:
            return f"$[{index}]: {e}"
        path, message = m.group("path"), m.group("message")
        value = _at(item, path)
        if isinstance(value, float) and message.startswith("Expected `int`"):
            message = f"{value!r} is not an integer (write it without a fraction or exponent)"
        return f"$[{index}]{path}: {message}"


def _accepted(item: Any) -> Probe | None:
    """The Probe of an item msgspec accepts as it is and that holds only finite
    numbers; None for any other (then checked against the JSON schema first, for
    its message).

    What msgspec accepts the schema does too: the schema is msgspec's own of the
    same Structs (types, required and unknown fields, enums, bounds), and msgspec
    is the stricter of the two (an integral float is no int to it); checked by
    tests/robust/test_probe_file.py. Importing jsonschema costs every command that
    reads a valid probe file 0.06 s, so it is imported only for a rejected one."""
    try:
        probe = msgspec.convert(item, Probe)
    except (msgspec.ValidationError, RecursionError):
        return None
    return probe if _nonfinite(item) is None else None


def _keep(
    probe: Probe, index: int, best: dict[str, tuple[int, Probe]], ties: dict[str, list[int]]
) -> None:
    """Keep the highest version of each id; note a second definition at it."""
    old = best.get(probe.id)
    if old is None or probe.version > old[1].version:
        best[probe.id] = (index, probe)
        ties.pop(probe.id, None)
    elif probe.version == old[1].version:
        ties.setdefault(probe.id, [old[0]]).append(index)


def parse_probes(raw: Any, name: str = "probes") -> ProbeSet:
    """Validate the decoded content of a probe file.

    Each definition is checked on its own (msgspec's exact types and bounds; a
    rejected one against the JSON schema first, for its message); a bad one becomes
    an ``invalid_probe`` issue naming the probe and the field. The highest version
    of an id wins; two definitions of an id at its highest version are ambiguous,
    so that id is refused.

    Raises ProbeFileError when ``raw`` is not a list or no probe in it is valid.
    """
    if isinstance(raw, dict) and "probes" in raw:
        raw = raw["probes"]
    if not isinstance(raw, list):
        raise ProbeFileError(name, "a probe file holds a JSON array of probe definitions")
    best: dict[str, tuple[int, Probe]] = {}
    ties: dict[str, list[int]] = {}
    issues: list[ProbeIssue] = []
    for i, item in enumerate(raw):
        pid = item.get("id") if isinstance(item, dict) else None
        label = pid if isinstance(pid, str) else f"#{i}"
        probe = _accepted(item)
        if probe is not None:
            _keep(probe, i, best, ties)
            continue
        from jsonschema.exceptions import best_match

        try:
            err = best_match(_validator().iter_errors(item))
        except RecursionError:
            issues.append(
                ProbeIssue(
                    probe_id=label, kind="invalid_probe", message=f"$[{i}]: nested too deeply"
                )
            )
            continue
        if err is not None:
            issues.append(
                ProbeIssue(
                    probe_id=label,
                    kind="invalid_probe",
                    message=f"{_path(err, i)}: {_message(err)}",
                )
            )
            continue
        converted = _convert(item, i)
        if isinstance(converted, str):
            issues.append(ProbeIssue(probe_id=label, kind="invalid_probe", message=converted))
            continue
        _keep(converted, i, best, ties)
    for pid, where in sorted(ties.items()):
        places = " and ".join(f"$[{j}].id" for j in where)
        issues.append(
            ProbeIssue(
                probe_id=pid,
                kind="invalid_probe",
                message=f"{places}: {len(where)} definitions of {pid!r} at the same version "
                f"({best[pid][1].version}); give the one to use a higher version",
            )
        )
        del best[pid]
    if not best:
        detail = (
            "; ".join(f"probe {x.probe_id}: {x.message}" for x in issues) or "the array is empty"
        )
        raise ProbeFileError(name, f"no valid probe: {detail}")
    probes = sorted((p for _, p in best.values()), key=lambda p: p.id)
    return ProbeSet(probes=probes, issues=issues)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_probes(path: str | os.PathLike[str]) -> ProbeSet:
    """Read and validate a probe file (``.json``, or ``.yaml``/``.yml``)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ProbeFileError(str(p), f"cannot read: {e.strerror}") from e
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(data)
        else:
            raw = json.loads(data, parse_constant=_no_constant)
    except RecursionError as e:
        raise ProbeFileError(str(p), "nested too deeply") from e
    except (ValueError, ImportError) as e:
        raise ProbeFileError(str(p), f"not valid JSON/YAML: {e}") from e
    except Exception as e:  # yaml.YAMLError and friends
        raise ProbeFileError(str(p), f"not valid YAML: {e}") from e
    probeset = parse_probes(raw, str(p))
    probeset.sha256 = hashlib.sha256(data).hexdigest()
    return probeset
