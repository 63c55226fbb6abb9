"""Snapshots for people: the captured-value tree in the terminal (``godi show``).

``value_text`` and ``children`` say how one captured value reads on a line and
what is under it; ``scopes`` lists a snapshot's captures (entry arguments, return
values, line locals...). The terminal renderer here and the HTML page of
``stages.report`` both walk values with them, so the two views agree.

Snapshots are untrusted (they quote the traced program's memory): every string
shown in the terminal has its control characters escaped, so a value cannot move
the cursor or change colours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Style",
    "children",
    "matches",
    "render_snapshot",
    "scopes",
    "terminal_safe",
    "value_text",
]

Value = dict[str, Any]


def _is_string(v: Value) -> bool:
    return str(v.get("type", "")).lstrip("*") == "string"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_text(v: Value, limit: int = 80) -> str:
    """One line for a captured value: its scalar (strings quoted), ``nil``, or a
    summary of what it holds (``{3 fields}``, ``[len 3]``, ``map[len 2]``); ``...``
    marks a truncated value. Cut to about ``limit`` characters. The
    ``notCapturedReason`` is not part of it (see ``reason``)."""
    if not isinstance(v, dict):
        return repr(v)
    parts: list[str] = []
    if v.get("isNull"):
        parts.append("nil")
    elif isinstance(v.get("value"), str):
        raw = v["value"]
        parts.append(_quote(raw) if _is_string(v) else raw)
    elif "entries" in v:
        parts.append(f"map[len {v.get('size', len(v['entries']))}]")
    elif "elements" in v:
        parts.append(f"[len {v.get('size', len(v['elements']))}]")
    elif "len" in v or "cap" in v:
        parts.append(f"chan(len={v.get('len', '?')}, cap={v.get('cap', '?')})")
    elif isinstance(v.get("fields"), dict):
        n = len(v["fields"])
        parts.append("{" + (f"{n} field" if n == 1 else f"{n} fields") + "}")
    if v.get("address") and not v.get("isNull"):
        parts.insert(0, f"@{v['address']}")
    if v.get("truncated"):
        parts.append("...")
    text = " ".join(parts)
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."


def reason(v: Value) -> str | None:
    """Why the value was not (entirely) captured, if it says."""
    r = v.get("notCapturedReason") if isinstance(v, dict) else None
    return r if isinstance(r, str) else None


def children(v: Value) -> list[tuple[str, Value]]:
    """What is under a value, named: struct fields (and a pointer's pointee fields)
    by name, elements as ``[i]``, map entries as ``[key]`` (a composite key: an entry
    node holding ``key`` and ``value``)."""
    if not isinstance(v, dict):
        return []
    out: list[tuple[str, Value]] = []
    fields = v.get("fields")
    if isinstance(fields, dict):
        out += [(str(k), x) for k, x in fields.items() if isinstance(x, dict)]
    elements = v.get("elements")
    if isinstance(elements, list):
        out += [(f"[{i}]", x) for i, x in enumerate(elements) if isinstance(x, dict)]
    entries = v.get("entries")
    if isinstance(entries, list):
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 2):
                continue
            key, val = entry
            if not (isinstance(key, dict) and isinstance(val, dict)):
                continue
            label = f"[{value_text(key, 40)}]"
            if children(key):
                out.append((label, {"type": "entry", "fields": {"key": key, "value": val}}))
            else:
                out.append((label, val))
    return out


def scopes(snapshot: dict[str, Any]) -> list[tuple[str, dict[str, Value]]]:
    """The captured scopes of a snapshot, titled: ``entry``, ``line 12``,
    ``return`` (arguments first, then locals, then capture expressions)."""
    body = snapshot.get("debugger", {}).get("snapshot", {})
    captures = body.get("captures") or {}
    ordered: list[tuple[str, Any]] = [("entry", captures.get("entry"))]
    lines = captures.get("lines")
    if isinstance(lines, dict):
        ordered += [(f"line {n}", lines[n]) for n in sorted(lines, key=_line_key)]
    ordered.append(("return", captures.get("return")))
    out = []
    for title, scope in ordered:
        if not isinstance(scope, dict):
            continue
        merged: dict[str, Value] = {}
        for part in ("arguments", "locals", "captureExpressions"):
            values = scope.get(part)
            if isinstance(values, dict):
                merged.update((str(k), x) for k, x in values.items() if isinstance(x, dict))
        if merged:
            out.append((title, merged))
    return out


def _line_key(n: str) -> tuple[int, str]:
    return (int(n), n) if n.isdigit() else (1 << 62, n)


def probe_id(snapshot: dict[str, Any]) -> str:
    """The id of the probe that made a snapshot ("" when it has none)."""
    probe = snapshot.get("debugger", {}).get("snapshot", {}).get("probe", {})
    return str(probe.get("id", "")) if isinstance(probe, dict) else ""


def _words(v: Value) -> Iterator[str]:
    yield str(v.get("type", ""))
    yield value_text(v, 1 << 20)
    for name, child in children(v):
        yield name
        yield from _words(child)


def matches(snapshot: dict[str, Any], text: str) -> bool:
    """Whether ``text`` (case-insensitive) occurs in the message, the probe id, or a
    captured name, type or value of the snapshot."""
    needle = text.casefold()
    haystack: list[str] = [str(snapshot.get("message", "")), probe_id(snapshot)]
    for _, values in scopes(snapshot):
        for name, v in values.items():
            haystack.append(name)
            haystack.extend(_words(v))
    return any(needle in h.casefold() for h in haystack)


def select(
    snapshots: Iterable[dict[str, Any]], probes: Iterable[str] = (), text: str | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, snapshot) of those from the given probes (all when none) that
    contain ``text``."""
    wanted = set(probes)
    for i, s in enumerate(snapshots):
        if wanted and probe_id(s) not in wanted:
            continue
        if text and not matches(s, text):
            continue
        yield i, s


# ------------------------------------------------------------------ terminal

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters (escape sequences, newlines) shown as
    ``\\xNN`` / ``\\uNNNN``, so that captured data cannot drive the terminal."""
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


@dataclass(frozen=True)
class Style:
    """ANSI colours, or none."""

    colour: bool = False

    def _sgr(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and text else text

    def header(self, t: str) -> str:
        return self._sgr("1", t)

    def probe(self, t: str) -> str:
        return self._sgr("1;35", t)

    def name(self, t: str) -> str:
        return self._sgr("36", t)

    def type(self, t: str) -> str:
        return self._sgr("2", t)

    def value(self, t: str) -> str:
        return self._sgr("32", t)

    def reason(self, t: str) -> str:
        return self._sgr("33", t)

    def error(self, t: str) -> str:
        return self._sgr("31", t)

    def dim(self, t: str) -> str:
        return self._sgr("2", t)


def format_duration(ns: Any) -> str:
    if not isinstance(ns, int):
        return ""
    for unit, scale in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns} ns"


def format_time(ms: Any) -> str:
    if not isinstance(ms, int) or ms <= 0:
        return ""
    try:
        t = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _header(position: int, s: dict[str, Any], style: Style) -> str:
    body = s.get("debugger", {}).get("snapshot", {})
    location = body.get("probe", {}).get("location", {}) if isinstance(body, dict) else {}
    where = location.get("method") or location.get("file") or ""
    lines = location.get("lines") or []
    if location.get("file") and lines:
        where = f"{where} ({location['file']}:{lines[0]})"
    goroutine = s.get("logger", {}).get("thread_id")
    bits = [
        format_time(s.get("timestamp")),
        f"took {format_duration(s.get('duration'))}" if isinstance(s.get("duration"), int) else "",
        f"goroutine {goroutine}" if isinstance(goroutine, int) and goroutine else "",
    ]
    extra = "  ".join(b for b in bits if b)
    return (
        f"{style.dim(f'#{position}')} {style.probe(terminal_safe(probe_id(s)))}  "
        f"{style.header(terminal_safe(str(where)))}"
        + (f"  {style.dim(terminal_safe(extra))}" if extra else "")
    )


def _value_lines(
    name: str, v: Value, level: int, indent: int, depth: int, width: int, style: Style
) -> Iterator[str]:
    pad = "  " * indent
    text = value_text(v)
    why = reason(v)
    type_name = terminal_safe(str(v.get("type", "?")))
    line = f"{pad}{style.name(terminal_safe(name))}: {style.type(type_name)}"
    if text:
        line += f" = {style.value(terminal_safe(text))}"
    if why:
        line += f"  {style.reason(terminal_safe(f'<not captured: {why}>'))}"
    yield line
    kids = children(v)
    if not kids:
        return
    if level >= depth:
        yield f"{pad}  {style.dim(f'... {len(kids)} more below (--depth {depth})')}"
        return
    for child_name, child in kids[:width]:
        yield from _value_lines(child_name, child, level + 1, indent + 1, depth, width, style)
    if len(kids) > width:
        yield f"{pad}  {style.dim(f'... {len(kids) - width} more (--width {width})')}"


def render_snapshot(
    position: int,
    snapshot: dict[str, Any],
    *,
    depth: int = 3,
    width: int = 10,
    stack: bool = False,
    style: Style | None = None,
) -> str:
    """One snapshot as a block of text: a header (position, probe, location, time,
    duration, goroutine), the message, then each scope's values as an indented tree
    with their types, nested values below ``depth`` levels and children past
    ``width`` per value elided (with a count); evaluation errors, and the stack when
    asked."""
    st = style or Style()
    out = [_header(position, snapshot, st)]
    message = snapshot.get("message")
    if isinstance(message, str) and message:
        out.append("  " + terminal_safe(message))
    for title, values in scopes(snapshot):
        out.append("  " + st.header(title))
        names = list(values.items())
        for name, v in names[:width]:
            out.extend(_value_lines(name, v, 1, 2, depth, width, st))
        if len(names) > width:
            out.append(f"    {st.dim(f'... {len(names) - width} more (--width {width})')}")
    body = snapshot.get("debugger", {}).get("snapshot", {})
    for error in body.get("evaluationErrors") or ():
        if isinstance(error, dict):
            text = f"! {error.get('expr', '')}: {error.get('message', '')}"
            out.append("  " + st.error(terminal_safe(text)))
    frames = body.get("stack") if stack else None
    if isinstance(frames, list) and frames:
        out.append("  " + st.header("stack"))
        for f in frames:
            if isinstance(f, dict):
                where = f"{f.get('fileName', '?')}:{f.get('lineNumber', '?')}"
                out.append(
                    f"    {terminal_safe(str(f.get('function', '?')))}  "
                    f"{st.dim(terminal_safe(where))}"
                )
    return "\n".join(out) + "\n"
