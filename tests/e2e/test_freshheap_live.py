"""Values in heap pages the program never touched (tests/progs/freshheap): a large
allocation fresh from the OS is not cleared by Go, and its pages stay not present
until written. bpf_probe_read_user cannot fault them in; the sleepable dispatcher
reads them again with bpf_copy_from_user, which maps a never-written page to the
zero page as a debugger's read does. What godi shows must be exactly what the
program prints afterwards (which also shows that the read changed nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi, godi_env

PROG = REPO / "tests" / "progs" / "freshheap"

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=go_versions())
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = build_go(PROG, str(request.param))
    out = tmp_path_factory.mktemp(f"freshheap-{request.param}")
    result = godi("run", "--probes", str(PROG / "probes.json"), "-o", str(out), "--", str(binary))
    assert result.returncode == 0, result.stderr
    return _printed_and_captures(result.stdout, Path(out))


def _printed_and_captures(stdout: str, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the program printed, by function; the snapshots' captures, by probe id."""
    printed = {r["func"]: r for r in map(json.loads, stdout.splitlines())}
    snaps = {
        s["debugger"]["snapshot"]["probe"]["id"]: s["debugger"]["snapshot"]["captures"]
        for s in json.loads((out / "snapshots.json").read_text())
    }
    return printed, snaps


def test_slice_into_untouched_pages_is_whole(captured: Any) -> None:
    printed, snaps = captured
    want = printed["inspectSlice"]["slice"]
    s = snaps["slice"]["entry"]["arguments"]["s"]
    assert s["size"] == str(len(want)) == "1000"
    # 992 of the 1000 elements are in pages nothing had touched at the call.
    assert [e["value"] for e in s["elements"]] == want
    assert "truncated" not in s and "notCapturedReason" not in s


def test_value_wholly_in_an_untouched_page_is_its_zeros(captured: Any) -> None:
    printed, snaps = captured
    want = printed["inspectQuad"]["quad"]
    assert want == ["0", "0", "0", "0"]  # the program's own view
    q = snaps["quad"]["entry"]["arguments"]["q"]
    assert q["type"] == "*main.Quad"
    assert "notCapturedReason" not in q, q
    assert [q["fields"][f]["value"] for f in "ABCD"] == want


def test_without_the_sleepable_walker_only_what_was_read(tmp_path: Path) -> None:
    """When the probes and the walker do not fit in one sleepable program's stack
    (forced here: GODI_FAULT_STEP_STACK), capture says so and tail-calls the
    walker, which cannot fault pages in: a slice is then cut at the first
    untouched page (``truncated``), a value wholly in one is ``unavailable``, and
    what is shown is still only what the program has."""
    binary = build_go(PROG, go_versions()[-1])
    result = godi_env(
        {"GODI_FAULT_STEP_STACK": "200"},
        *("run", "--probes", str(PROG / "probes.json"), "-o", str(tmp_path), "--", str(binary)),
    )
    assert result.returncode == 0, result.stderr
    assert "do not fit in one sleepable program's stack" in result.stderr
    printed, snaps = _printed_and_captures(result.stdout, tmp_path)
    want = printed["inspectSlice"]["slice"]
    s = snaps["slice"]["entry"]["arguments"]["s"]
    got = [e["value"] for e in s["elements"]]
    assert 8 <= len(got) < len(want) and got == want[: len(got)]
    assert s["truncated"] is True
    q = snaps["quad"]["entry"]["arguments"]["q"]
    assert q.get("notCapturedReason") == "unavailable", q
