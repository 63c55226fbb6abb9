"""Golden files of snapshots: one per probe, normalised, compared as text.

A golden file ``<dir>/<name>.json`` holds the snapshots of one probe, in the order
they were captured, as pretty JSON with sorted keys, after ``normalise_snapshot``
replaced what changes from run to run (ids, timestamps, durations, addresses,
goroutine ids) and put map entries in a stable order. ``golden_name`` makes the
file name from the probe id (untrusted input: escaped, never a path).

``write_goldens`` rewrites a directory from a run's snapshots; ``check_goldens``
compares without writing and says which probes changed (with a unified diff),
which have no golden yet and which goldens no probe produced. godi's own tests use
the same ``normalise_snapshot`` and ``render_json`` for their goldens.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .artifacts import write_atomic
from .errors import ArtifactError

__all__ = [
    "CheckResult",
    "Normalisation",
    "WriteResult",
    "check_goldens",
    "decode_snapshots",
    "golden_name",
    "load_snapshots",
    "normalise_snapshot",
    "probe_id_from_name",
    "render_json",
    "snapshots_by_probe",
    "write_goldens",
]

ADDRESS = "<address>"
MASKED = "<masked>"
_ADDRESS = re.compile(r"^0x[0-9a-f]+$")
_HEX = re.compile(r"0x[0-9a-f]+")


@dataclass(frozen=True)
class Normalisation:
    """What ``normalise_snapshot`` replaces beyond the volatile fields it always fixes.

    ``lines``: line numbers (stack frames, the probe's location) become 0 / ``"0"``,
    so that editing the source above a function does not change its goldens.
    ``stack_depth``: keep only the top frames of each stack (1: the probed function
    alone; 0: no stack); None keeps them all. ``mask``: regular expressions whose
    matches in messages, values and evaluation errors become ``<masked>`` (values
    the program derives from the time, a random seed, a temporary path...).
    ``sort_snapshots``: order each probe's snapshots by content instead of capture
    order (for probes hit from several goroutines at once).
    """

    lines: bool = False
    stack_depth: int | None = None
    mask: tuple[str, ...] = ()
    sort_snapshots: bool = False

    def masks(self) -> list[re.Pattern[str]]:
        """The compiled ``mask`` expressions; a bad one raises ``ArtifactError``."""
        out = []
        for expr in self.mask:
            try:
                out.append(re.compile(expr))
            except re.error as e:
                raise ArtifactError(expr, f"not a regular expression: {e}") from e
        return out


def normalise_snapshot(
    snapshot: dict[str, Any], options: Normalisation | None = None
) -> dict[str, Any]:
    """A copy of ``snapshot`` without what changes between two runs of the same program.

    Always: ``timestamp``, ``duration`` and the snapshot's ``timestamp`` become 0,
    its ``id`` ``"<id>"``, ``logger.thread_id`` (the goroutine id) 0 and a
    non-empty ``thread_name`` ``"<thread>"``; every captured ``address`` becomes
    ``"<address>"``, and so does that address where the message or an evaluation
    error shows it (an ``unsafe.Pointer``); map ``entries`` are sorted (Go
    randomises map layout per process). Then what ``options`` asks for. The input
    is not modified; members it lacks are left out.
    """
    opts = options or Normalisation()
    s: dict[str, Any] = json.loads(json.dumps(snapshot))
    masks = opts.masks()
    if "timestamp" in s:
        s["timestamp"] = 0
    if "duration" in s:
        s["duration"] = 0
    logger = s.get("logger")
    if isinstance(logger, dict):
        if "thread_id" in logger:
            logger["thread_id"] = 0
        if logger.get("thread_name"):
            logger["thread_name"] = "<thread>"
    debugger = s.get("debugger")
    body = debugger.get("snapshot") if isinstance(debugger, dict) else None
    addresses: set[str] = set()
    if isinstance(body, dict):
        if "id" in body:
            body["id"] = "<id>"
        if "timestamp" in body:
            body["timestamp"] = 0
        if "captures" in body:
            body["captures"] = _values(body["captures"], addresses, masks)
        _stack(body, opts)
        if opts.lines:
            location = body.get("probe", {}).get("location")
            if isinstance(location, dict) and isinstance(location.get("lines"), list):
                location["lines"] = ["0" for _ in location["lines"]]
        for error in body.get("evaluationErrors") or ():
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                error["message"] = _text(error["message"], addresses, masks)
    if isinstance(s.get("message"), str):
        s["message"] = _text(s["message"], addresses, masks)
    return s


def _values(v: Any, addresses: set[str], masks: list[re.Pattern[str]]) -> Any:
    """Captured values with addresses replaced (and remembered), masks applied and map
    entries sorted, children first so that entries sort on their normalised form."""
    if isinstance(v, list):
        return [_values(x, addresses, masks) for x in v]
    if not isinstance(v, dict):
        return v
    out = {k: _values(x, addresses, masks) for k, x in v.items()}
    address = out.get("address")
    if isinstance(address, str) and _ADDRESS.match(address):
        addresses.add(address)
        out["address"] = ADDRESS
    if masks and isinstance(out.get("value"), str):
        out["value"] = _mask(out["value"], masks)
    if isinstance(out.get("entries"), list):
        out["entries"] = sorted(out["entries"], key=lambda e: json.dumps(e, sort_keys=True))
    return out


def _text(text: str, addresses: set[str], masks: list[re.Pattern[str]]) -> str:
    if addresses:
        text = _HEX.sub(lambda m: ADDRESS if m.group() in addresses else m.group(), text)
    return _mask(text, masks)


def _mask(text: str, masks: list[re.Pattern[str]]) -> str:
    for m in masks:
        text = m.sub(MASKED, text)
    return text


def _stack(body: dict[str, Any], opts: Normalisation) -> None:
    stack = body.get("stack")
    if not isinstance(stack, list):
        return
    if opts.stack_depth is not None:
        stack = stack[: max(opts.stack_depth, 0)]
        if stack:
            body["stack"] = stack
        else:
            del body["stack"]
    if opts.lines:
        for frame in stack:
            if isinstance(frame, dict) and "lineNumber" in frame:
                frame["lineNumber"] = 0


def render_json(data: Any) -> str:
    """Pretty JSON with sorted keys and a final newline: the text of every golden."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ file names

# Probe ids are untrusted. A file name keeps ASCII letters, digits, '-', '_' and
# '.' (except a leading one: no hidden file, no '.' or '..') and percent-encodes
# every other UTF-8 byte, '%' included, so that two ids never share a name and no
# id can name a path. An id whose name would pass NAME_MAX is cut and suffixed with
# '~' and a hash of the whole id ('~' is never produced by the escaping).
_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_MAX_STEM = 200
_CUT_STEM = 180
SUFFIX = ".json"


def golden_name(probe_id: str) -> str:
    """The golden file name of ``probe_id``: ``<escaped id>.json``.

    The empty id is ``%.json`` (a lone ``%`` is never an escape). Any id gives a
    single, non-hidden path component of at most 205 bytes.
    """
    if probe_id == "":
        return "%" + SUFFIX
    raw = probe_id.encode("utf-8", "surrogatepass")
    stem = "".join(
        chr(b) if b in _KEEP and not (i == 0 and b == ord(".")) else f"%{b:02X}"
        for i, b in enumerate(raw)
    )
    if len(stem) > _MAX_STEM:
        digest = hashlib.sha256(raw).hexdigest()[:16]
        stem = f"{stem[:_CUT_STEM]}~{digest}"
    return stem + SUFFIX


_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def probe_id_from_name(name: str) -> str | None:
    """The probe id a golden file name was made from, or None when the name was cut
    (``~``) or is not one ``golden_name`` makes."""
    if not name.endswith(SUFFIX):
        return None
    stem = name[: -len(SUFFIX)]
    if stem == "%":
        return ""
    if "~" in stem:
        return None
    try:
        probe_id = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), stem)
        probe_id = probe_id.encode("latin-1").decode("utf-8", "surrogatepass")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return probe_id if golden_name(probe_id) == name else None


# --------------------------------------------------------------------- inputs


class _Probe(msgspec.Struct):
    id: str


class _Body(msgspec.Struct):
    probe: _Probe


class _Debugger(msgspec.Struct):
    snapshot: _Body


class _Shape(msgspec.Struct):
    """What the golden commands need of a snapshot: its probe id."""

    debugger: _Debugger


_shape = msgspec.json.Decoder(list[_Shape])


def load_snapshots(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The snapshots of a ``godi decode`` output: a JSON array, or JSON lines.

    Raises ``ArtifactError`` when the file cannot be read, is not JSON, or an
    element is not a snapshot with a ``debugger.snapshot.probe.id`` string.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ArtifactError(name, f"cannot read snapshots: {e.strerror}") from e
    text = data.lstrip()
    try:
        if text.startswith(b"[") or not text:
            items = msgspec.json.decode(data) if text else []
        else:
            items = [msgspec.json.decode(line) for line in data.splitlines() if line.strip()]
    except msgspec.DecodeError as e:
        raise ArtifactError(name, f"not a JSON array or JSON lines of snapshots: {e}") from e
    if not isinstance(items, list):
        raise ArtifactError(name, "not a JSON array or JSON lines of snapshots")
    try:
        msgspec.convert(items, list[_Shape])
    except msgspec.ValidationError as e:
        raise ArtifactError(name, f"not a list of snapshots: {e}") from e
    return items


def decode_snapshots(
    ir_path: str, program_dir: str, dump_path: str, service: str, tags: str
) -> list[dict[str, Any]]:
    """Decode a dump to snapshot dicts in memory (what ``godi decode`` would write)."""
    from .artifacts import load_layout, load_program, program_hash
    from .decode import decode

    program = load_program(ir_path)
    layout = load_layout(program_dir)
    ir_hash = hashlib.sha256(Path(ir_path).read_bytes()).hexdigest()
    with open(dump_path, "rb") as dump:
        run = decode(
            dump,
            program,
            layout,
            program_hash=program_hash(program_dir),
            ir_hash=ir_hash,
            service=service,
            tags=tags,
            name=dump_path,
        )
        return [msgspec.json.decode(raw) for raw in run.encoded()]


def snapshots_by_probe(
    snapshots: Iterable[dict[str, Any]], options: Normalisation | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Normalised snapshots grouped by probe id, each group in input order (or by
    content with ``sort_snapshots``)."""
    opts = options or Normalisation()
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in snapshots:
        probe_id = s["debugger"]["snapshot"]["probe"]["id"]
        groups.setdefault(probe_id, []).append(normalise_snapshot(s, opts))
    if opts.sort_snapshots:
        for group in groups.values():
            group.sort(key=lambda x: json.dumps(x, sort_keys=True))
    return groups


def _texts(groups: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[str, str, int]]:
    """File name -> (probe id, golden text, number of snapshots)."""
    out: dict[str, tuple[str, str, int]] = {}
    for probe_id in sorted(groups):
        group = groups[probe_id]
        out[golden_name(probe_id)] = (probe_id, render_json(group), len(group))
    return out


# ------------------------------------------------------------ golden directory


def _read_regular(path: Path) -> str:
    """A golden's text; a symlink, FIFO, device or directory raises ``ArtifactError``
    without being opened (a FIFO would block, a device could act, a link could
    point anywhere)."""
    try:
        mode = path.lstat().st_mode
    except OSError as e:
        raise ArtifactError(str(path), f"cannot read: {e.strerror}") from e
    if stat.S_ISLNK(mode):
        raise ArtifactError(str(path), "is a symbolic link")
    if not stat.S_ISREG(mode):
        raise ArtifactError(str(path), "is not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        why = "is a symbolic link" if e.errno == errno.ELOOP else f"cannot read: {e.strerror}"
        raise ArtifactError(str(path), why) from e
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the lstat
            raise ArtifactError(str(path), "is not a regular file")
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ArtifactError(str(path), f"is not UTF-8: {e}") from e


def _why(e: ArtifactError) -> str:
    """The message of an ``ArtifactError`` without its path."""
    return str(e)[len(e.path) + 2 :]


def _golden_files(directory: Path) -> Iterator[Path]:
    """The ``*.json`` entries of a golden directory, hidden ones left out."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ArtifactError(str(directory), f"cannot list goldens: {e.strerror}") from e
    for entry in entries:
        if entry.name.endswith(SUFFIX) and not entry.name.startswith("."):
            yield Path(entry.path)


def _is_golden(path: Path) -> bool:
    """Whether a file looks like one ``write_goldens`` made (an array of snapshots):
    only such files are removed as stale."""
    try:
        items = json.loads(_read_regular(path))
    except (ArtifactError, ValueError):
        return False
    try:
        msgspec.convert(items, list[_Shape])
    except msgspec.ValidationError:
        return False
    return True


@dataclass
class WriteResult:
    """What ``write_goldens`` did, by file name."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """``*.json`` files that are not goldens, left alone."""


def write_goldens(
    snapshots: Iterable[dict[str, Any]],
    directory: str | os.PathLike[str],
    options: Normalisation | None = None,
) -> WriteResult:
    """Make ``directory`` hold one golden per probe of ``snapshots``, and only those.

    Files are written atomically and only when their text changes; a golden of a
    probe that produced nothing this time is removed. Other files are kept: hidden
    ones, ones not named ``*.json`` and ``*.json`` files that are not goldens.
    """
    d = Path(directory)
    texts = _texts(snapshots_by_probe(snapshots, options))
    result = WriteResult()
    for path in _golden_files(d):
        if path.name in texts:
            continue
        if _is_golden(path):
            path.unlink()
            result.removed.append(path.name)
        else:
            result.kept.append(path.name)
    for name, (_, text, _) in texts.items():
        path = d / name
        try:
            old: str | None = _read_regular(path)
        except ArtifactError:
            old = None  # missing, or not a regular file: replaced, never followed
        if old == text:
            result.unchanged.append(name)
            continue
        (result.changed if old is not None or path.is_symlink() else result.created).append(name)
        write_atomic(path, text.encode())
    return result


@dataclass
class Changed:
    """A probe whose snapshots differ from its golden."""

    probe_id: str
    name: str
    diff: str


@dataclass
class CheckResult:
    """What ``check_goldens`` found; ``ok`` when nothing differs."""

    directory: str
    matched: list[str] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    added: list[tuple[str, str, int]] = field(default_factory=list)
    """(probe id, file name, snapshot count) of probes with no golden yet."""
    missing: list[tuple[str | None, str]] = field(default_factory=list)
    """(probe id when the name says it, file name) of goldens no probe produced."""
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """(file name, why) of goldens that could not be read (links, special files)."""

    @property
    def ok(self) -> bool:
        return not (self.changed or self.added or self.missing or self.unreadable)

    def report(self) -> str:
        """The diffs, then one line per added, missing or unreadable golden."""
        lines = [c.diff for c in self.changed]
        for probe_id, name, count in self.added:
            lines.append(
                f"added: probe {probe_id!r} has {count} snapshot(s) and no golden "
                f"{os.path.join(self.directory, name)}\n"
            )
        for maybe_id, name in self.missing:
            who = f"probe {maybe_id!r}" if maybe_id is not None else "its probe"
            lines.append(
                f"missing: {os.path.join(self.directory, name)} is a golden but "
                f"{who} produced no snapshot\n"
            )
        for name, why in self.unreadable:
            lines.append(f"unreadable: {os.path.join(self.directory, name)}: {why}\n")
        return "".join(lines)

    def summary(self) -> str:
        """One line: how many goldens matched and what differs."""
        if self.ok:
            return f"{len(self.matched)} goldens match {self.directory}"
        parts = [
            f"{len(self.changed)} changed" if self.changed else "",
            f"{len(self.added)} added" if self.added else "",
            f"{len(self.missing)} missing" if self.missing else "",
            f"{len(self.unreadable)} unreadable" if self.unreadable else "",
        ]
        what = ", ".join(p for p in parts if p)
        return f"goldens differ from {self.directory}: {what} ({len(self.matched)} match)"


def check_goldens(
    snapshots: Iterable[dict[str, Any]],
    directory: str | os.PathLike[str],
    options: Normalisation | None = None,
) -> CheckResult:
    """Compare a run's snapshots with the goldens of ``directory``, writing nothing.

    Each changed probe gets a unified diff from its golden to this run's text.
    Symbolic links and special files in the directory are reported, never opened
    through.
    """
    d = Path(directory)
    texts = _texts(snapshots_by_probe(snapshots, options))
    result = CheckResult(directory=str(directory))
    present: set[str] = set()
    for path in _golden_files(d):
        present.add(path.name)
        if path.name not in texts:
            try:
                _read_regular(path)
            except ArtifactError as e:
                result.unreadable.append((path.name, _why(e)))
                continue
            if _is_golden(path):  # other JSON files are not ours (write keeps them)
                result.missing.append((probe_id_from_name(path.name), path.name))
    for name, (probe_id, text, count) in texts.items():
        if name not in present:
            result.added.append((probe_id, name, count))
            continue
        try:
            want = _read_regular(d / name)
        except ArtifactError as e:
            result.unreadable.append((name, _why(e)))
            continue
        if want == text:
            result.matched.append(name)
            continue
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=os.path.join(str(directory), name),
                tofile=f"probe {probe_id} (this run)",
            )
        )
        result.changed.append(Changed(probe_id=probe_id, name=name, diff=diff))
    return result
