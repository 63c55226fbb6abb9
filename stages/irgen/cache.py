"""A cache of generated IR keyed by the content of the binary, for reruns.

``generate_ir_cached`` returns the IR of a binary from
``<cache>/ir/<sha256>-<key>.json`` when an earlier run stored it, so an
unchanged binary costs hashing its bytes (about 30 ms for 40 MB) and reading one
file. ``<sha256>`` is the hash of the binary's bytes (never its build id, which
two different programs can share); the key hashes what else decides the IR: the
scope (the wanted function names, or the whole binary), the IR format version,
godi's version and the source of irgen itself, so that a changed irgen never
serves a stale IR. An entry is used only if the IR in it records that same hash.

``generate_ir_json_cached`` is the same for a caller that writes ``ir.json``:
a hit costs no decoding at all.

The cache lives in ``$GODI_CACHE_DIR/ir`` or ``$XDG_CACHE_HOME/godi/ir`` or
``~/.cache/godi/ir``; ``GODI_IR_CACHE=0`` (or ``cache=False``) turns it off.
Its size is bounded by ``$GODI_IR_CACHE_MAX`` (bytes, or with a K, M or G
suffix; default 1G): storing an entry evicts the least recently used ones (a hit
counts as a use) until the rest fits. A corrupt or unreadable entry is
regenerated, never an error; ``rm -r`` of the directory clears it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Collection
from functools import cache
from pathlib import Path

import msgspec

from .. import __version__
from ..artifacts import write_atomic
from ..buildid import file_sha256
from ..ir import IR_FORMAT_VERSION, Program, decode_program, encode_program

log = logging.getLogger(__name__)

CACHE_ENV = "GODI_IR_CACHE"
CACHE_DIR_ENV = "GODI_CACHE_DIR"
CACHE_MAX_ENV = "GODI_IR_CACHE_MAX"
DEFAULT_MAX_BYTES = 1 << 30
STALE_TEMPORARY_S = 3600
"""A temporary file older than this was left by a writer that died: evictable."""
_SIZE = re.compile(r"\s*(\d+)\s*([KMG]?)i?B?\s*", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def cache_dir() -> Path:
    """Where cached IR goes: ``$GODI_CACHE_DIR/ir`` or the XDG cache's ``godi/ir``."""
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        return Path(root) / "ir"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "godi" / "ir"


def cache_enabled() -> bool:
    """Whether ``$GODI_IR_CACHE`` allows the cache (anything but ``0``/``no``/``off``)."""
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "no", "off", "false")


def cache_max_bytes() -> int:
    """The size bound of ``$GODI_IR_CACHE_MAX`` (``500M``, ``2G``, ``1048576``...).

    A value that is not a size is reported (a warning) and the default is used.
    """
    raw = os.environ.get(CACHE_MAX_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_BYTES
    m = _SIZE.fullmatch(raw)
    if m is None:
        log.warning(
            "%s=%r is not a size (such as 500M or 2G): using %d bytes",
            CACHE_MAX_ENV,
            raw,
            DEFAULT_MAX_BYTES,
        )
        return DEFAULT_MAX_BYTES
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


@cache
def _irgen_digest() -> str:
    """A hash of irgen's own source and the IR's: a new irgen means new keys."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    # abi.py: where the register ABI puts arguments, which irgen writes into the IR.
    for path in sorted([*here.glob("*.py"), here.parent / "ir.py", here.parent / "abi.py"]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_path(
    content: str, functions: Collection[str] | None, directory: Path, symbols: bool = True
) -> Path:
    """The cache file for a binary of content hash ``content`` (hex SHA-256) and a scope."""
    if not re.fullmatch(r"[0-9a-f]{64}", content):
        raise ValueError(f"not a hex SHA-256: {content!r}")
    digest = hashlib.sha256()
    scope = "\n".join(sorted(set(functions))) if functions is not None else "\0all"
    if not symbols:
        scope += "\0no symbols"
    for part in (scope, str(IR_FORMAT_VERSION), __version__, _irgen_digest()):
        digest.update(part.encode() + b"\0")
    return directory / f"{content}-{digest.hexdigest()[:16]}.json"


def generate_ir_cached(
    path: str,
    functions: Collection[str] | None = None,
    *,
    cache: bool | None = None,
    directory: str | os.PathLike[str] | None = None,
    symbols: bool = True,
) -> Program:
    """``generate_ir(path, functions, symbols=symbols)``, served from or stored in the cache.

    ``cache`` None follows ``$GODI_IR_CACHE``; ``directory`` overrides
    ``cache_dir()``. Raises what ``generate_ir`` raises.
    """
    from . import generate_ir  # the package imports this module

    if not (cache_enabled() if cache is None else cache):
        log.info("%s: IR cache off (%s=0): generating the IR", path, CACHE_ENV)
        return generate_ir(path, functions, symbols=symbols)
    entry, content = _entry(path, functions, directory, symbols)
    try:
        program = decode_program(entry.read_bytes())
    except FileNotFoundError:
        pass
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        log.warning("%s: unusable IR cache entry, regenerating: %s", entry, e)
    else:
        if program.binary.sha256 == content:
            _hit(path, entry)
            return program
        log.warning("%s: IR cache entry for another binary, regenerating", entry)
    log.info("%s: IR cache miss: generating the IR", path)
    program = generate_ir(path, functions, symbols=symbols)
    _store(entry, encode_program(program), program.binary.sha256 == content)
    return program


def generate_ir_json_cached(
    path: str,
    functions: Collection[str] | None = None,
    *,
    cache: bool | None = None,
    directory: str | os.PathLike[str] | None = None,
    symbols: bool = True,
) -> bytes:
    """The IR as ``ir.json`` bytes, like ``generate_ir_cached``, for writing out.

    A hit returns the stored bytes without decoding them (the reader of the
    written file checks them), which is what makes a rerun on a big binary
    near-instant.
    """
    from . import generate_ir  # the package imports this module

    if not (cache_enabled() if cache is None else cache):
        log.info("%s: IR cache off (%s=0): generating the IR", path, CACHE_ENV)
        return encode_program(generate_ir(path, functions, symbols=symbols))
    entry, content = _entry(path, functions, directory, symbols)
    try:
        data = entry.read_bytes()
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("%s: unreadable IR cache entry, regenerating: %s", entry, e)
    else:
        if _records(data, content):
            _hit(path, entry)
            return data
        log.warning("%s: IR cache entry for another binary, regenerating", entry)
    log.info("%s: IR cache miss: generating the IR", path)
    program = generate_ir(path, functions, symbols=symbols)
    data = encode_program(program)
    _store(entry, data, program.binary.sha256 == content)
    return data


def _records(data: bytes, content: str) -> bool:
    """Whether IR bytes record the binary content hash ``content`` (without decoding)."""
    return b'"sha256":"' + content.encode() + b'"' in data


def _entry(
    path: str,
    functions: Collection[str] | None,
    directory: str | os.PathLike[str] | None,
    symbols: bool,
) -> tuple[Path, str]:
    content = file_sha256(path)
    where = Path(directory) if directory else cache_dir()
    return cache_path(content, functions, where, symbols), content


def _hit(path: str, entry: Path) -> None:
    log.info("%s: IR cache hit (%s)", path, entry)
    try:
        os.utime(entry)  # a use: the least recently used entries are evicted first
    except OSError as e:
        log.debug("%s: cannot mark as used: %s", entry, e)


def _store(entry: Path, data: bytes, same_binary: bool) -> None:
    if not same_binary:
        # The file changed between hashing it and reading it: the IR is of the new
        # bytes, the key of the old ones.
        log.warning("%s changed while irgen read it: not cached", entry)
        return
    try:
        write_atomic(entry, data, private=True)
    except OSError as e:
        log.warning("%s: cannot store the IR in the cache: %s", entry, e)
        return
    log.info("IR stored in the cache: %s", entry)
    evict(entry.parent, cache_max_bytes(), keep=entry)


def evict(directory: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used entries of ``directory`` (by modification time,
    which a hit refreshes) until the others total at most ``max_bytes``; ``keep``
    (the entry just stored) is never removed. Returns the removed paths.

    Temporary files of writers that died long ago count and go first; those of
    writers at work are left alone. Entries another process removes meanwhile
    are skipped.
    """
    now = time.time()
    files: list[tuple[float, int, Path]] = []
    try:
        listing = list(os.scandir(directory))
    except OSError as e:
        log.warning("%s: cannot list the IR cache: %s", directory, e)
        return []
    for item in listing:
        try:
            st = item.stat(follow_symlinks=False)
        except OSError:
            continue
        if not item.is_file(follow_symlinks=False):
            continue
        path = Path(item.path)
        if item.name.startswith("."):
            if now - st.st_mtime < STALE_TEMPORARY_S:
                continue
            files.append((float("-inf"), st.st_size, path))
        elif item.name.endswith(".json"):
            files.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in files)
    removed: list[Path] = []
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("%s: cannot evict from the IR cache: %s", path, e)
            continue
        total -= size
        removed.append(path)
        log.info("IR cache over %d bytes: evicted %s", max_bytes, path.name)
    return removed
