"""The IR cache: keyed by the binary's content, hits, misses by scope, opt-out, corrupt
entries, eviction of the least recently used entries past its size bound."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from stages.ir import encode_program
from stages.irgen import cache as ir_cache
from stages.irgen import generate_ir


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records each real generation (the cache calls ``stages.irgen.generate_ir``)."""
    import stages.irgen

    seen: list[object] = []
    real = stages.irgen.generate_ir

    def counting(path: str, functions: object = None, symbols: bool = True) -> object:
        seen.append(functions)
        return real(path, functions, symbols=symbols)  # type: ignore[arg-type]

    monkeypatch.setattr(stages.irgen, "generate_ir", counting)
    return seen


def test_second_run_is_served_from_the_cache(
    example_binary: Path, tmp_path: Path, calls: list[object]
) -> None:
    first = ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    second = ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    assert second == first == generate_ir(str(example_binary), ["main.greet"])
    assert len(calls) == 1
    (entry,) = tmp_path.iterdir()
    assert entry.name.startswith(hashlib.sha256(example_binary.read_bytes()).hexdigest() + "-")
    assert first.binary.sha256 == hashlib.sha256(example_binary.read_bytes()).hexdigest()
    assert entry.read_bytes() == encode_program(first)


def test_scope_is_part_of_the_key(
    example_binary: Path, tmp_path: Path, calls: list[object]
) -> None:
    ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    ir_cache.generate_ir_cached(str(example_binary), ["main.walk"], directory=tmp_path)
    # The same names in another order are the same scope.
    ir_cache.generate_ir_cached(str(example_binary), ["main.walk", "main.walk"], directory=tmp_path)
    assert len(calls) == 2
    assert len(list(tmp_path.iterdir())) == 2


def test_opt_out(
    example_binary: Path, tmp_path: Path, calls: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    ir_cache.generate_ir_cached(
        str(example_binary), ["main.greet"], cache=False, directory=tmp_path
    )
    monkeypatch.setenv(ir_cache.CACHE_ENV, "0")
    ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    assert len(calls) == 2 and not list(tmp_path.iterdir())


def test_corrupt_entry_is_regenerated(
    example_binary: Path, tmp_path: Path, calls: list[object]
) -> None:
    program = ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(b"{not json")
    again = ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    assert again == program and len(calls) == 2
    assert entry.read_bytes() == encode_program(program)


def test_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ir_cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ir_cache.cache_dir() == tmp_path / "godi" / "ir"
    monkeypatch.setenv(ir_cache.CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert ir_cache.cache_dir() == tmp_path / "elsewhere" / "ir"


def test_json_bytes_are_served_without_decoding(
    example_binary: Path, tmp_path: Path, calls: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ir_cache.generate_ir_json_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    assert data == encode_program(generate_ir(str(example_binary), ["main.greet"]))
    # A hit must not decode (nor regenerate): make decoding fail loudly.
    monkeypatch.setattr(ir_cache, "decode_program", lambda data: pytest.fail("decoded"))
    again = ir_cache.generate_ir_json_cached(
        str(example_binary), ["main.greet"], directory=tmp_path
    )
    assert again == data and len(calls) == 1
    # The Program path shares the entries.
    monkeypatch.undo()
    program = ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=tmp_path)
    assert encode_program(program) == data and len(calls) == 1


def test_symbols_opt_out_is_its_own_entry(
    example_binary: Path, tmp_path: Path, calls: list[object]
) -> None:
    with_symbols = ir_cache.generate_ir_cached(str(example_binary), [], directory=tmp_path)
    without = ir_cache.generate_ir_cached(
        str(example_binary), [], directory=tmp_path, symbols=False
    )
    assert with_symbols.symbols is not None and without.symbols is None
    assert len(calls) == 2


def _same_build_id_other_content(binary: Path, where: Path) -> Path:
    """A copy of ``binary`` with the same build id and other bytes (a changed byte of
    padding at the end of the file, past every section: the IR is the same)."""
    copy = where / "other"
    shutil.copy2(binary, copy)
    with open(copy, "ab") as f:
        f.write(b"\0")
    return copy


def test_the_key_is_the_content_not_the_build_id(
    example_binary: Path, tmp_path: Path, calls: list[object]
) -> None:
    cache = tmp_path / "cache"
    first = ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=cache)
    other = _same_build_id_other_content(example_binary, tmp_path)
    second = ir_cache.generate_ir_cached(str(other), ["main.greet"], directory=cache)
    assert second.binary.build_id == first.binary.build_id
    assert second.binary.sha256 == hashlib.sha256(other.read_bytes()).hexdigest()
    assert second.binary.sha256 != first.binary.sha256
    assert len(calls) == 2 and len(list(cache.iterdir())) == 2
    # The JSON path too: the other binary's bytes are not served for this one.
    data = ir_cache.generate_ir_json_cached(str(example_binary), ["main.greet"], directory=cache)
    assert data == encode_program(first) and len(calls) == 2


def test_an_entry_recording_another_binary_is_not_served(
    example_binary: Path, tmp_path: Path, calls: list[object]
) -> None:
    """An entry whose IR records other content (renamed, tampered) is regenerated."""
    cache = tmp_path / "cache"
    other = _same_build_id_other_content(example_binary, tmp_path)
    ir_cache.generate_ir_cached(str(other), ["main.greet"], directory=cache)
    (entry,) = cache.iterdir()
    mine = ir_cache.cache_path(
        hashlib.sha256(example_binary.read_bytes()).hexdigest(), ["main.greet"], cache
    )
    entry.rename(mine)
    data = ir_cache.generate_ir_json_cached(str(example_binary), ["main.greet"], directory=cache)
    assert len(calls) == 2
    assert ir_cache.generate_ir_cached(str(example_binary), ["main.greet"], directory=cache) == (
        generate_ir(str(example_binary), ["main.greet"])
    )
    assert mine.read_bytes() == data and len(calls) == 2


def _entry(directory: Path, name: str, size: int, age: float) -> Path:
    path = directory / f"{name}.json"
    path.write_bytes(b"x" * size)
    when = 1_000_000_000 - age
    os.utime(path, (when, when))
    return path


def test_eviction_removes_the_least_recently_used_first(tmp_path: Path) -> None:
    old, middle, new = (
        _entry(tmp_path, "old", 400, 30),
        _entry(tmp_path, "middle", 400, 20),
        _entry(tmp_path, "new", 400, 10),
    )
    assert ir_cache.evict(tmp_path, 1200) == []
    assert ir_cache.evict(tmp_path, 1000) == [old]
    assert ir_cache.evict(tmp_path, 0, keep=new) == [middle]
    assert [p.name for p in tmp_path.iterdir()] == ["new.json"]


def test_a_hit_counts_as_a_use(
    example_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing past the bound evicts the entry used longest ago, not the oldest stored."""
    greet = ir_cache.generate_ir_json_cached(
        str(example_binary), ["main.greet"], directory=tmp_path
    )
    ir_cache.generate_ir_json_cached(str(example_binary), ["main.walk"], directory=tmp_path)
    entries = {p.name: p for p in tmp_path.iterdir()}
    for age, p in enumerate(sorted(entries.values(), key=lambda p: p.stat().st_mtime)):
        os.utime(p, (1_000_000_000 + age, 1_000_000_000 + age))  # greet older than walk
    walk_entry = max(entries.values(), key=lambda p: p.stat().st_mtime)
    assert (
        ir_cache.generate_ir_json_cached(str(example_binary), ["main.greet"], directory=tmp_path)
        == greet
    )  # a hit: greet is now the most recently used
    size = sum(p.stat().st_size for p in tmp_path.iterdir())
    monkeypatch.setenv(ir_cache.CACHE_MAX_ENV, str(size))
    ir_cache.generate_ir_json_cached(str(example_binary), ["main.sum"], directory=tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert walk_entry.name not in names and len(names) == 2


def test_stale_temporary_files_are_evicted_fresh_ones_kept(tmp_path: Path) -> None:
    stale = tmp_path / ".x.json.abc"
    stale.write_bytes(b"x" * 100)
    os.utime(stale, (1, 1))
    fresh = tmp_path / ".y.json.def"
    fresh.write_bytes(b"x" * 100)
    assert ir_cache.evict(tmp_path, 0) == [stale]
    assert fresh.exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ir_cache.DEFAULT_MAX_BYTES),
        ("1048576", 1 << 20),
        ("500M", 500 << 20),
        ("2G", 2 << 30),
        ("64k", 64 << 10),
        ("3GiB", 3 << 30),
        ("lots", ir_cache.DEFAULT_MAX_BYTES),
        ("-1", ir_cache.DEFAULT_MAX_BYTES),
    ],
)
def test_size_bound_from_the_environment(
    value: str | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(ir_cache.CACHE_MAX_ENV, raising=False)
    else:
        monkeypatch.setenv(ir_cache.CACHE_MAX_ENV, value)
    assert ir_cache.cache_max_bytes() == expected


def test_verbose_irgen_says_hit_or_miss(example_binary: Path, tmp_path: Path) -> None:
    from godi_cli import godi_env

    env = {"GODI_CACHE_DIR": str(tmp_path / "cache"), "GODI_IR_CACHE": "1"}
    args = ("-v", "irgen", str(example_binary), "-f", "main.greet", "-o", str(tmp_path / "ir.json"))
    first = godi_env(env, *args)
    assert first.returncode == 0, first.stderr
    assert "IR cache miss" in first.stderr and "IR stored in the cache" in first.stderr
    second = godi_env(env, *args)
    assert second.returncode == 0, second.stderr
    assert "IR cache hit" in second.stderr and "miss" not in second.stderr
    off = godi_env({**env, "GODI_IR_CACHE": "0"}, *args)
    assert "IR cache off" in off.stderr
