"""Probe statuses: each probe's state, as Datadog's diagnostics report it.

``probe_statuses(layout, ...)`` gives one ``ProbeStatus`` per probe id (the
``ProbeStatus`` Structs of ``stages.upload.status``, what ``godi upload --statuses``
sends to ``/debugger/v1/diagnostics``), from what the stages know:

- ``ERROR``: the probe could not be installed (``layout.issues`` or the probe
  file's issues: ``exception.type`` is the issue kind, ``exception.message`` its
  message), or every one of its uprobes failed to attach (a dump ``NOTICE`` of kind
  ``attach_failed``);
- ``EMITTING``: the capture emitted at least one event for it (dump ``COUNTERS``);
- ``INSTALLED``: its uprobes were attached (there is a dump) but it emitted nothing;
- ``RECEIVED``: parsed, but not (yet) attached: no dump was given, or the probe
  is in the probe file and not in the layout.

Statuses are sorted by probe id. ``message`` carries the sentence Datadog's
tracers send with each status (dd-trace-py ``ProbeStatusLogger``). With a dump,
each installed probe's status also has its ``counts`` (``probecounts``: the rows
of the table ``capture`` and ``decode`` print), with the snapshots written and
their evaluation errors when the snapshots file is given too.
"""

from __future__ import annotations

import os
import struct
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import msgspec

from .dump import (
    RECORD_COUNTERS,
    RECORD_EVENT,
    RECORD_NOTICE,
    Counters,
    DumpHeader,
    Notice,
    RecordReader,
    decode_counters,
    decode_notice,
    read_header,
)
from .errors import DecodeError
from .ir import ProbeIssue
from .layout import Layout
from .probecounts import DecodeTally, probe_counts
from .probefile import ProbeSet
from .upload.status import (
    Diagnostics,
    DiagnosticsBody,
    ProbeStatus,
    Status,
    StatusException,
)

__all__ = [
    "DumpSummary",
    "ProbeStatus",
    "count_snapshots",
    "dump_warnings",
    "encode_statuses",
    "probe_statuses",
    "read_dump_summary",
    "status",
]

ATTACH_FAILED = "attach_failed"
_U32 = struct.Struct("<I")


@dataclass
class DumpSummary:
    """What a dump says about probes: its header, final counters and notices; the
    events in it by probe index; the runs of bytes skipped as corrupt. A dump
    without the counters (its trailer) is unfinished: its capture was killed or
    failed, and its events are all that is known of what was emitted."""

    header: DumpHeader
    counters: Counters | None = None
    notices: list[Notice] = field(default_factory=list)
    events: dict[int, int] = field(default_factory=dict)
    corrupt: list[tuple[int, int]] = field(default_factory=list)
    truncated_at: int | None = None

    @property
    def finished(self) -> bool:
        """Whether the capture wrote its trailer (the COUNTERS record)."""
        return self.counters is not None


def read_dump_summary(path: str | os.PathLike[str]) -> DumpSummary:
    """Read the header, COUNTERS and NOTICE records of a dump (events are skipped).

    Raises ``DecodeError`` when the file is not a godi dump or a record is corrupt.
    """
    name = str(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise DecodeError(f"{name}: cannot read: {e.strerror}") from e
    with f:
        header = read_header(f, name)
        summary = DumpSummary(header=header)
        reader = RecordReader(f, f.tell())
        events = summary.events
        for record in reader:
            try:
                if record.kind == RECORD_EVENT and len(record.payload) >= 4:
                    index = _U32.unpack_from(record.payload)[0]
                    events[index] = events.get(index, 0) + 1
                elif record.kind == RECORD_COUNTERS:
                    summary.counters = decode_counters(record.payload)
                elif record.kind == RECORD_NOTICE:
                    summary.notices.append(decode_notice(record.payload))
            except (msgspec.ValidationError, msgspec.DecodeError) as e:
                raise DecodeError(f"{name}: record at byte {record.offset}: {e}") from e
        summary.corrupt = reader.corrupt
        summary.truncated_at = reader.truncated_at
    return summary


def dump_warnings(name: str | os.PathLike[str], dump: DumpSummary) -> list[str]:
    """What a user must know about a dump before trusting the statuses made of it."""
    out = []
    if not dump.finished:
        out.append(
            f"{name} is unfinished: it has no trailer (its capture was killed or failed); "
            "a probe with events in it is EMITTING, the others may have emitted too"
        )
    if dump.truncated_at is not None:
        out.append(f"{name} is cut off at byte {dump.truncated_at}")
    for at, n in dump.corrupt:
        out.append(f"{name}: {n} corrupt bytes at byte {at} skipped")
    return out


def default_runtime_id(layout: Layout, dump: DumpSummary | None) -> str:
    """A stable runtime id: one per captured process (or per binary without a dump)."""
    if dump is not None:
        h = dump.header
        key = f"godi:{h.build_id}:{h.pid}:{h.clock_offset_ns}:{h.program_hash}"
    else:
        key = f"godi:{layout.binary_build_id}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def _sentence(probe_id: str, status: Status, error: str | None) -> str:
    if status == "RECEIVED":
        return f"Probe {probe_id} has been received correctly"
    if status == "INSTALLED":
        return f"Probe {probe_id} instrumented correctly"
    if status == "EMITTING":
        return f"Probe {probe_id} is emitting"
    return f"Probe {probe_id} instrumentation failed: {error}"


def _join_issues(issues: list[ProbeIssue]) -> StatusException:
    kinds = list(dict.fromkeys(i.kind for i in issues))
    messages = list(dict.fromkeys(i.message for i in issues))
    return StatusException(type=kinds[0], message="; ".join(messages))


def probe_statuses(
    layout: Layout,
    *,
    service: str,
    timestamp_ms: int,
    runtime_id: str | None = None,
    probes: ProbeSet | None = None,
    dump: DumpSummary | None = None,
    versions: dict[str, int] | None = None,
    decoded: DecodeTally | None = None,
) -> list[ProbeStatus]:
    """One status per probe id of ``layout`` (and of ``probes`` when given).

    ``dump`` is the capture's summary (``read_dump_summary``); without it no probe
    is known to be attached, nor counted. ``versions`` gives probe versions for
    probes known only by an issue (the probe file's raw content). ``decoded``:
    what decode made of the events (``count_snapshots``), for the counts.
    """
    rid = runtime_id or default_runtime_id(layout, dump)
    entries: dict[str, list[int]] = {}
    version: dict[str, int] = dict(versions or {})
    for p in layout.probes:
        entries.setdefault(p.probe_id, []).append(p.index)
        version[p.probe_id] = p.probe_version
    issues: dict[str, list[ProbeIssue]] = {}
    for issue in [*(probes.issues if probes else ()), *layout.issues]:
        issues.setdefault(issue.probe_id, []).append(issue)
    ids = set(entries) | set(issues)
    if probes is not None:
        for probe in probes.probes:
            ids.add(probe.id)
            version.setdefault(probe.id, probe.version)
    failures: dict[str, list[Notice]] = {}
    emitted: dict[str, int] = {}
    if dump is not None:
        for notice in dump.notices:
            if notice.probe_id is not None and notice.kind == ATTACH_FAILED:
                failures.setdefault(notice.probe_id, []).append(notice)
                ids.add(notice.probe_id)
        by_index = {p.index: p.probe_id for p in layout.probes}
        if dump.counters is not None:
            for key, counts in dump.counters.probes.items():
                pid = by_index.get(int(key)) if key.isdigit() else None
                if pid is not None:
                    emitted[pid] = emitted.get(pid, 0) + counts.emitted
        else:
            # Unfinished: no counters, but the events in the dump were emitted.
            for index, n in dump.events.items():
                pid = by_index.get(index)
                if pid is not None:
                    emitted[pid] = emitted.get(pid, 0) + n

    rows = (
        {row.probe_id: row for row in probe_counts(layout, dump.counters, decoded)}
        if dump is not None
        else {}
    )
    out: list[ProbeStatus] = []
    for pid in sorted(ids):
        exception: StatusException | None = None
        state: Status
        if pid not in entries:
            if pid in issues:
                state, exception = "ERROR", _join_issues(issues[pid])
            elif pid in failures:
                state = "ERROR"
                exception = StatusException(type=ATTACH_FAILED, message=failures[pid][0].message)
            else:
                state = "RECEIVED"
        elif dump is None:
            state = "RECEIVED"
        elif len(failures.get(pid, ())) >= len(entries[pid]):
            state = "ERROR"
            exception = StatusException(type=ATTACH_FAILED, message=failures[pid][0].message)
        elif emitted.get(pid, 0) > 0:
            state = "EMITTING"
        else:
            state = "INSTALLED"
        out.append(
            ProbeStatus(
                service=service,
                ddsource="dd_debugger",
                timestamp=timestamp_ms,
                message=_sentence(pid, state, exception.message if exception else None),
                debugger=DiagnosticsBody(
                    diagnostics=Diagnostics(
                        probeId=pid,
                        probeVersion=version.get(pid, 0),
                        runtimeId=rid,
                        status=state,
                        exception=exception,
                    )
                ),
                counts=rows.get(pid),
            )
        )
    return out


def tally_snapshots(snapshots: Iterable[Any]) -> DecodeTally:
    """The snapshots (decoded JSON objects) and their evaluation errors, by probe
    id; raises ``KeyError``/``TypeError`` on what is not a snapshot."""
    tally = DecodeTally()
    for snap in snapshots:
        body = snap["debugger"]["snapshot"]
        probe_id = body["probe"]["id"]
        tally.snapshots[probe_id] = tally.snapshots.get(probe_id, 0) + 1
        errors = len(body.get("evaluationErrors") or ())
        tally.evaluation_errors[probe_id] = tally.evaluation_errors.get(probe_id, 0) + errors
    return tally


def count_snapshots(path: str | os.PathLike[str]) -> DecodeTally:
    """The snapshots of a ``godi decode`` output (a JSON array, or JSON lines) and
    their evaluation errors, by probe id; raises ``DecodeError`` if it is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        snapshots = (
            msgspec.json.decode(data)
            if data.lstrip().startswith(b"[")
            else [msgspec.json.decode(line) for line in data.splitlines() if line.strip()]
        )
        return tally_snapshots(snapshots)
    except OSError as e:
        raise DecodeError(f"{path}: cannot read: {e.strerror}") from e
    except (msgspec.DecodeError, KeyError, TypeError) as e:
        raise DecodeError(f"{path}: not a snapshots file: {e}") from e


_encoder = msgspec.json.Encoder()


def encode_statuses(statuses: list[ProbeStatus]) -> bytes:
    """The statuses as a pretty JSON array (what ``godi upload --statuses`` reads)."""
    return msgspec.json.format(_encoder.encode(statuses), indent=2) + b"\n"


def _raw_versions(path: str) -> dict[str, int]:
    """Probe id -> highest version in a probe file, valid probes or not."""
    import json

    p = Path(path)
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(p.read_bytes())
        else:
            raw = json.loads(p.read_bytes())
    except Exception:  # the probe file loader reports it properly
        return {}
    if isinstance(raw, dict):
        raw = raw.get("probes")
    out: dict[str, int] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            v = item.get("version", 0)
            if isinstance(v, int) and not isinstance(v, bool):
                out[item["id"]] = max(out.get(item["id"], v), v)
    return out


@click.command(
    epilog="""\b
Examples:
  godi status --program prog/ -o probe-status.json
  godi status --program prog/ --dump events.dump --service shop -o probe-status.json
  godi status --program prog/ --probes probes.json --dump events.dump -o -
  godi status --program prog/ --dump events.dump --snapshots snapshots.json -o -
  godi upload --statuses probe-status.json
"""
)
@click.option(
    "--program",
    "program_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Directory written by `godi codegen` (its layout.json).",
)
@click.option(
    "--dump",
    "dump_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Raw dump of the capture: attach failures and emitted counts.",
)
@click.option(
    "--probes",
    "probes_path",
    type=click.Path(exists=True, dir_okay=False),
    help="The probe file, to list probes the layout does not mention.",
)
@click.option(
    "--snapshots",
    "snapshots_path",
    type=click.Path(exists=True, dir_okay=False),
    help="The snapshots decode wrote: their counts per probe.",
)
@click.option("--service", help="Service name (default: $DD_SERVICE, else the program's name).")
@click.option("--runtime-id", help="Runtime id (default: derived from the dump or binary).")
@click.option("--timestamp", type=int, help="Unix time in ms of the statuses (default: now).")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the statuses (JSON array; - for stdout).",
)
def status(
    program_dir: str,
    dump_path: str | None,
    probes_path: str | None,
    snapshots_path: str | None,
    service: str | None,
    runtime_id: str | None,
    timestamp: int | None,
    out: str,
) -> None:
    """Write each probe's status as Datadog's diagnostics: RECEIVED, INSTALLED,
    EMITTING or ERROR (with the error's type and message), and with a dump what
    happened to its hits (counts; with --snapshots, the snapshots too)."""
    from .artifacts import load_layout, write_atomic
    from .probefile import load_probes

    layout = load_layout(program_dir)
    dump = read_dump_summary(dump_path) if dump_path else None
    probeset = load_probes(probes_path) if probes_path else None
    if service is None:
        service = os.environ.get("DD_SERVICE")
    if not service:
        command = dump.header.command if dump else []
        service = Path(command[0]).name if command else "go-service"
    statuses = probe_statuses(
        layout,
        service=service,
        timestamp_ms=timestamp if timestamp is not None else int(time.time() * 1000),
        runtime_id=runtime_id,
        probes=probeset,
        dump=dump,
        versions=_raw_versions(probes_path) if probes_path else None,
        decoded=count_snapshots(snapshots_path) if snapshots_path else None,
    )
    if dump is not None and dump_path:
        for message in dump_warnings(dump_path, dump):
            click.echo(f"godi: {message}", err=True)
    data = encode_statuses(statuses)
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_atomic(out, data)
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.debugger.diagnostics.status] = counts.get(s.debugger.diagnostics.status, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    click.echo(f"godi: {len(statuses)} probe statuses ({summary}) -> {out}", err=True)
