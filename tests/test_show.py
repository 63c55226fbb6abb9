"""``godi show``: snapshots as blocks with an indented value tree, elided at the depth
and width asked for, filtered by probe and text, coloured only on a terminal.
Snapshots are the committed real captures, decoded offline."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixture_snapshots import fixture_snapshots

from stages.show import Style, render_snapshot, value_text

ESC = "\x1b["


@pytest.fixture(scope="module")
def snapshots() -> list[dict[str, Any]]:
    return fixture_snapshots("example-go1.27.3")


@pytest.fixture
def snapshots_file(tmp_path: Path, snapshots: list[dict[str, Any]]) -> Path:
    path = tmp_path / "snapshots.json"
    path.write_text(json.dumps(snapshots))
    return path


def show(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return subprocess.run(
        [sys.executable, "-m", "stages", "show", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )


def blocks(text: str) -> list[str]:
    return [b for b in text.split("\n\n") if b.strip()]


def args_of(s: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
    return args


def test_one_block_per_snapshot(snapshots_file: Path, snapshots: list[dict[str, Any]]) -> None:
    r = show(str(snapshots_file))
    assert r.returncode == 0, r.stderr
    out = blocks(r.stdout)
    assert len(out) == len(snapshots)
    for i, (block, s) in enumerate(zip(out, snapshots, strict=True)):
        lines = block.splitlines()
        probe = s["debugger"]["snapshot"]["probe"]
        assert lines[0].startswith(f"#{i} {probe['id']}  {probe['location']['method']}")
        assert lines[1] == "  " + s["message"]
    assert f"godi: {len(snapshots)} of {len(snapshots)} snapshots shown" in r.stderr
    assert ESC not in r.stdout  # not a terminal


def test_values_with_their_types(snapshots_file: Path, snapshots: list[dict[str, Any]]) -> None:
    greet = next(s for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == "greet")
    want = args_of(greet)
    r = show(str(snapshots_file), "-p", "greet")
    lines = r.stdout.splitlines()
    assert "  entry" in lines and "  return" in lines
    assert f'    name: {want["name"]["type"]} = "{want["name"]["value"]}"' in lines
    assert f"    times: {want['times']['type']} = {want['times']['value']}" in lines
    ret = greet["debugger"]["snapshot"]["captures"]["return"]["locals"]["@return"]
    assert f'    @return: string = "{ret["value"]}"' in lines


def test_not_captured_reason(snapshots_file: Path) -> None:
    lines = show(str(snapshots_file), "-p", "weigh").stdout.splitlines()
    assert "    factor: float64  <not captured: unavailable>" in lines


def test_depth_and_width(snapshots_file: Path, snapshots: list[dict[str, Any]]) -> None:
    walk = next(s for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == "walk")
    n = args_of(walk)["n"]
    deep = show(str(snapshots_file), "-p", "walk", "--depth", "5").stdout
    third = n["fields"]["Next"]["fields"]["Next"]["fields"]["Val"]["value"]
    assert f"          Val: int = {third}" in deep.splitlines()  # three levels in
    shallow = show(str(snapshots_file), "-p", "walk", "--depth", "1").stdout.splitlines()
    assert "    n: *main.Node = @" in shallow[3] and shallow[3].endswith("{3 fields}")
    assert shallow[4] == "      ... 3 more below (--depth 1)"
    # 14 arguments to scalars: --width 4 shows four, then says how many are left.
    scalars = show(str(snapshots_file), "-p", "scalars", "--width", "4").stdout.splitlines()
    entry = scalars[scalars.index("  entry") + 1 : scalars.index("  return")]
    assert [x.split(":")[0].strip() for x in entry[:4]] == list(args_of(snapshots[0]))[:4]
    assert entry[4] == "    ... 10 more (--width 4)"


def test_filters(snapshots_file: Path, snapshots: list[dict[str, Any]]) -> None:
    walks = show(str(snapshots_file), "--probe", "walk")
    count = sum(1 for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == "walk")
    assert len(blocks(walks.stdout)) == count
    both = show(str(snapshots_file), "-p", "walk", "-p", "greet")
    assert len(blocks(both.stdout)) == count + 1
    # Text: in a value deep in the tree (the coupon), case-insensitive.
    coupon = show(str(snapshots_file), "--grep", "spring")
    assert [b.split()[1] for b in blocks(coupon.stdout)] == ["checkout"]
    # A field name, and a type.
    assert [b.split()[1] for b in blocks(show(str(snapshots_file), "-g", "Corners").stdout)] == [
        "describe"
    ]
    none = show(str(snapshots_file), "-g", "no such text anywhere")
    assert none.returncode == 0 and none.stdout == ""
    assert f"godi: 0 of {len(snapshots)} snapshots shown" in none.stderr


def test_colour_flags(snapshots_file: Path) -> None:
    assert ESC in show(str(snapshots_file), "--color", "always").stdout
    # An explicit flag wins over NO_COLOR (https://no-color.org).
    assert ESC in show(str(snapshots_file), "--color", "always", env={"NO_COLOR": "1"}).stdout
    assert ESC not in show(str(snapshots_file), "--color", "never").stdout


def _on_a_terminal(path: Path, env: dict[str, str]) -> str:
    """``godi show PATH`` with its stdout on a pseudo-terminal: what it printed."""
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages", "show", str(path), "-p", "greet"],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**environ, **env},
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=30) == 0
    return b"".join(chunks).decode()


def test_colours_on_a_terminal_only(snapshots_file: Path) -> None:
    coloured = _on_a_terminal(snapshots_file, {})
    assert ESC in coloured and "gopher" in coloured
    plain = _on_a_terminal(snapshots_file, {"NO_COLOR": "1"})
    assert ESC not in plain and "gopher" in plain
    # NO_COLOR set but empty does not count.
    assert ESC in _on_a_terminal(snapshots_file, {"NO_COLOR": ""})


def test_captured_control_characters_are_escaped(snapshots: list[dict[str, Any]]) -> None:
    """Values are the traced program's data: an escape sequence in a string must not
    reach the terminal as one."""
    s = json.loads(json.dumps(snapshots[1]))
    args_of(s)["name"]["value"] = "\x1b[2J\x1b]0;pwned\x07\nfake line"
    s["message"] = "main.greet(\x1b[31m)"
    text = render_snapshot(1, s, style=Style(colour=True))
    assert "\x1b[2J" not in text and "\x1b]0" not in text and "\x07" not in text
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\x0afake line" in text
    assert "main.greet(\\x1b[31m)" in text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"type": "string", "value": 'a"b'}, '"a\\"b"'),
        ({"type": "*string", "value": "x"}, '"x"'),
        ({"type": "int", "value": "7"}, "7"),
        ({"type": "*main.T", "isNull": True}, "nil"),
        ({"type": "[]int", "size": "3", "elements": [], "truncated": True}, "[len 3] ..."),
        ({"type": "map[int]int", "size": "2", "entries": []}, "map[len 2]"),
        ({"type": "chan int", "len": "1", "cap": "4"}, "chan(len=1, cap=4)"),
        ({"type": "main.T", "notCapturedReason": "depth"}, ""),
    ],
)
def test_value_text(value: dict[str, Any], text: str) -> None:
    assert value_text(value) == text


def test_broken_pipe_is_quiet(snapshots_file: Path) -> None:
    r = subprocess.run(
        f"{sys.executable} -m stages show {snapshots_file} | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.startswith("#0 ") and "Traceback" not in r.stderr
