"""Values in heap pages the program never touched (tests/progs/freshheap): a large
allocation fresh from the OS is not cleared by Go, its pages stay not present until
written, and BPF's bpf_probe_read_user cannot fault them in. What godi shows must be
what the program prints afterwards: the values read, never anything else; what lies
in an untouched page may only be left out (a slice cut there, ``truncated``) or be
``unavailable`` (README, Known limitations: why zeros are not inferred)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi

PROG = REPO / "tests" / "progs" / "freshheap"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = build_go(PROG, str(request.param))
    out = tmp_path_factory.mktemp(f"freshheap-{request.param}")
    result = godi("run", "--probes", str(PROG / "probes.json"), "-o", str(out), "--", str(binary))
    assert result.returncode == 0, result.stderr
    printed = {r["func"]: r for r in map(json.loads, result.stdout.splitlines())}
    snaps = {
        s["debugger"]["snapshot"]["probe"]["id"]: s["debugger"]["snapshot"]["captures"]
        for s in json.loads((Path(out) / "snapshots.json").read_text())
    }
    return printed, snaps


def test_slice_into_untouched_pages_shows_only_what_was_read(captured: Any) -> None:
    printed, snaps = captured
    want = printed["inspectSlice"]["slice"]
    s = snaps["slice"]["entry"]["arguments"]["s"]
    assert s["size"] == str(len(want)) == "1000"
    got = [e["value"] for e in s.get("elements", [])]
    # The written elements (the first 8 of the slice) are in a present page.
    assert len(got) >= 8
    assert got == want[: len(got)]  # never a value the program does not have
    if len(got) < len(want):
        assert s.get("truncated") is True


def test_value_wholly_in_an_untouched_page_is_exact_or_unavailable(captured: Any) -> None:
    printed, snaps = captured
    want = printed["inspectQuad"]["quad"]
    assert want == ["0", "0", "0", "0"]  # the program's own view
    q = snaps["quad"]["entry"]["arguments"]["q"]
    assert q["type"] == "*main.Quad"
    if "fields" in q:
        assert [q["fields"][f]["value"] for f in "ABCD"] == want
    else:
        assert q["notCapturedReason"] == "unavailable", q
