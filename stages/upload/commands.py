"""``godi upload`` and ``godi intake``: thin click commands over ``upload`` and ``intake``.

Registered on the ``godi`` group at the end of ``stages/cli.py``.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from types import FrameType

import click
import msgspec

from ..errors import UploadError
from .uploader import MAX_BATCH_BYTES, MAX_BATCH_ITEMS, UploadResult


def _report(message: str) -> None:
    click.echo(f"godi: upload: {message}", err=True)


def _summary(r: UploadResult) -> str:
    if r.already_complete:
        return (
            f"godi: upload {r.input}: already uploaded to {r.endpoint} "
            "(per its .progress.json; --restart sends it again)"
        )
    noun = {"snapshots": ("snapshot", "snapshots"), "statuses": ("status", "statuses")}[r.kind]
    parts = [
        f"godi: upload {r.input}: sent {r.sent} {noun[r.sent != 1]} in {r.batches} "
        f"batch{'es' if r.batches != 1 else ''} to {r.endpoint}",
        f"{r.retries} retries",
        f"{r.dead_lettered} dead-lettered" + (f" ({r.deadletter_path})" if r.dead_lettered else ""),
        f"{r.oversize} oversize" + (f" ({r.oversize_path})" if r.oversize else ""),
    ]
    if r.resumed_from is not None:
        parts.append(f"resumed from item {r.resumed_from.items} (byte {r.resumed_from.offset})")
    return ", ".join(parts)


@click.command(
    epilog="""\b
Examples:
  godi upload snapshots.json
  godi upload snapshots.jsonl --statuses probe-status.json --agent http://agent:8126
  DD_AGENT_HOST=agent godi upload snapshots.json --tags env:staging
  godi intake --port 8126 --out received/ &  godi upload snapshots.json
"""
)
@click.argument("snapshots", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--statuses",
    type=click.Path(dir_okay=False),
    help="Probe statuses to send to /debugger/v1/diagnostics first (JSON array or lines).",
)
@click.option(
    "--agent",
    help="Agent URL (http://HOST:PORT or unix:///PATH); default $DD_TRACE_AGENT_URL, "
    "else http://$DD_AGENT_HOST:$DD_TRACE_AGENT_PORT, else http://localhost:8126.",
)
@click.option("--service", help="Replace the service of every snapshot and status.")
@click.option("--tags", help="ddtags of every request (default: each snapshot's own ddtags).")
@click.option(
    "--batch-bytes",
    type=click.IntRange(1024, MAX_BATCH_BYTES),
    default=MAX_BATCH_BYTES,
    show_default=True,
    help="Largest request body; a lone item larger than this is set aside.",
)
@click.option(
    "--batch-items",
    type=click.IntRange(1, MAX_BATCH_ITEMS),
    default=MAX_BATCH_ITEMS,
    show_default=True,
    help="Most items per request.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the agent (connecting, each read and write).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Retries of one batch before giving up (progress is kept for a rerun).",
)
@click.option(
    "--backoff",
    "backoff_base",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds; retry n waits a random time up to backoff * 2^n.",
)
@click.option(
    "--backoff-max",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Cap of the random wait (a longer Retry-After is still honoured).",
)
@click.option("--restart", is_flag=True, help="Ignore the progress records: send everything.")
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False),
    help="When everything is handled, write the counts here as JSON (a Snakemake output).",
)
def upload(
    snapshots: str | None,
    statuses: str | None,
    agent: str | None,
    service: str | None,
    tags: str | None,
    batch_bytes: int,
    batch_items: int,
    timeout: float,
    max_retries: int,
    backoff_base: float,
    backoff_max: float,
    restart: bool,
    summary_path: str | None,
) -> None:
    """Send snapshots (and probe statuses) to a Datadog agent's debugger intake.

    SNAPSHOTS is what `godi decode` wrote: a JSON array or JSON lines, read one
    snapshot at a time whatever its size. Batches of at most 1 MiB and 1024
    snapshots go to /debugger/v1/input, retried with backoff on connection
    errors, timeouts, 429 and 5xx. Batches the agent refuses (other 4xx) go to
    SNAPSHOTS.deadletter.jsonl, snapshots too large for any batch to
    SNAPSHOTS.oversize.jsonl. SNAPSHOTS.progress.json records what is done after
    every batch: rerunning the command after a crash or a failure resumes there,
    and rerunning it after success sends nothing.
    """
    from .transport import agent_url
    from .uploader import UploadOptions, upload_snapshots, upload_statuses

    if snapshots is None and statuses is None:
        raise click.UsageError("give SNAPSHOTS, --statuses FILE, or both")
    options = UploadOptions(
        agent=agent_url(agent),
        batch_bytes=batch_bytes,
        batch_items=batch_items,
        timeout=timeout,
        max_retries=max_retries,
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        tags=tags,
        service=service,
        restart=restart,
    )
    results: list[UploadResult] = []
    try:
        if statuses is not None:
            results.append(upload_statuses(statuses, options, _report))
            click.echo(_summary(results[-1]), err=True)
        if snapshots is not None:
            results.append(upload_snapshots(snapshots, options, _report))
            click.echo(_summary(results[-1]), err=True)
    except UploadError as e:
        if not e.user_error:
            _report("stopped; rerun the same command to resume")
        raise
    if summary_path:
        from ..artifacts import write_atomic

        data = msgspec.json.encode([_as_json(r) for r in results])
        write_atomic(summary_path, msgspec.json.format(data, indent=2) + b"\n")


def _as_json(r: UploadResult) -> dict[str, object]:
    return {
        "input": r.input,
        "kind": r.kind,
        "endpoint": r.endpoint,
        "sent": r.sent,
        "batches": r.batches,
        "retries": r.retries,
        "dead_lettered": r.dead_lettered,
        "oversize": r.oversize,
        "deadletter_file": str(r.deadletter_path) if r.dead_lettered else None,
        "oversize_file": str(r.oversize_path) if r.oversize else None,
        "resumed_from": r.resumed_from._asdict() if r.resumed_from else None,
        "already_complete": r.already_complete,
    }


@click.command(
    epilog="""\b
Examples:
  godi intake --port 8126 --out received/
  godi intake --port 8126 --out received/ --fail 500x3 --fail 429x2 --retry-after 1
  godi intake --port 0 --port-file port.txt --out received/ --drop 2 --lose-response 1
  godi intake --port 8126 --out received/ --delay 2x3 --latency 0.05
"""
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8126,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port, see --port-file).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for the requests received and stats.json.",
)
@click.option(
    "--fail",
    "fail_steps",
    multiple=True,
    metavar="STEP",
    help="Fault step, repeatable, applied in order: CODE[xN] (e.g. 500x3, 429x2), okxN, "
    "dropxN, losexN, delay:S[xN].",
)
@click.option(
    "--fail-plan",
    type=click.Path(exists=True, dir_okay=False),
    help="File of fault steps (blank-separated, # comments), applied before --fail.",
)
@click.option("--drop", type=click.IntRange(min=1), help="Then reset N connections mid-request.")
@click.option(
    "--lose-response",
    type=click.IntRange(min=1),
    help="Then store N requests but reset the connection instead of answering.",
)
@click.option(
    "--delay",
    metavar="S[xN]",
    help="Then answer N requests (default 1) after S seconds; abandon those whose client left.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(min=0),
    help="Send Retry-After: S with the 429 and 503 answers.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Wait S seconds before answering every request.",
)
@click.option("--no-validate", is_flag=True, help="Accept any JSON objects, not only snapshots.")
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=5 * 1024 * 1024,
    show_default=True,
    help="Answer 413 to larger bodies.",
)
@click.option(
    "--port-file",
    type=click.Path(dir_okay=False),
    help="Write the port listened on here once ready.",
)
def intake(
    port: int,
    out_dir: str,
    fail_steps: tuple[str, ...],
    fail_plan: str | None,
    drop: int | None,
    lose_response: int | None,
    delay: str | None,
    retry_after: float | None,
    latency: float,
    no_validate: bool,
    max_body_bytes: int,
    port_file: str | None,
) -> None:
    """Run a local debugger intake on 127.0.0.1 that stores what it receives.

    It serves /debugger/v1/input, /debugger/v2/input (JSON arrays of snapshots)
    and /debugger/v1/diagnostics (multipart, part `event`, file `event.json`),
    plus GET /info and /stats. Each accepted request is kept under OUT
    (input/NNNNNN.json, diagnostics/NNNNNN.json, requests.jsonl), with running
    counts, duplicates by snapshot id included, in OUT/stats.json.

    For testing it can misbehave: the fault steps apply to the next requests in
    order: first the --fail-plan file, then each --fail, then --drop,
    --lose-response and --delay; after them every request is served normally.
    Runs until interrupted (Ctrl-C, SIGTERM).
    """
    from ..artifacts import write_atomic
    from ..intake import Intake, IntakeOptions, Step, parse_plan, parse_step

    steps: list[Step] = []
    if fail_plan:
        steps += parse_plan(Path(fail_plan).read_text())
    steps += [parse_step(s) for s in fail_steps]
    if drop:
        steps.append(parse_step(f"dropx{drop}"))
    if lose_response:
        steps.append(parse_step(f"losex{lose_response}"))
    if delay:
        steps.append(parse_step(f"delay:{delay}"))
    server = Intake(
        out_dir,
        port,
        IntakeOptions(
            plan=tuple(steps),
            retry_after=retry_after,
            latency=latency,
            validate=not no_validate,
            max_body_bytes=max_body_bytes,
        ),
    )
    if port_file:
        write_atomic(port_file, f"{server.port}\n".encode())
    click.echo(
        f"godi: intake listening on {server.url}, storing under {out_dir} (faults: {server.plan})",
        err=True,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    s = server.stats()
    click.echo(
        f"godi: intake stopped: {s['requests']} requests, {s['stored_requests']} stored, "
        f"{s['snapshots']} snapshots ({s['duplicates']} duplicates), {s['statuses']} statuses",
        err=True,
    )
