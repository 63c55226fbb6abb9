"""Probes from flags (``godi probes``) and ``godi ls`` against a real binary
(tests/progs/server, built with the newest pinned Go; nothing is attached).

Expected names and lines come from the program's source, not from godi."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi

from stages.errors import UsageError
from stages.flagprobes import MAX_FUNCTIONS, ProbeFlags, flag_probes, probe_id
from stages.listing import is_glob, matching
from stages.probefile import load_probes

SERVER = REPO / "tests" / "progs" / "server"


@pytest.fixture(scope="module")
def binary() -> Path:
    return build_go(SERVER, go_versions()[-1])


def source_line(marker: str) -> int:
    """The line of tests/progs/server/main.go holding ``marker``."""
    lines = (SERVER / "main.go").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text)


def test_globs() -> None:
    names = ["main.(*Cart).Add", "main.(*Cart).Total", "main.greet", "net/http.Get", "main.Cart.X"]
    assert not is_glob("main.(*Cart).Add")
    assert is_glob("main.(*Cart).*") and is_glob("main.gree?")
    assert matching(names, "main.(*Cart).*") == ["main.(*Cart).Add", "main.(*Cart).Total"]
    assert matching(names, "net/http.*") == ["net/http.Get"]
    assert matching(names, "main.gree?") == ["main.greet"]
    assert matching(names, "main.greet") == ["main.greet"]
    assert matching(names, "Cart", substring=True) == [
        "main.(*Cart).Add",
        "main.(*Cart).Total",
        "main.Cart.X",
    ]


def test_probe_ids_are_file_names() -> None:
    assert probe_id("main.(*Cart).Add") == "main.Cart.Add"
    assert probe_id("net/http.(*Server).Serve") == "net_http.Server.Serve"
    assert probe_id("cmd/main.go:42") == "cmd_main.go_42"


def test_flags_make_valid_datadog_probes(binary: Path, tmp_path: Path) -> None:
    out = tmp_path / "probes.json"
    result = godi(
        "probes",
        str(binary),
        "-f",
        "main.(*Cart).*",
        "-f",
        "main.greet",
        "--line",
        "main.go:38",
        "--when",
        "times > 1",
        "--template",
        "hi {name}",
        "--depth",
        "2",
        "--rate",
        "10",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "-f 'main.(*Cart).*': 2 functions" in result.stderr
    probes = load_probes(out).probes  # validated as any probe file
    by_id = {p.id: p for p in probes}
    assert set(by_id) == {"main.Cart.Add", "main.Cart.Total", "main.greet", "main.go_38"}
    assert by_id["main.Cart.Add"].where.method_name == "main.(*Cart).Add"
    line = by_id["main.go_38"]
    assert line.where.source_file == "main.go" and line.where.lines == ["38"]
    for p in probes:
        assert p.capture_snapshot and p.limits.max_reference_depth == 2
        assert p.sampling is not None and p.sampling.snapshots_per_second == 10
        assert p.when is not None and p.when.json == {"gt": [{"ref": "times"}, 1]}
        assert p.template == "hi {name}" and p.segments is not None
    # stdout by default, the same definitions
    again = godi("probes", str(binary), "-f", "main.greet")
    assert again.returncode == 0
    assert [d["where"] for d in json.loads(again.stdout)] == [{"methodName": "main.greet"}]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-f", "net/*"], f"more than the cap of {MAX_FUNCTIONS}"),  # the CLI's default
        (["-f", "nothere.*"], "matches no probe-able function"),
        (["--line", "main.go"], "give FILE:LINE"),
        (["--line", "main.go:0"], "give FILE:LINE"),
        (["-f", "main.greet", "--when", "times >"], "--when 'times >'"),
        (["-f", "main.greet", "--template", "{times >}"], "--template"),
        ([], "no probe"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(binary: Path, flags: list[str], message: str) -> None:
    result = godi("probes", str(binary), *flags)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("godi: error: ") and message in lines[0]


def test_glob_cap_can_be_raised(binary: Path) -> None:
    made = flag_probes(str(binary), ProbeFlags(functions=("net/http.*",), max_functions=2000))
    names = {d["where"]["methodName"] for d in made.definitions}
    assert "net/http.(*Server).Serve" in names and len(names) > 200
    with pytest.raises(UsageError, match="cap of 5"):
        flag_probes(str(binary), ProbeFlags(functions=("net/http.*",), max_functions=5))


def test_run_refuses_both_probe_sources(binary: Path, tmp_path: Path) -> None:
    probes = tmp_path / "p.json"
    probes.write_text('[{"id": "g", "where": {"methodName": "main.greet"}}]')
    result = godi("run", "--probes", str(probes), "-f", "main.greet", "--", str(binary))
    assert result.returncode == 2 and "not both" in result.stderr
    result = godi("run", "-f", "main.greet", "--pid", "1", "--", str(binary))
    assert result.returncode == 2 and "exactly one target" in result.stderr


def test_ls_lists_functions_and_lines(binary: Path) -> None:
    result = godi("ls", str(binary), "main.(*Cart).*")
    assert result.returncode == 0, result.stderr
    add, total = source_line("func (c *Cart) Add("), source_line("func (c *Cart) Total(")
    assert result.stdout.splitlines() == [
        f"main.(*Cart).Add  server/main.go:{add}",
        f"main.(*Cart).Total  server/main.go:{total}",
    ]
    assert "godi: 2 functions" in result.stderr
    result = godi("ls", str(binary), "main.handle")  # a text the names contain
    assert [ln.split()[0] for ln in result.stdout.splitlines()] == [
        "main.handleCart",
        "main.handleGreet",
    ]
    result = godi("ls", str(binary), "--lines", "main.go", "main.greet")
    assert result.returncode == 0, result.stderr
    lines = {int(ln.split()[0].rpartition(":")[2]) for ln in result.stdout.splitlines()}
    body = source_line("the line probe's line")
    assert body in lines and body + 1 in lines  # its statements
    assert all(ln.endswith("  main.greet") for ln in result.stdout.splitlines())
    result = godi("ls", str(REPO / "README.md"))
    assert result.returncode == 2 and result.stderr.startswith("godi: error: ")
