"""The ``godi`` command on bad input: one line on stderr, a non-zero exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions

EXAMPLE = REPO / "tests" / "progs" / "example"


def godi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stages", *args], capture_output=True, text=True, timeout=120
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("godi: error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def example_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = build_go(EXAMPLE, go_versions()[-1])
    out = tmp_path_factory.mktemp("ir") / "ir.json"
    result = godi("irgen", str(binary), "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_help_has_examples() -> None:
    for cmd in ("irgen", "codegen", "capture", "decode", "run", "probes", "ls", "schemas"):
        result = godi(cmd, "--help")
        assert result.returncode == 0
        assert "Examples:" in result.stdout, cmd


def test_not_an_elf_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    result = godi("irgen", str(text), "-o", str(tmp_path / "ir.json"))
    assert result.returncode == 2
    assert "not an ELF file" in one_error_line(result)
    assert not (tmp_path / "ir.json").exists()


def test_go_binary_without_dwarf(tmp_path: Path) -> None:
    binary = build_go(EXAMPLE, go_versions()[-1], ldflags="-w")
    result = godi("irgen", str(binary), "-o", str(tmp_path / "ir.json"))
    assert result.returncode == 2
    assert "no DWARF" in one_error_line(result)


def test_malformed_probe_file_names_the_json_path(example_ir: Path, tmp_path: Path) -> None:
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([{"id": "p", "where": {"methodName": 5}}]))
    result = godi(
        "codegen", "--ir", str(example_ir), "--probes", str(probes), "-o", str(tmp_path / "prog")
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert "$[0].where.methodName: 5 is not of type 'string'" in line


def test_probe_file_not_json(example_ir: Path, tmp_path: Path) -> None:
    probes = tmp_path / "probes.json"
    probes.write_text("[{")
    result = godi(
        "codegen", "--ir", str(example_ir), "--probes", str(probes), "-o", str(tmp_path / "prog")
    )
    assert result.returncode == 2
    assert "not valid JSON" in one_error_line(result)


def test_one_bad_probe_does_not_stop_the_others(example_ir: Path, tmp_path: Path) -> None:
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {"id": "bad", "where": {"methodName": 5}},
                {"id": "nope", "where": {"methodName": "main.nope"}},
                {"id": "metric", "type": "METRIC_PROBE", "where": {"methodName": "main.greet"}},
                {"id": "good", "where": {"methodName": "main.greet"}, "captureSnapshot": True},
            ]
        )
    )
    result = godi(
        "codegen", "--ir", str(example_ir), "--probes", str(probes), "-o", str(tmp_path / "prog")
    )
    assert result.returncode == 0, result.stderr
    assert "probe bad: invalid_probe: $[0].where.methodName" in result.stderr
    assert "probe nope: function_not_found" in result.stderr
    assert "probe metric: unsupported_probe_type" in result.stderr
    layout = json.loads((tmp_path / "prog" / "layout.json").read_text())
    assert {(p["probe_id"], p["kind"]) for p in layout["probes"]} == {
        ("good", "entry"),
        ("good", "return"),
    }


def test_no_usable_probe_is_an_error(example_ir: Path, tmp_path: Path) -> None:
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([{"id": "nope", "where": {"methodName": "main.nope"}}]))
    result = godi(
        "codegen", "--ir", str(example_ir), "--probes", str(probes), "-o", str(tmp_path / "prog")
    )
    assert result.returncode == 2
    assert "no probe can be installed" in result.stderr
    assert "main.nope" in result.stderr


def test_decode_refuses_a_dump_of_another_program(example_ir: Path, tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([{"id": "g", "where": {"methodName": "main.greet"}}]))
    assert (
        godi(
            "codegen", "--ir", str(example_ir), "--probes", str(probes), "-o", str(prog)
        ).returncode
        == 0
    )
    dump = tmp_path / "events.dump"
    dump.write_bytes(b"not a godi dump, just some text")
    result = godi(
        "decode",
        "--ir",
        str(example_ir),
        "--program",
        str(prog),
        str(dump),
        "-o",
        str(tmp_path / "s.json"),
        "--service",
        "x",
    )
    assert result.returncode == 2
    assert "not a godi dump" in one_error_line(result)


def test_schemas_are_up_to_date() -> None:
    result = godi("schemas", "--check")
    assert result.returncode == 0, result.stderr
