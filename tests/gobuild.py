"""Building the Go test programs with the pinned toolchains, cached by source hash.

``build_go(src_dir, go_version, out_path, ldflags="")`` builds the main package in
``src_dir`` with ``<repo>/.tools/go/<version>/go/bin/go`` and returns the binary's
path. Builds are cached under ``<repo>/artifacts/test-bins/`` by a hash of the
sources, the Go version and the flags, so a second test session reuses them. A
missing toolchain skips the calling test (``pytest.skip``) with the reason.

``go_versions()`` is the list the tests parametrise over: ``$GODI_GO_VERSIONS`` when
set, else ``scripts/go-versions.txt``; ``scripts/go-versions-all.txt`` lists one patch
of every supported minor version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO / "artifacts" / "test-bins"
GO_VERSIONS_FILE = REPO / "scripts" / "go-versions.txt"


GO_VERSIONS_ENV = "GODI_GO_VERSIONS"


def go_versions() -> list[str]:
    """The Go versions the tests build with, oldest first.

    ``$GODI_GO_VERSIONS`` (space-separated, e.g. ``"$(cat scripts/go-versions-all.txt)"``)
    when set and not blank, else the pinned ``scripts/go-versions.txt``.
    """
    chosen = os.environ.get(GO_VERSIONS_ENV, "").split()
    versions = chosen or GO_VERSIONS_FILE.read_text().split()
    return sorted(set(versions), key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()))


def go_tool(go_version: str) -> Path:
    """Where the ``go`` command of ``go_version`` lives (it may not exist)."""
    return REPO / ".tools" / "go" / go_version / "go" / "bin" / "go"


# Flags of every test build. -buildvcs=false keeps the repository's commit out of
# the binaries, so that they (and goldens naming their build ids) are the same
# on every checkout.
GOFLAGS = "-trimpath -buildvcs=false"


def _source_hash(src_dir: Path, go_version: str, ldflags: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"go{go_version}\0ldflags={ldflags}\0goflags={GOFLAGS}\0".encode())
    for path in sorted(p for p in src_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(src_dir)).encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def build_go(
    src_dir: str | os.PathLike[str],
    go_version: str,
    out_path: str | os.PathLike[str] | None = None,
    ldflags: str = "",
) -> Path:
    """Build the Go main package in ``src_dir`` with Go ``go_version``.

    Returns ``out_path`` (a copy of the cached binary), or the cached binary itself
    when ``out_path`` is None. Skips the test when the toolchain is missing; raises
    ``RuntimeError`` with the compiler output when the build fails.
    """
    src = Path(src_dir).resolve()
    go = go_tool(go_version)
    if not go.is_file():
        pytest.skip(f"Go {go_version} toolchain missing at {go} (run scripts/bootstrap.sh)")
    key = _source_hash(src, go_version, ldflags)
    cached = CACHE_DIR / f"{src.name}-go{go_version}-{key}"
    if not cached.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GOTOOLCHAIN": "local",
            "GOCACHE": os.environ.get("GOCACHE", str(Path(tempfile.gettempdir()) / "gocache")),
            "GOFLAGS": GOFLAGS,
            "GOPATH": os.environ.get("GOPATH", str(Path(tempfile.gettempdir()) / "gopath")),
        }
        with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=f".{cached.name}.") as tmp:
            built = Path(tmp) / src.name
            command = [str(go), "build", "-o", str(built)]
            if ldflags:
                command.append(f"-ldflags={ldflags}")
            command.append(".")
            result = subprocess.run(command, cwd=src, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(
                    f"go{go_version} build of {src} failed:\n{result.stdout}{result.stderr}"
                )
            os.replace(built, cached)  # atomic: concurrent sessions see all of it or none
    if out_path is None:
        return cached
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(cached, out)
    return out


def build_go_test(package: str, go_version: str) -> Path:
    """``go test -c PACKAGE`` of a standard-library package with Go ``go_version``,
    cached under ``CACHE_DIR`` by package and version (its sources are the
    toolchain's). Skips the test when the toolchain is missing."""
    go = go_tool(go_version)
    if not go.is_file():
        pytest.skip(f"Go {go_version} toolchain missing at {go} (run scripts/bootstrap.sh)")
    cached = CACHE_DIR / f"{package.replace('/', '_')}.test-go{go_version}"
    if not cached.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GOTOOLCHAIN": "local",
            "GOCACHE": os.environ.get("GOCACHE", str(Path(tempfile.gettempdir()) / "gocache")),
            "GOFLAGS": GOFLAGS,
        }
        with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=f".{cached.name}.") as tmp:
            built = Path(tmp) / "test"
            result = subprocess.run(
                [str(go), "test", "-c", "-o", str(built), package],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"go{go_version} test -c {package} failed:\n{result.stdout}{result.stderr}"
                )
            os.replace(built, cached)
    return cached
