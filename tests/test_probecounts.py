"""The per-probe counts and their table (``stages.probecounts``), from hand-made
counters, and as ``godi decode`` prints it for a dump of the fixtures."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from layouts import layout, probe_layout

from stages.artifacts import load_layout
from stages.cli import main
from stages.dump import (
    RECORD_COUNTERS,
    Counters,
    DumpWriter,
    ProbeCounters,
    RecordReader,
    decode_counters,
    read_header,
)
from stages.probecounts import COLUMNS, DecodeTally, ProbeCounts, probe_counts, render_table

FIXTURE = Path(__file__).parent / "decode" / "fixtures" / "example-go1.27.3"


LAYOUT = layout(
    binary_build_id="b",
    # "calls": an entry, an inlined copy, two returns; "line": a line probe.
    probes=[
        probe_layout(0, "calls"),
        probe_layout(1, "calls"),
        probe_layout(2, "calls", kind="return"),
        probe_layout(3, "calls", kind="return"),
        probe_layout(4, "line", kind="line"),
    ],
)

COUNTERS = Counters(
    probes={
        "0": ProbeCounters(hits=10, emitted=6, dropped=1, sampled_out=2, condition_false=1),
        "1": ProbeCounters(hits=3, emitted=3, truncated=1, not_observed=40),
        "2": ProbeCounters(hits=4, emitted=4),
        "3": ProbeCounters(hits=5, emitted=4, dropped=1),
        "4": ProbeCounters(hits=7, emitted=7),
        "17": ProbeCounters(hits=100),  # not in the layout
    }
)


def test_counts_sum_a_probes_uprobes() -> None:
    calls, line = probe_counts(LAYOUT, COUNTERS)
    assert calls == ProbeCounts(
        probe_id="calls",
        entry_hits=13,
        return_hits=9,
        captured=17,
        sampled_out=2,
        condition_false=1,
        dropped=2,
        truncated=1,
        not_observed=40,
    )
    assert (line.entry_hits, line.return_hits, line.captured) == (7, 0, 7)
    assert calls.snapshots is None and calls.evaluation_errors is None


def test_counts_add_what_decode_did() -> None:
    tally = DecodeTally(
        snapshots={"calls": 8},
        evaluation_errors={"calls": 2},
        sampled_out={"calls": 1},
        condition_false={"line": 3},
    )
    calls, line = probe_counts(LAYOUT, COUNTERS, tally)
    assert (calls.snapshots, calls.evaluation_errors, calls.sampled_out) == (8, 2, 3)
    assert (line.snapshots, line.evaluation_errors, line.condition_false) == (0, 0, 3)


def test_counts_without_counters_are_zero() -> None:
    rows = probe_counts(LAYOUT, None)
    assert [r.probe_id for r in rows] == ["calls", "line"]
    assert all(r.entry_hits == r.captured == 0 for r in rows)


def test_table_has_one_row_perprobe_layout() -> None:
    text = render_table(probe_counts(LAYOUT, COUNTERS, DecodeTally(snapshots={"calls": 8})))
    header, calls, line = text.splitlines()
    assert header.split("  ")[0].strip() == "probe"
    for title in ["entry hits", "return hits", "captured", "sampled out", "condition false"]:
        assert title in header
    for title in ["dropped", "truncated", "not observed", "snapshots", "eval errors"]:
        assert title in header
    assert calls.split() == ["calls", "13", "9", "17", "2", "1", "2", "1", "40", "8", "0"]
    assert line.split() == ["line", "7", "0", "7", "0", "0", "0", "0", "0", "0", "0"]
    # numbers end under the end of their title
    assert len(header) == len(calls) == len(line)
    assert render_table([]) == ""


def test_table_before_decode_and_hostile_ids() -> None:
    row = ProbeCounts(probe_id="a\x1b[2Jb\n", entry_hits=1)
    (_, line) = render_table([row]).splitlines()
    assert "\x1b" not in line and "\\x1b" in line and "\\n" in line
    assert line.split()[-2:] == ["-", "-"]


def _fixture_dir(tmp_path: Path) -> Path:
    (tmp_path / "ir.json").write_bytes(gzip.decompress((FIXTURE / "ir.json.gz").read_bytes()))
    shutil.copytree(FIXTURE / "prog", tmp_path / "prog")
    shutil.copy(FIXTURE / "events.dump", tmp_path / "events.dump")
    return tmp_path


def _decode(d: Path) -> str:
    result = CliRunner().invoke(
        main,
        [
            "decode",
            "--ir",
            str(d / "ir.json"),
            "--program",
            str(d / "prog"),
            str(d / "events.dump"),
            "-o",
            str(d / "s.json"),
            "--service",
            "x",
        ],
    )
    assert result.exit_code == 0, result.output
    return result.stderr


def test_decode_ends_with_the_table(tmp_path: Path) -> None:
    """``godi decode`` of a real capture: one row per probe id, its hits summed
    from the dump's counters over its uprobes, the snapshots it wrote; and no
    line per uprobe index any more."""
    d = _fixture_dir(tmp_path)
    err = _decode(d)
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("probe "))
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in lines[start + 1 :]}
    written: dict[str, int] = {}
    for s in json.loads((d / "s.json").read_text()):
        probe_id = s["debugger"]["snapshot"]["probe"]["id"]
        written[probe_id] = written.get(probe_id, 0) + 1
    layout = load_layout(d / "prog")
    with open(d / "events.dump", "rb") as f:
        read_header(f)
        (record,) = [r for r in RecordReader(f, f.tell()) if r.kind == RECORD_COUNTERS]
    counters = decode_counters(record.payload)
    hits: dict[str, list[int]] = {}
    for p in layout.probes:
        c = counters.probes[str(p.index)]
        h = hits.setdefault(p.probe_id, [0, 0, 0])
        h[1 if p.kind == "return" else 0] += c.hits
        h[2] += c.emitted
    assert set(rows) == {p.probe_id for p in layout.probes}
    for probe_id, row in rows.items():
        assert row[:3] == hits[probe_id]
        snapshots = row[[name for _, name in COLUMNS].index("snapshots")]
        assert snapshots == written.get(probe_id, 0)
    assert not any("dropped" in line for line in lines[:start])


def test_decode_says_when_a_dump_has_no_counters(tmp_path: Path) -> None:
    d = _fixture_dir(tmp_path)
    data = (d / "events.dump").read_bytes()
    with io.BytesIO(data) as f:
        read_header(f)
        start = f.tell()
        records = [r for r in RecordReader(f, start) if r.kind != RECORD_COUNTERS]
    out = io.BytesIO()
    out.write(data[:start])
    writer = DumpWriter.__new__(DumpWriter)
    writer._out = out  # records as they were, less the counters
    for r in records:
        writer._record(r.kind, r.payload)
    (d / "events.dump").write_bytes(out.getvalue())
    err = _decode(d)
    assert "is unfinished: it has no trailer" in err
    assert err.splitlines()[-1].split()[1:3] == ["0", "0"]
