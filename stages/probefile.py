"""Loading a probe file: JSON (or YAML) array of Datadog probe definitions.

Each probe is validated on its own against the probe JSON schema, so one bad
definition becomes a per-probe issue and the others still run; only a file that is
unreadable, not an array, or has no valid probe at all is an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from jsonschema.exceptions import best_match

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


def parse_probes(raw: Any, name: str = "probes") -> ProbeSet:
    """Validate the decoded content of a probe file.

    Raises ProbeFileError when ``raw`` is not a list or no probe in it is valid.
    """
    if isinstance(raw, dict) and "probes" in raw:
        raw = raw["probes"]
    if not isinstance(raw, list):
        raise ProbeFileError(name, "a probe file holds a JSON array of probe definitions")
    validator = _validator()
    best: dict[str, Probe] = {}
    issues: list[ProbeIssue] = []
    for i, item in enumerate(raw):
        pid = item.get("id") if isinstance(item, dict) else None
        label = pid if isinstance(pid, str) else f"#{i}"
        err = best_match(validator.iter_errors(item))
        if err is not None:
            issues.append(
                ProbeIssue(
                    probe_id=label,
                    kind="invalid_probe",
                    message=f"{_path(err, i)}: {_message(err)}",
                )
            )
            continue
        probe = msgspec.convert(item, Probe)
        old = best.get(probe.id)
        if old is None or probe.version > old.version:
            best[probe.id] = probe
    if not best:
        detail = "; ".join(f"{x.message}" for x in issues) or "the array is empty"
        raise ProbeFileError(name, f"no valid probe: {detail}")
    return ProbeSet(probes=sorted(best.values(), key=lambda p: p.id), issues=issues)


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
            raw = json.loads(data)
    except (ValueError, ImportError) as e:
        raise ProbeFileError(str(p), f"not valid JSON/YAML: {e}") from e
    except Exception as e:  # yaml.YAMLError and friends
        raise ProbeFileError(str(p), f"not valid YAML: {e}") from e
    probeset = parse_probes(raw, str(p))
    probeset.sha256 = hashlib.sha256(data).hexdigest()
    return probeset
