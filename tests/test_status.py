"""Probe statuses from hand-built layouts, dumps and probe files."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from layouts import layout, probe_layout

from stages.cli import main
from stages.dump import Counters, DumpHeader, DumpWriter, Notice, ProbeCounters
from stages.errors import DecodeError
from stages.ir import ProbeIssue
from stages.layout import encode_layout
from stages.probecounts import DecodeTally
from stages.probefile import parse_probes
from stages.status import (
    DumpSummary,
    count_snapshots,
    dump_warnings,
    encode_statuses,
    probe_statuses,
    read_dump_summary,
)
from stages.upload.status import ProbeStatus, status_decoder
from stages.upload.uploader import _Statuses

LAYOUT = layout(
    probes=[
        probe_layout(0, "emits", 3),
        probe_layout(1, "emits", 3, "return"),
        probe_layout(2, "quiet", 2),
        probe_layout(3, "detached", 5),
        probe_layout(4, "halfattached", 1),
        probe_layout(5, "halfattached", 1, "return"),
    ],
    issues=[
        ProbeIssue(probe_id="nofunc", kind="function_not_found", message="no function main.x"),
        ProbeIssue(
            probe_id="metric",
            kind="unsupported_probe_type",
            message="METRIC_PROBE is not supported by godi",
        ),
    ],
)

HEADER = DumpHeader(
    tool_version="t",
    build_id="abc123",
    program_hash="ph",
    clock_offset_ns=42,
    pid=4242,
    command=["/srv/shop", "--port", "1"],
    mode="launch",
)


def _dump() -> DumpSummary:
    return DumpSummary(
        header=HEADER,
        counters=Counters(
            probes={
                "0": ProbeCounters(hits=5, emitted=2),
                "1": ProbeCounters(hits=2, emitted=0),
                "2": ProbeCounters(hits=0),
                "4": ProbeCounters(hits=1, emitted=0),
                "99": ProbeCounters(emitted=9),  # not in the layout: ignored
            }
        ),
        notices=[
            Notice(probe_id="detached", kind="attach_failed", message="uprobe: EINVAL"),
            Notice(probe_id="halfattached", kind="attach_failed", message="uprobe: EBUSY"),
            Notice(probe_id=None, kind="lost", message="ring buffer overflow"),
        ],
    )


def _by_id(statuses: list[ProbeStatus]) -> dict[str, ProbeStatus]:
    return {s.debugger.diagnostics.probeId: s for s in statuses}


def test_statuses_with_a_dump() -> None:
    statuses = probe_statuses(
        LAYOUT, service="shop", timestamp_ms=1750789242826, dump=_dump(), runtime_id="rid"
    )
    ids = [s.debugger.diagnostics.probeId for s in statuses]
    assert ids == sorted(ids)
    got = {k: v.debugger.diagnostics for k, v in _by_id(statuses).items()}
    assert {k: d.status for k, d in got.items()} == {
        "emits": "EMITTING",
        "quiet": "INSTALLED",
        "detached": "ERROR",
        "halfattached": "INSTALLED",
        "nofunc": "ERROR",
        "metric": "ERROR",
    }
    assert got["emits"].probeVersion == 3 and got["emits"].exception is None
    assert got["detached"].exception is not None
    assert got["detached"].exception.type == "attach_failed"
    assert got["detached"].exception.message == "uprobe: EINVAL"
    assert got["nofunc"].exception is not None
    assert got["nofunc"].exception.type == "function_not_found"
    assert got["metric"].exception is not None
    assert got["metric"].exception.message == "METRIC_PROBE is not supported by godi"
    assert all(d.runtimeId == "rid" for d in got.values())
    first = statuses[0]
    assert first.service == "shop" and first.ddsource == "dd_debugger"
    assert first.timestamp == 1750789242826
    messages = {k: v.message for k, v in _by_id(statuses).items()}
    assert messages["emits"] == "Probe emits is emitting"
    assert messages["quiet"] == "Probe quiet instrumented correctly"
    assert messages["nofunc"] == "Probe nofunc instrumentation failed: no function main.x"


def test_without_a_dump_installed_probes_are_received() -> None:
    statuses = probe_statuses(LAYOUT, service="s", timestamp_ms=1)
    states = {k: v.debugger.diagnostics.status for k, v in _by_id(statuses).items()}
    assert states["emits"] == "RECEIVED"
    assert states["detached"] == "RECEIVED"
    assert states["nofunc"] == "ERROR"
    assert statuses[0].message is not None
    rid = statuses[0].debugger.diagnostics.runtimeId
    assert (
        rid == probe_statuses(LAYOUT, service="s", timestamp_ms=2)[0].debugger.diagnostics.runtimeId
    )
    with_dump = probe_statuses(LAYOUT, service="s", timestamp_ms=1, dump=_dump())
    assert with_dump[0].debugger.diagnostics.runtimeId != rid


def test_dump_without_counters_means_installed() -> None:
    dump = DumpSummary(header=HEADER)
    states = {
        k: v.debugger.diagnostics.status
        for k, v in _by_id(probe_statuses(LAYOUT, service="s", timestamp_ms=1, dump=dump)).items()
    }
    assert states["emits"] == "INSTALLED"


def test_unfinished_dump_with_events_means_emitting(tmp_path: Path) -> None:
    """A capture killed before its trailer: the events in the dump were emitted, so
    their probes are EMITTING, not INSTALLED; status says the dump is unfinished."""
    path = tmp_path / "events.dump"
    with open(path, "wb") as f:
        w = DumpWriter(f, HEADER)
        w.event(b"\0" * 64)  # probe index 0: "emits"
        w.event(b"\2" + b"\0" * 63)  # probe index 2: "quiet"
    dump = read_dump_summary(path)
    assert not dump.finished and dump.events == {0: 1, 2: 1}
    states = {
        k: v.debugger.diagnostics.status
        for k, v in _by_id(probe_statuses(LAYOUT, service="s", timestamp_ms=1, dump=dump)).items()
    }
    assert states["emits"] == "EMITTING" and states["quiet"] == "EMITTING"
    assert states["halfattached"] == "INSTALLED"
    assert "is unfinished" in dump_warnings(path, dump)[0]


def test_probe_file_adds_received_and_invalid_probes() -> None:
    probeset = parse_probes(
        [
            {"id": "emits", "version": 3, "where": {"methodName": "main.emits"}},
            {"id": "later", "version": 7, "where": {"methodName": "main.later"}},
            {"id": "broken", "version": 4, "where": "nowhere"},
        ]
    )
    statuses = probe_statuses(
        LAYOUT,
        service="s",
        timestamp_ms=1,
        probes=probeset,
        dump=_dump(),
        versions={"broken": 4},
    )
    got = {k: v.debugger.diagnostics for k, v in _by_id(statuses).items()}
    assert got["later"].status == "RECEIVED" and got["later"].probeVersion == 7
    assert got["broken"].status == "ERROR" and got["broken"].probeVersion == 4
    assert got["broken"].exception is not None
    assert got["broken"].exception.type == "invalid_probe"
    assert got["emits"].status == "EMITTING"


def test_encoded_statuses_are_what_upload_reads() -> None:
    statuses = probe_statuses(LAYOUT, service="shop", timestamp_ms=5, dump=_dump())
    data = encode_statuses(statuses)
    raw = json.loads(data)
    assert isinstance(raw, list) and len(raw) == 6
    assert set(raw[0]) - {"counts"} == {"service", "ddsource", "timestamp", "message", "debugger"}
    ok = [x for x in raw if x["debugger"]["diagnostics"]["status"] != "ERROR"]
    assert all("exception" not in x["debugger"]["diagnostics"] for x in ok)
    for item in raw:
        status_decoder.decode(json.dumps(item).encode())
        diag = item["debugger"]["diagnostics"]
        assert set(diag) <= {"probeId", "probeVersion", "runtimeId", "status", "exception"}


def _write_dump(path: Path) -> None:
    with open(path, "wb") as f:
        w = DumpWriter(f, HEADER)
        w.notice(Notice(probe_id="detached", kind="attach_failed", message="EINVAL"))
        w.event(b"\0" * 64)
        w.counters(Counters(probes={"2": ProbeCounters(hits=3, emitted=3)}, stop_reason="x"))


def test_read_dump_summary(tmp_path: Path) -> None:
    dump = tmp_path / "events.dump"
    _write_dump(dump)
    summary = read_dump_summary(dump)
    assert summary.header == HEADER
    assert summary.counters is not None and summary.counters.probes["2"].emitted == 3
    assert summary.notices == [Notice(probe_id="detached", kind="attach_failed", message="EINVAL")]
    bad = tmp_path / "bad.dump"
    bad.write_bytes(b"nope")
    with pytest.raises(DecodeError):
        read_dump_summary(bad)
    with pytest.raises(DecodeError, match="cannot read"):
        read_dump_summary(tmp_path / "missing.dump")
    cut = tmp_path / "cut.dump"
    cut.write_bytes(dump.read_bytes()[:-5])  # the COUNTERS record is cut off
    assert read_dump_summary(cut).counters is None


def test_status_command(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    prog.mkdir()
    (prog / "layout.json").write_bytes(encode_layout(LAYOUT))
    dump = tmp_path / "events.dump"
    _write_dump(dump)
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {"id": "quiet", "version": 2, "where": {"methodName": "main.quiet"}},
                {"id": "bad", "version": 9, "where": 3},
            ]
        )
    )
    out = tmp_path / "probe-status.json"
    result = CliRunner().invoke(
        main,
        [
            "status",
            "--program",
            str(prog),
            "--dump",
            str(dump),
            "--probes",
            str(probes),
            "--timestamp",
            "77",
            "-o",
            str(out),
        ],
        env={"DD_SERVICE": ""},
    )
    assert result.exit_code == 0, result.output
    statuses = msgspec.json.decode(out.read_bytes(), type=list[ProbeStatus])
    got = _by_id(statuses)
    assert got["quiet"].debugger.diagnostics.status == "EMITTING"
    assert got["detached"].debugger.diagnostics.status == "ERROR"
    assert got["bad"].debugger.diagnostics.probeVersion == 9
    assert got["quiet"].service == "shop"  # from the dump's command
    assert got["quiet"].timestamp == 77
    assert "probe statuses" in result.output


def test_status_command_to_stdout_with_service(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    prog.mkdir()
    (prog / "layout.json").write_bytes(encode_layout(LAYOUT))
    result = CliRunner().invoke(
        main, ["status", "--program", str(prog), "--service", "svc", "-o", "-"]
    )
    assert result.exit_code == 0, result.output
    start = result.output.index("[")
    raw = json.loads(result.output[start : result.output.rindex("]") + 1])
    assert {x["service"] for x in raw} == {"svc"}


def test_bad_dump_is_a_user_error(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    prog.mkdir()
    (prog / "layout.json").write_bytes(encode_layout(LAYOUT))
    bad = tmp_path / "bad.dump"
    bad.write_bytes(b"x" * 40)
    result = CliRunner().invoke(
        main, ["status", "--program", str(prog), "--dump", str(bad), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "not a godi dump" in result.output


def test_statuses_carry_the_counts_of_the_table() -> None:
    """With a dump, each installed probe's status has its row of the per-probe
    table (summed over its entry and return uprobes); with the snapshots file,
    what decode wrote too. Upload leaves the counts out: they are godi's."""
    tally = DecodeTally(snapshots={"emits": 2}, evaluation_errors={"emits": 1})
    statuses = _by_id(
        probe_statuses(LAYOUT, service="s", timestamp_ms=1, dump=_dump(), decoded=tally)
    )
    emits = statuses["emits"].counts
    assert emits is not None
    assert (emits.entry_hits, emits.return_hits, emits.captured) == (5, 2, 2)
    assert (emits.snapshots, emits.evaluation_errors) == (2, 1)
    quiet = statuses["quiet"].counts
    assert quiet is not None and quiet.snapshots == 0
    assert statuses["nofunc"].counts is None  # never installed
    without = _by_id(probe_statuses(LAYOUT, service="s", timestamp_ms=1, dump=_dump()))
    assert without["emits"].counts is not None and without["emits"].counts.snapshots is None
    raw = encode_statuses([statuses["emits"]])
    item = json.dumps(json.loads(raw)[0]).encode()
    sent, _ = _Statuses(None).prepare(item)
    assert "counts" in json.loads(item) and "counts" not in json.loads(sent)


def test_count_snapshots_reads_arrays_and_lines(tmp_path: Path) -> None:
    snap = {
        "debugger": {
            "snapshot": {"probe": {"id": "p"}, "evaluationErrors": [{"expr": "x", "message": "m"}]}
        }
    }
    other = {"debugger": {"snapshot": {"probe": {"id": "q"}}}}
    array = tmp_path / "a.json"
    array.write_text("[\n" + ",\n".join(json.dumps(x) for x in [snap, other, snap]) + "\n]\n")
    lines = tmp_path / "a.jsonl"
    lines.write_text("".join(json.dumps(x) + "\n" for x in [snap, other, snap]))
    for path in (array, lines):
        tally = count_snapshots(path)
        assert tally.snapshots == {"p": 2, "q": 1}
        assert tally.evaluation_errors == {"p": 2, "q": 0}
    (tmp_path / "bad.json").write_text("[{}]")
    with pytest.raises(DecodeError):
        count_snapshots(tmp_path / "bad.json")
