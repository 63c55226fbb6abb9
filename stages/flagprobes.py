"""Probes from command-line flags: ``-f FUNC`` and ``--line FILE:LINE`` with the
options every such probe shares (``--when``, ``--template``, ``--depth``,
``--rate``), turned into ordinary Datadog probe definitions.

``flag_probes(binary, flags)`` expands each glob of ``-f`` against the binary's
functions (``listing``: the ``.gopclntab`` names, kept when the IR describes
them), checks the expressions, and returns the definitions, validated as a probe
file is (``probefile.parse_probes``), with a line per flag saying what it became.
``dump_probes`` writes them as ``probes.json``, so a run made from flags can be
redone with the pipeline. Every mistake is a ``UsageError`` naming the flag.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import GodiError, UsageError
from .probefile import ProbeSet, parse_probes

__all__ = ["MAX_FUNCTIONS", "FlagProbes", "ProbeFlags", "dump_probes", "flag_probes", "probe_id"]

MAX_FUNCTIONS = 200
"""Functions a run's globs may expand to by default (each is a uprobe, and more;
``--max-functions`` raises it)."""


@dataclass(frozen=True)
class ProbeFlags:
    """What the flags ask for."""

    functions: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    when: str | None = None
    template: str | None = None
    depth: int | None = None
    rate: float | None = None
    max_functions: int = MAX_FUNCTIONS

    @property
    def any(self) -> bool:
        """Whether any probe is asked for."""
        return bool(self.functions or self.lines)


@dataclass
class FlagProbes:
    """The probe definitions the flags make (wire format), validated, and a line
    for each flag saying what it became."""

    definitions: list[dict[str, Any]]
    probeset: ProbeSet
    notes: list[str]

    def ir_scope(self, binary: str) -> list[str]:
        """The functions the IR must describe for these probes: each function
        probe's, and for a line probe those declared in its file (a line inlined
        into a function of another file is not searched: the whole-binary IR of the
        pipeline finds it)."""
        from .listing import functions_in_file

        names = {d["where"]["methodName"] for d in self.definitions if "methodName" in d["where"]}
        files = {d["where"].get("sourceFile") for d in self.definitions} - {None}
        for file in sorted(f for f in files if f):
            names.update(functions_in_file(binary, file))
        return sorted(names)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def probe_id(text: str) -> str:
    """A probe id for a function name or a ``file:line``: what a file name may hold
    (goldens are named after probe ids), ``main.(*Cart).Add`` -> ``main.Cart.Add``."""
    name = text.replace("(*", "").replace(")", "").replace(":", "_").replace("/", "_")
    return _UNSAFE.sub("_", name).strip("_.") or "probe"


def _line(text: str) -> tuple[str, int]:
    file, sep, number = text.rpartition(":")
    if not sep or not file or not number.isdigit() or int(number) <= 0:
        raise UsageError(f"--line {text!r}: give FILE:LINE, e.g. --line main.go:42")
    return file, int(number)


def _expression(flag: str, text: str) -> Any:
    from .expr.dsl import parse_dsl

    try:
        return parse_dsl(text)
    except GodiError as e:
        raise UsageError(f"{flag} {text!r}: {e}") from e


def _segments(text: str) -> list[dict[str, Any]]:
    from .expr.dsl import split_template

    try:
        return split_template(text)
    except GodiError as e:
        raise UsageError(f"--template {text!r}: {e}") from e


def _expand(binary: str, patterns: tuple[str, ...], cap: int) -> tuple[list[str], list[str]]:
    """The function names of ``-f`` (globs expanded, in order, without repeats) and
    a note per glob."""
    from .listing import binary_functions, is_glob, matching, probeable_program

    names: list[str] = []
    notes: list[str] = []
    known: list[str] | None = None
    for pattern in patterns:
        if not pattern.strip():
            raise UsageError("-f: empty function name")
        if not is_glob(pattern):
            names.append(pattern)
            continue
        if known is None:
            known = binary_functions(binary)
        found = matching(known, pattern)
        if len(found) > cap:
            raise UsageError(
                f"-f {pattern!r} matches {len(found)} functions, more than the cap of {cap}: "
                "narrow the pattern (`godi ls BINARY PATTERN` lists them) or raise "
                "--max-functions"
            )
        # Only what DWARF describes can be probed (not assembly, not the
        # compiler's wrappers without debug information).
        described = {f.name for f in probeable_program(binary, found).functions} if found else set()
        kept = [n for n in found if n in described]
        if not kept:
            raise UsageError(
                f"-f {pattern!r} matches no probe-able function of {binary} "
                "(`godi ls BINARY` lists them)"
            )
        notes.append(f"-f {pattern!r}: {len(kept)} function{'s' if len(kept) != 1 else ''}")
        names.extend(kept)
    unique = list(dict.fromkeys(names))
    if len(unique) > cap:
        raise UsageError(
            f"-f: {len(unique)} functions in all, more than the cap of {cap}: "
            "narrow the patterns or raise --max-functions"
        )
    return unique, notes


def flag_probes(binary: str, flags: ProbeFlags) -> FlagProbes:
    """The probe definitions ``flags`` make for ``binary``; raises ``UsageError``
    for a bad flag, ``BinaryError`` when globs cannot be expanded against the
    binary."""
    if not flags.any:
        raise UsageError("no probe: give -f FUNC or --line FILE:LINE (or --probes FILE)")
    if flags.depth is not None and flags.depth < 0:
        raise UsageError("--depth must be 0 or more")
    if flags.rate is not None and flags.rate < 0:
        raise UsageError("--rate must be 0 (no limit) or more")
    lines = [_line(t) for t in flags.lines]
    common: dict[str, Any] = {"version": 1, "type": "LOG_PROBE", "language": "go"}
    common["captureSnapshot"] = True
    if flags.depth is not None:
        common["capture"] = {"maxReferenceDepth": flags.depth}
    if flags.rate is not None:
        common["sampling"] = {"snapshotsPerSecond": flags.rate}
    if flags.when is not None:
        common["when"] = {"dsl": flags.when, "json": _expression("--when", flags.when)}
    if flags.template is not None:
        common["template"] = flags.template
        common["segments"] = _segments(flags.template)
    functions, notes = _expand(binary, flags.functions, flags.max_functions)
    definitions: list[dict[str, Any]] = []
    used: set[str] = set()

    def unique(base: str) -> str:
        pid, n = base, 1
        while pid in used:
            n += 1
            pid = f"{base}-{n}"
        used.add(pid)
        return pid

    for name in functions:
        definitions.append({"id": unique(probe_id(name)), "where": {"methodName": name}, **common})
    for file, number in lines:
        where = {"sourceFile": file, "lines": [str(number)]}
        definitions.append({"id": unique(probe_id(f"{file}:{number}")), "where": where, **common})
    try:
        probeset = parse_probes(definitions, "the flags")
    except GodiError as e:
        raise UsageError(str(e)) from e
    if probeset.issues:
        raise UsageError("; ".join(f"{i.probe_id}: {i.message}" for i in probeset.issues))
    return FlagProbes(definitions, probeset, notes)


def dump_probes(path: str | Path, probes: FlagProbes) -> None:
    """Write the definitions as a probe file (pretty JSON, one probe a line block)."""
    from .artifacts import write_atomic

    write_atomic(path, (json.dumps(probes.definitions, indent=2) + "\n").encode())
