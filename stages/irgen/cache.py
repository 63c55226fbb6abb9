"""A cache of generated IR keyed by the binary's build id, for reruns.

``generate_ir_cached`` returns the IR of a binary from
``<cache>/ir/<build-id>-<key>.json`` when an earlier run stored it, so an
unchanged binary costs reading its build id and one file. The key hashes what
else decides the IR: the scope (the wanted function names, or the whole
binary), the IR format version, godi's version and the source of irgen itself,
so that a changed irgen never serves a stale IR.

``generate_ir_json_cached`` is the same for a caller that writes ``ir.json``:
a hit costs no decoding at all.

The cache lives in ``$GODI_CACHE_DIR`` or ``$XDG_CACHE_HOME/godi`` or
``~/.cache/godi``; ``GODI_IR_CACHE=0`` (or ``cache=False``) turns it off. A
corrupt or unreadable entry is regenerated, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Collection
from functools import cache
from pathlib import Path

import msgspec

from .. import __version__
from ..artifacts import write_atomic
from ..ir import IR_FORMAT_VERSION, Program, decode_program, encode_program
from .elf import open_elf

log = logging.getLogger(__name__)

CACHE_ENV = "GODI_IR_CACHE"
CACHE_DIR_ENV = "GODI_CACHE_DIR"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_BUILD_ID_KEY = b'"build_id":'


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


@cache
def _irgen_digest() -> str:
    """A hash of irgen's own source and the IR's: a new irgen means new keys."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted([*here.glob("*.py"), here.parent / "ir.py"]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_path(
    build_id: str, functions: Collection[str] | None, directory: Path, symbols: bool = True
) -> Path:
    """The cache file for a binary's build id and a scope."""
    digest = hashlib.sha256()
    scope = "\n".join(sorted(set(functions))) if functions is not None else "\0all"
    if not symbols:
        scope += "\0no symbols"
    for part in (scope, str(IR_FORMAT_VERSION), __version__, _irgen_digest()):
        digest.update(part.encode() + b"\0")
    return directory / f"{_UNSAFE.sub('_', build_id)}-{digest.hexdigest()[:16]}.json"


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
        return generate_ir(path, functions, symbols=symbols)
    entry, build_id = _entry(path, functions, directory, symbols)
    try:
        program = decode_program(entry.read_bytes())
    except FileNotFoundError:
        pass
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        log.warning("%s: unusable IR cache entry, regenerating: %s", entry, e)
    else:
        if program.binary.build_id == build_id:
            log.debug("%s: IR from the cache (%s)", path, entry)
            return program
    program = generate_ir(path, functions, symbols=symbols)
    _store(entry, encode_program(program))
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
        return encode_program(generate_ir(path, functions, symbols=symbols))
    entry, build_id = _entry(path, functions, directory, symbols)
    try:
        data = entry.read_bytes()
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("%s: unreadable IR cache entry, regenerating: %s", entry, e)
    else:
        if _BUILD_ID_KEY + msgspec.json.encode(build_id) in data:
            return data
        log.warning("%s: IR cache entry for another binary, regenerating", entry)
    data = encode_program(generate_ir(path, functions, symbols=symbols))
    _store(entry, data)
    return data


def _entry(
    path: str,
    functions: Collection[str] | None,
    directory: str | os.PathLike[str] | None,
    symbols: bool,
) -> tuple[Path, str]:
    with open_elf(path) as image:
        build_id = image.build_id()
    return cache_path(
        build_id, functions, Path(directory) if directory else cache_dir(), symbols
    ), build_id


def _store(entry: Path, data: bytes) -> None:
    try:
        write_atomic(entry, data)
    except OSError as e:
        log.warning("%s: cannot store the IR in the cache: %s", entry, e)
