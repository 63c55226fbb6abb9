"""``godi page``: the HTML page of a probe set, from a committed real capture (its
dump, layout and the snapshots decode makes of it), offline. The browser test of
the page inside Snakemake's report is tests/e2e/test_golden_workflow_live.py."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fixture_snapshots import FIXTURES, fixture_snapshots

from stages.probecounts import COLUMNS
from stages.report import read_benchmark
from stages.report.page import MAX_PER_PROBE, render_page
from stages.status import read_dump_summary

CASE = "example-go1.27.3"
BENCHMARK = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "1.25\t0:00:01\t150.5\t200.0\t100.0\t110.0\t2.5\t0.5\t50.0\t0.75\n"
)


def godi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stages", *args], capture_output=True, text=True, timeout=120
    )


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text under each data-path node."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(text: str) -> Elements:
    p = Elements()
    p.feed(text)
    return p


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], str]:
    """(directory, snapshots, page text) of the fixture, through the commands."""
    d = tmp_path_factory.mktemp("page")
    case = FIXTURES / CASE
    snapshots = fixture_snapshots(CASE)
    (d / "snapshots.json").write_text(json.dumps(snapshots))
    statuses = d / "probe-status.json"
    r = godi(
        "status",
        "--program",
        str(case / "prog"),
        "--dump",
        str(case / "events.dump"),
        "-o",
        str(statuses),
    )
    assert r.returncode == 0, r.stderr
    (d / "capture.tsv").write_text(BENCHMARK)
    r = godi(
        "page",
        str(d / "snapshots.json"),
        "--statuses",
        str(statuses),
        "--dump",
        str(case / "events.dump"),
        "--program",
        str(case / "prog"),
        "--benchmark",
        f"capture={d / 'capture.tsv'}",
        "--benchmark",
        f"decode={d / 'missing.tsv'}",
        "--title",
        "example go1.27.3 / entry",
        "-o",
        str(d / "page.html"),
    )
    assert r.returncode == 0, r.stderr
    return d, snapshots, (d / "page.html").read_text()


def test_self_contained(made: tuple[Path, list[dict[str, Any]], str]) -> None:
    *_, text = made
    tags = parse(text).tags
    assert (
        "meta",
        {
            "http-equiv": "Content-Security-Policy",
            "content": (
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
            ),
        },
    ) in tags
    for tag, attrs in tags:
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
    assert "http://" not in text and "https://" not in text
    assert "<h1>example go1.27.3 / entry</h1>" in text


def test_counts(made: tuple[Path, list[dict[str, Any]], str]) -> None:
    """Each probe's row: the dump's counters summed over the probe's entry and
    return uprobes, the snapshots decode wrote; a probe not installed says why."""
    _, snapshots, text = made
    case = FIXTURES / CASE
    layout = json.loads((case / "prog" / "layout.json").read_text())
    counters = read_dump_summary(case / "events.dump").counters
    assert counters is not None
    ids = {p["probe_id"] for p in layout["probes"]}
    for pid in ids:
        mine = [p for p in layout["probes"] if p["probe_id"] == pid]
        entry = sum(counters.probes[str(p["index"])].hits for p in mine if p["kind"] != "return")
        ret = sum(counters.probes[str(p["index"])].hits for p in mine if p["kind"] == "return")
        n = sum(1 for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == pid)
        row = text.split(f'<tr data-probe="{pid}">', 1)[1].split("</tr>", 1)[0]
        cells = row.replace("</td>", "").split("<td")[1:]
        values = [c.split(">", 1)[1] for c in cells]
        assert values[0] == pid
        assert ("EMITTING" in values[1]) == (n > 0)
        # probe, status, then the terminal table's columns (probecounts.COLUMNS)
        snaps = 2 + [name for _, name in COLUMNS].index("snapshots")
        assert (values[2], values[3], values[snaps]) == (str(entry), str(ret), str(n)), (
            pid,
            values,
        )
    missing = text.split('<tr data-probe="missing">', 1)[1].split("</tr>", 1)[0]
    assert "status-ERROR" in missing and "function_not_found" in missing


def test_stages(made: tuple[Path, list[dict[str, Any]], str]) -> None:
    d, _, text = made
    row = text.split('<tr data-stage="capture">', 1)[1].split("</tr>", 1)[0]
    assert "<td>1.25</td>" in row and "<td>0.75</td>" in row and "<td>150.5</td>" in row
    decode = text.split('<tr data-stage="decode">', 1)[1].split("</tr>", 1)[0]
    assert "not measured" in decode
    cost = read_benchmark("capture", d / "capture.tsv")
    assert (cost.seconds, cost.cpu_seconds, cost.max_rss_mb) == (1.25, 0.75, 150.5)


def test_snapshot_tree(made: tuple[Path, list[dict[str, Any]], str]) -> None:
    """Every captured value is a node with its type and value; nested ones below."""
    _, snapshots, text = made
    nodes = {a["data-path"]: tag for tag, a in parse(text).tags if a.get("data-path")}
    walk = next(s for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == "walk")
    n = walk["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["n"]
    assert nodes["entry.n"] == "li" and "entry.n.Next.Next.Val" in nodes
    greet = text.split('data-probe="greet" data-index=', 1)[1].split("</details>", 1)[0]
    assert (
        '<span class="type">string</span> <span class="value string">&quot;gopher&quot;</span>'
        in greet
    )
    name = n["fields"]["Name"]
    assert (
        f'<li class="leaf" data-path="entry.n.Name"><span class="name">Name</span> '
        f'<span class="type">{name["type"]}</span> '
        f'<span class="value string">&quot;{name["value"]}&quot;</span></li>'
    ) in text
    weigh = text.split('data-probe="weigh" data-index=', 1)[1].split('class="snapshot"', 1)[0]
    assert '<span class="reason" title="notCapturedReason">unavailable</span>' in weigh
    assert text.count('<details class="snapshot"') == len(snapshots)


def test_untrusted_text_is_escaped() -> None:
    s = fixture_snapshots(CASE)[1]
    s["debugger"]["snapshot"]["probe"]["id"] = '"><img src=x onerror=alert(1)>'
    s["message"] = "</script><script>alert(1)</script>"
    s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["name"]["value"] = "<b>x</b>"
    page = render_page(title="<t>", snapshots=[s], counts=[], costs=[])
    assert "<img" not in page and "<script>alert" not in page and "<b>x" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert [t for t, _ in parse(page).tags].count("script") == 1  # the page's own


def test_many_snapshots_are_capped() -> None:
    one = fixture_snapshots(CASE)[1]
    page = render_page(title="t", snapshots=[one] * (MAX_PER_PROBE + 7), counts=[], costs=[])
    assert page.count('<details class="snapshot"') == MAX_PER_PROBE
    assert "7 more snapshots of this probe in snapshots.json" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "nostage"], "'nostage' is not STAGE=TSV"),
        (["--dump", "x.dump"], "--dump needs --program"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    snaps = tmp_path / "s.json"
    snaps.write_text("[]")
    r = godi("page", str(snaps), "-o", str(tmp_path / "p.html"), *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
