"""``godi golden``: file names from untrusted probe ids, the shared normalisation, and
writing and checking a golden directory, on snapshots decoded from the committed
dumps of real captures (tests/decode/fixtures), offline."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixture_snapshots import FIXTURES, fixture_snapshots
from golden import GOLDEN_DIR
from hypothesis import given
from hypothesis import strategies as st

from stages.golden import (
    Normalisation,
    check_goldens,
    golden_name,
    normalise_snapshot,
    probe_id_from_name,
    render_json,
    write_goldens,
)

CASE = "example-go1.27.3"


def godi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stages", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def snapshots() -> list[dict[str, Any]]:
    return fixture_snapshots(CASE)


@pytest.fixture
def snapshots_file(tmp_path: Path, snapshots: list[dict[str, Any]]) -> Path:
    path = tmp_path / "snapshots.json"
    path.write_text(json.dumps(snapshots))
    return path


def by_probe(snapshots: list[dict[str, Any]], probe: str) -> dict[str, Any]:
    return next(s for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == probe)


# ------------------------------------------------------------------ file names


@pytest.mark.parametrize(
    ("probe_id", "name"),
    [
        ("greet", "greet.json"),
        ("6f1c2b0e-0b7a-4c1e-9d43-2f0e0b8f6a11", "6f1c2b0e-0b7a-4c1e-9d43-2f0e0b8f6a11.json"),
        ("a.b_c-D", "a.b_c-D.json"),
        (".hidden", "%2Ehidden.json"),
        (".", "%2E.json"),
        ("..", "%2E..json"),
        ("../../etc/passwd", "%2E.%2F..%2Fetc%2Fpasswd.json"),
        ("a/b", "a%2Fb.json"),
        ("a\\b", "a%5Cb.json"),
        ("100%", "100%25.json"),
        ("", "%.json"),
        ("nul\x00", "nul%00.json"),
        ("new\nline", "new%0Aline.json"),
        ("ü", "%C3%BC.json"),
        ("a b", "a%20b.json"),
        ("~", "%7E.json"),
    ],
)
def test_golden_name(probe_id: str, name: str) -> None:
    assert golden_name(probe_id) == name
    assert probe_id_from_name(name) == probe_id


def test_long_ids_are_cut_with_a_hash() -> None:
    a, b = "x" * 300, "x" * 299 + "y"
    assert len(golden_name(a).encode()) <= 255
    assert golden_name(a) != golden_name(b)
    assert "~" in golden_name(a)
    assert probe_id_from_name(golden_name(a)) is None  # the id is inside the file


@pytest.mark.parametrize("name", ["x.txt", "%2e.json", "%zz.json", "a%2.json", "%C3.json"])
def test_names_godi_does_not_make(name: str) -> None:
    assert probe_id_from_name(name) is None


@given(st.text(max_size=120))
def test_any_id_is_one_safe_path_component(probe_id: str) -> None:
    name = golden_name(probe_id)
    assert name.endswith(".json")
    assert "/" not in name and "\x00" not in name and "\\" not in name
    assert not name.startswith(".")
    assert name not in (".", "..")
    assert len(name.encode()) <= 255
    assert name.isascii() and name.isprintable()
    # Names that were not cut for length say their id.
    assert probe_id_from_name(name) == (None if "~" in name else probe_id)


@given(st.text(max_size=40), st.text(max_size=40))
def test_different_ids_get_different_names(a: str, b: str) -> None:
    if a != b:
        assert golden_name(a) != golden_name(b)


# --------------------------------------------------------------- normalisation


def test_volatile_fields_are_normalised(snapshots: list[dict[str, Any]]) -> None:
    raw = by_probe(snapshots, "walk")
    before = json.dumps(raw)
    s = normalise_snapshot(raw)
    assert json.dumps(raw) == before  # the input is left alone
    assert s["timestamp"] == 0 and s["duration"] == 0
    assert s["logger"]["thread_id"] == 0
    assert s["debugger"]["snapshot"]["id"] == "<id>"
    assert s["debugger"]["snapshot"]["timestamp"] == 0
    n = s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["n"]
    assert raw["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["n"]["address"]
    assert n["address"] == "<address>"
    assert n["fields"]["Next"]["address"] == "<address>"
    assert s["message"] == raw["message"]  # no address shown in it
    assert normalise_snapshot(s) == s


def _value(type_: str, value: str) -> dict[str, str]:
    return {"type": type_, "value": value}


def _synthetic() -> dict[str, Any]:
    """A snapshot with a map and an unsafe.Pointer, as decode writes them."""
    m = {
        "type": "map[string]int",
        "size": "3",
        "entries": [
            [_value("string", "two"), _value("int", "2")],
            [_value("string", "one"), _value("int", "1")],
            [_value("string", "three"), _value("int", "3")],
        ],
    }
    return {
        "service": "svc",
        "ddsource": "dd_debugger",
        "ddtags": "",
        "message": "main.f(m=map[...], up=0xc000012340, n=0xc0) at 2026-01-02 took 17",
        "timestamp": 1700000000000,
        "duration": 1234,
        "logger": {"name": "main", "method": "f", "version": 1, "thread_id": 42, "thread_name": ""},
        "debugger": {
            "type": "snapshot",
            "snapshot": {
                "id": "abc",
                "timestamp": 1700000000000,
                "language": "go",
                "probe": {
                    "id": "f",
                    "version": 1,
                    "location": {"method": "main.f", "file": "main.go", "lines": ["12"]},
                },
                "stack": [
                    {"function": "main.f", "fileName": "main.go", "lineNumber": 13},
                    {"function": "main.main", "fileName": "main.go", "lineNumber": 40},
                    {"function": "runtime.main", "fileName": "runtime/proc.go", "lineNumber": 283},
                ],
                "captures": {
                    "entry": {
                        "arguments": {
                            "m": m,
                            "up": {"type": "unsafe.Pointer", "address": "0xc000012340"},
                            "when": _value("string", "2026-01-02"),
                        }
                    }
                },
                "evaluationErrors": [{"expr": "up", "message": "cannot read 0xc000012340"}],
            },
        },
    }


def test_map_entries_and_shown_addresses() -> None:
    s = normalise_snapshot(_synthetic())
    args = s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
    keys = [k["value"] for k, _ in args["m"]["entries"]]
    assert keys == sorted(keys)
    assert args["up"]["address"] == "<address>"
    # The captured address is replaced where the message shows it, not other hex.
    assert "up=<address>, n=0xc0)" in s["message"]
    assert s["debugger"]["snapshot"]["evaluationErrors"][0]["message"] == "cannot read <address>"


def test_options() -> None:
    raw = _synthetic()
    plain = normalise_snapshot(raw)
    assert [f["lineNumber"] for f in plain["debugger"]["snapshot"]["stack"]] == [13, 40, 283]
    s = normalise_snapshot(
        raw, Normalisation(lines=True, stack_depth=1, mask=(r"\d{4}-\d\d-\d\d",))
    )
    body = s["debugger"]["snapshot"]
    assert body["stack"] == [{"function": "main.f", "fileName": "main.go", "lineNumber": 0}]
    assert body["probe"]["location"]["lines"] == ["0"]
    assert body["captures"]["entry"]["arguments"]["when"]["value"] == "<masked>"
    assert "at <masked> took" in s["message"]
    assert (
        "stack" not in normalise_snapshot(raw, Normalisation(stack_depth=0))["debugger"]["snapshot"]
    )


@pytest.mark.parametrize("kind", ["example", "decode", "types"])
def test_test_goldens_are_fixed_points(kind: str) -> None:
    """godi's own goldens were made by this same function: normalising them again
    changes nothing (so the shared function reproduces every one of them)."""
    files = sorted((GOLDEN_DIR / kind).glob("*.json"))
    assert files
    for path in files:
        text = path.read_text()
        assert render_json([normalise_snapshot(s) for s in json.loads(text)]) == text, path


# ------------------------------------------------------------ write and check


def test_write_then_check(tmp_path: Path, snapshots: list[dict[str, Any]]) -> None:
    d = tmp_path / "golden"
    result = write_goldens(snapshots, d)
    ids = sorted({s["debugger"]["snapshot"]["probe"]["id"] for s in snapshots})
    assert sorted(p.name for p in d.iterdir()) == sorted(f"{i}.json" for i in ids)
    assert len(result.created) == len(ids)
    walk = json.loads((d / "walk.json").read_text())
    assert [s["message"] for s in walk] == [
        s["message"] for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == "walk"
    ]
    assert (d / "walk.json").read_text() == render_json(walk)  # pretty, sorted
    assert check_goldens(snapshots, d).ok
    again = write_goldens(snapshots, d)
    assert sorted(again.unchanged) == sorted(f"{i}.json" for i in ids) and not again.changed


def test_check_reports_changed_added_missing(tmp_path: Path, snapshots_file: Path) -> None:
    d = tmp_path / "golden"
    assert godi("golden", str(snapshots_file), "-o", str(d)).returncode == 0
    greet = d / "greet.json"
    greet.write_text(greet.read_text().replace('"gopher"', '"badger"'))
    (d / "sum.json").unlink()
    (d / "gone.json").write_text((d / "move.json").read_text())
    r = godi("golden", str(snapshots_file), "--check", str(d))
    assert r.returncode == 1, r.stderr
    assert f"--- {d}/greet.json\n+++ probe greet (this run)\n" in r.stdout
    assert '-                "value": "badger"\n+                "value": "gopher"\n' in r.stdout
    assert f"added: probe 'sum' has 1 snapshot(s) and no golden {d}/sum.json" in r.stdout
    assert f"missing: {d}/gone.json is a golden but probe 'gone' produced no snapshot" in r.stdout
    assert "1 changed, 1 added, 1 missing" in r.stderr
    assert "-o" in r.stderr and "snakemake -c2 golden" in r.stderr
    assert "Traceback" not in r.stderr
    # Writing again accepts it all: the stale golden goes, the others come back.
    w = godi("golden", str(snapshots_file), "-o", str(d))
    assert "1 new, 1 changed" in w.stderr and "1 removed" in w.stderr
    assert not (d / "gone.json").exists()
    assert godi("golden", str(snapshots_file), "--check", str(d)).returncode == 0


def test_missing_directory_fails_the_check(tmp_path: Path, snapshots_file: Path) -> None:
    r = godi("golden", str(snapshots_file), "--check", str(tmp_path / "none"))
    assert r.returncode == 1
    assert "added: probe 'greet'" in r.stdout


def test_other_files_are_left_alone(tmp_path: Path, snapshots: list[dict[str, Any]]) -> None:
    d = tmp_path / "golden"
    d.mkdir()
    (d / "README.md").write_text("goldens of the example\n")
    (d / ".keep.json").write_text("[]")
    (d / "notes.json").write_text('{"not": "a golden"}')
    result = write_goldens(snapshots, d)
    assert result.kept == ["notes.json"] and not result.removed
    assert (d / "README.md").exists() and (d / ".keep.json").exists()
    assert check_goldens(snapshots, d).ok  # what writing keeps, checking ignores


def test_links_and_special_files_are_never_opened(
    tmp_path: Path, snapshots: list[dict[str, Any]]
) -> None:
    """A golden that is a symlink (to a secret) or a FIFO is reported, not read: the
    check prints no content of it and does not block; writing replaces the link
    itself and leaves its target alone."""
    d = tmp_path / "golden"
    write_goldens(snapshots, d)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET\n")
    (d / "greet.json").unlink()
    (d / "greet.json").symlink_to(secret)
    os.mkfifo(d / "fifo.json")
    result = check_goldens(snapshots, d)
    assert not result.ok
    assert ("greet.json", "is a symbolic link") in result.unreadable
    assert ("fifo.json", "is not a regular file") in result.unreadable
    assert "TOP SECRET" not in result.report()
    write_goldens(snapshots, d)
    assert secret.read_text() == "TOP SECRET\n"
    assert not (d / "greet.json").is_symlink()
    assert stat.S_ISFIFO((d / "fifo.json").lstat().st_mode)  # not a golden: kept


def test_hostile_probe_ids_stay_inside(tmp_path: Path, snapshots: list[dict[str, Any]]) -> None:
    hostile = json.loads(json.dumps(snapshots[:3]))
    for s, pid in zip(hostile, ["../escape", ".hidden", "/abs/path"], strict=True):
        s["debugger"]["snapshot"]["probe"]["id"] = pid
    d = tmp_path / "in" / "golden"
    write_goldens(hostile, d)
    assert sorted(p.name for p in d.iterdir()) == [
        "%2E.%2Fescape.json",
        "%2Ehidden.json",
        "%2Fabs%2Fpath.json",
    ]
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["golden"]
    assert check_goldens(hostile, d).ok


def test_from_a_dump(tmp_path: Path, snapshots_file: Path) -> None:
    """--dump with --ir and --program gives the goldens decode's output gives."""
    case = FIXTURES / CASE
    ir = tmp_path / "ir.json"
    ir.write_bytes(gzip.decompress((case / "ir.json.gz").read_bytes()))
    d = tmp_path / "golden"
    dump = ["--ir", str(ir), "--program", str(case / "prog"), "--dump", str(case / "events.dump")]
    env = {**os.environ, "DD_SERVICE": "fixture", "DD_TAGS": "env:test"}
    r = godi("golden", *dump, "-o", str(d), env=env)
    assert r.returncode == 0, r.stderr
    assert godi("golden", str(snapshots_file), "--check", str(d)).returncode == 0
    assert godi("golden", *dump, "--check", str(d), env=env).returncode == 0


def test_jsonl_input(tmp_path: Path, snapshots: list[dict[str, Any]]) -> None:
    lines = tmp_path / "snapshots.jsonl"
    lines.write_text("".join(json.dumps(s) + "\n" for s in snapshots))
    d = tmp_path / "golden"
    assert godi("golden", str(lines), "-o", str(d)).returncode == 0
    assert check_goldens(snapshots, d).ok


def test_sorted_snapshots(tmp_path: Path, snapshots: list[dict[str, Any]]) -> None:
    walks = [s for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == "walk"]
    assert len(walks) > 1
    d = tmp_path / "golden"
    write_goldens(walks, d, Normalisation(sort_snapshots=True))
    assert check_goldens(list(reversed(walks)), d, Normalisation(sort_snapshots=True)).ok
    assert not check_goldens(list(reversed(walks)), d).ok


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["S", "-o", "D", "--check", "D"], "give one of -o DIR (write) or --check DIR"),
        (["-o", "D"], "give SNAPSHOTS, or --dump with --ir and --program"),
        (["--dump", "x.dump", "-o", "D"], "--dump needs --ir and --program"),
        (["S", "-o", "D", "--mask", "("], "not a regular expression"),
        (["S", "-o", "D", "--stack-depth", "-1"], "-1 is not in the range x>=0"),
    ],
)
def test_usage_errors(tmp_path: Path, snapshots_file: Path, args: list[str], message: str) -> None:
    argv = [
        str(snapshots_file) if a == "S" else str(tmp_path / "d") if a == "D" else a for a in args
    ]
    r = godi("golden", *argv)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "not a JSON array or JSON lines"), ('[{"x": 1}]', "not a list of snapshots")],
)
def test_bad_snapshots(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = godi("golden", str(bad), "-o", str(tmp_path / "d"))
    assert r.returncode == 2
    assert r.stderr.startswith(f"godi: error: {bad}: {message}"), r.stderr


def test_help_has_examples() -> None:
    r = godi("golden", "--help")
    assert r.returncode == 0 and "godi golden snapshots.json --check" in r.stdout
