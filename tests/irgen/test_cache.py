"""The build-id keyed IR cache: hits, misses by scope, opt-out, corrupt entries."""

from __future__ import annotations

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
    assert entry.name.startswith(first.binary.build_id.replace("/", "_"))
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
