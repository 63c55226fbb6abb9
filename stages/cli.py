"""The ``godi`` command: one thin subcommand per stage.

Each subcommand parses its options, calls the stage's entry point and writes the
result; errors of the ``GodiError`` hierarchy are turned into a one-line message
and an exit status here, and nowhere else (2: bad input, 1: other failures).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from . import __version__
from .errors import GodiError
from .ir import ProbeIssue
from .probecounts import printable

if TYPE_CHECKING:
    from .capture.floats import FloatsMode
    from .flagprobes import FlagProbes, ProbeFlags

log = logging.getLogger("godi")


# Subcommands defined in their own modules, imported only when used or listed (the
# upload client's HTTP stack costs every other command ~0.1 s of start-up).
_LAZY_COMMANDS = {
    "intake": ("stages.upload.commands", "intake"),
    "status": ("stages.status", "status"),
    "upload": ("stages.upload.commands", "upload"),
}


class GodiGroup(click.Group):
    """Translates godi errors into exit statuses, once for every subcommand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _LAZY_COMMANDS:
            module, attribute = _LAZY_COMMANDS[cmd_name]
            command = cast(click.Command, getattr(importlib.import_module(module), attribute))
            self.add_command(command, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GodiError as e:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            click.echo(printable(f"godi: error: {e}"), err=True)
            ctx.exit(2 if e.user_error else 1)
        except OSError as e:
            # A full or read-only output location is the user's to fix (2).
            if e.errno not in _OUTPUT_ERRNOS or (ctx.obj and ctx.obj.get("verbose")):
                raise
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"godi: error: {where}cannot write: {e.strerror}", err=True)
            ctx.exit(2)


_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
    """Name ``path`` in the error of a write that fails for lack of room (a full or
    read-only disk): ``OutputError``, exit status 2."""
    from .errors import OutputError

    try:
        yield
    except OSError as e:
        if e.errno not in _OUTPUT_ERRNOS:
            raise
        raise OutputError(path, f"cannot write: {e.strerror}") from e


@click.group(
    cls=GodiGroup,
    epilog="""\b
Examples:
  godi irgen ./server -o ir.json
  godi codegen --ir ir.json --probes probes.json -o prog/
  godi capture --program prog/ -o events.dump -- ./server --port 8080
  godi decode --ir ir.json --program prog/ events.dump -o snapshots.json
  godi run --probes probes.json -o out/ -- ./server --port 8080
  godi ls ./server 'main.(*Cart).*'
  godi run -f 'main.(*Cart).*' --pid 4242          # probes from flags, a live view
""",
)
@click.version_option(__version__, prog_name="godi")
@click.option("-v", "--verbose", is_flag=True, help="Log progress and show tracebacks.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Go dynamic instrumentation: capture values from an unmodified Go program
    with eBPF uprobes and turn them into Datadog snapshots.

    Stages: irgen (binary -> IR), codegen (IR + probes -> BPF C + layout),
    capture (program -> raw dump), decode (dump -> snapshots). Every stage reads
    and writes files, so each can be rerun and inspected on its own.
    """
    ctx.obj = {"verbose": verbose}
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="godi: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def _report_issues(issues: Iterable[ProbeIssue]) -> None:
    for issue in issues:
        click.echo(
            printable(f"godi: probe {issue.probe_id}: {issue.kind}: {issue.message}"), err=True
        )


# Options capture and run share (the same target and capture settings).
_pid_option = click.option("--pid", type=int, help="Attach to this running process.")
_binary_option = click.option(
    "--binary",
    type=click.Path(exists=True, dir_okay=False),
    help="Attach to every process running this binary.",
)
_floats_option = click.option(
    "--floats",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Floats in vector registers: signal captured hits (SIGURG) to read them; "
    "auto: not in a program that handles SIGURG itself (signal.Notify).",
)
_always_armed_option = click.option(
    "--always-armed",
    is_flag=True,
    help="Keep every probe's uprobes in the process all along (by default a "
    "rate-limited probe without a condition is taken out while its budget is spent).",
)


def _sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------- irgen


def _irgen(binary: str, out: str, probes: str | None, functions: tuple[str, ...]) -> None:
    from .artifacts import write_atomic
    from .irgen.cache import generate_ir_json_cached
    from .probefile import load_probes
    from .probetargets import wanted_function_names

    wanted: list[str] | None = None
    if probes:
        wanted = wanted_function_names(load_probes(probes).probes)
    if functions and (wanted is not None or not probes):
        wanted = sorted({*(wanted or []), *functions})
    # Cached by the hash of the binary's bytes and the scope ($GODI_IR_CACHE=0 to bypass).
    data = generate_ir_json_cached(binary, wanted)
    with _writing(out):
        write_atomic(out, data, private=True)
    log.info("%s written", out)


@main.command(
    epilog="""\b
Examples:
  godi irgen ./server -o ir.json
  godi irgen ./server --probes probes.json -o ir.json   # only what the probes need
  godi irgen ./server -f main.main -f 'main.(*Cart).Checkout' -o ir.json
"""
)
@click.argument("binary", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the IR (JSON).",
)
@click.option(
    "--probes",
    type=click.Path(dir_okay=False),
    help="Only describe the functions these probes target.",
)
@click.option(
    "-f", "--function", "functions", multiple=True, help="Only describe this function (repeatable)."
)
def irgen(binary: str, out: str, probes: str | None, functions: tuple[str, ...]) -> None:
    """Read a Go binary's DWARF and write its IR: functions, variables and their
    locations, types, probe points."""
    _irgen(binary, out, probes, functions)


# ----------------------------------------------------------------------- codegen


def _codegen(ir_path: str, probes_path: str, out_dir: str) -> None:
    from .artifacts import dump_generated, load_program
    from .codegen import generate_c
    from .probefile import load_probes

    probeset = load_probes(probes_path)
    program = load_program(ir_path)
    generated = generate_c(program, probeset, ir_hash=_sha256_file(ir_path))
    with _writing(out_dir):
        dump_generated(out_dir, generated.c_source, generated.layout)
    _report_issues(generated.layout.issues)
    log.info("%s: %d uprobes", out_dir, len(generated.layout.probes))


@main.command(
    epilog="""\b
Examples:
  godi codegen --ir ir.json --probes probes.json -o prog/
  less prog/probes.bpf.c prog/layout.json
"""
)
@click.option(
    "--ir",
    "ir_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="IR written by `godi irgen`.",
)
@click.option(
    "--probes",
    "probes_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Probe definitions (JSON or YAML array, Datadog format).",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for probes.bpf.c and layout.json.",
)
def codegen(ir_path: str, probes_path: str, out_dir: str) -> None:
    """Generate the BPF program (C for BCC) and its event layout for a set of probes.

    Probes that cannot be installed are reported one by one; the others are
    generated. Fails only when no probe can be installed."""
    _codegen(ir_path, probes_path, out_dir)


# ----------------------------------------------------------------------- capture


def _capture(
    program_dir: str,
    out: str,
    command: list[str],
    pid: int | None,
    binary: str | None,
    duration: float | None,
    max_events: int | None,
    *,
    table: bool = True,
    floats: str = "auto",
    disarm: bool = True,
) -> int | None:
    """Run the capture and report it; ``table``: end with the per-probe table
    (``run`` prints it after decode instead)."""
    from .capture import capture

    def ready(n: int) -> None:
        click.echo(f"godi: {n} uprobes attached, capturing", err=True)

    result = capture(
        program_dir,
        out,
        command=command or None,
        pid=pid,
        binary=binary,
        duration=duration,
        max_events=max_events,
        on_ready=ready,
        floats=cast("FloatsMode", floats),
        disarm=disarm,
    )
    for probe_id, uprobe, message in result.attach_failures:
        click.echo(printable(f"godi: probe {probe_id} {uprobe}: not attached: {message}"), err=True)
    if result.left_running is not None:
        click.echo(
            f"godi: the target (PID {result.left_running}) still runs: left running, "
            "without probes (godi never stops what it launched)",
            err=True,
        )
    dropped = sum(c.dropped for c in result.counters.values())
    truncated = sum(c.truncated for c in result.counters.values())
    sampled = sum(c.sampled_out for c in result.counters.values())
    unmet = sum(c.condition_false for c in result.counters.values())
    click.echo(
        f"godi: captured {result.events} events ({result.stop_reason}); "
        f"{dropped} dropped, {truncated} truncated, {sampled} over the rate limit"
        + (f", {unmet} not meeting their condition" if unmet else ""),
        err=True,
    )
    if table:
        from .artifacts import load_layout
        from .dump import Counters
        from .probecounts import probe_counts, render_table

        counters = Counters(probes=result.counters, stop_reason=result.stop_reason)
        click.echo(
            render_table(probe_counts(load_layout(program_dir), counters)), err=True, nl=False
        )
    return result.exit_status


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog="""\b
Examples:
  godi capture --program prog/ -o events.dump -- ./server --port 8080
  godi capture --program prog/ -o events.dump --pid 4242 --duration 30
  godi capture --program prog/ -o events.dump --binary ./server --max-events 1000
  godi capture --program prog/ --dry-run --binary ./server
""",
)
@click.option(
    "--program",
    "program_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Directory written by `godi codegen`.",
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    help="Where to write the raw event dump.",
)
@_pid_option
@_binary_option
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--max-events", type=int, help="Stop after this many events.")
@_floats_option
@click.option("--dry-run", is_flag=True, help="Print what would be attached, load nothing.")
@_always_armed_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def capture(
    program_dir: str,
    out: str | None,
    pid: int | None,
    binary: str | None,
    duration: float | None,
    max_events: int | None,
    floats: str,
    dry_run: bool,
    always_armed: bool,
    command: tuple[str, ...],
) -> None:
    """Attach the generated probes to a process and write the raw events.

    With `-- CMD ARGS...` godi starts CMD with the probes attached before its
    first instruction, and stops when it exits (the exit status is passed on).
    Needs root. Stops on target exit, --duration, --max-events or Ctrl-C, and
    always leaves a complete dump. The target must be the binary the probes were
    generated for (checked byte for byte); godi never stops or kills it, and one
    it launched and that still runs when the capture ends is left running."""
    from .errors import TargetError

    targets = sum(1 for t in (command, pid, binary) if t)
    if dry_run:
        from .capture import describe_attachments

        where = binary or (command[0] if command else (f"/proc/{pid}/exe" if pid else None))
        for line in describe_attachments(program_dir, where):
            click.echo(line)
        return
    if targets != 1 and not (binary and not command and pid is None):
        raise TargetError("give exactly one target: -- CMD ARGS..., --pid PID or --binary PATH")
    if not out:
        raise click.UsageError("--output is required (except with --dry-run)")
    status = _capture(
        program_dir,
        out,
        list(command),
        pid,
        binary,
        duration,
        max_events,
        floats=floats,
        disarm=not always_armed,
    )
    if status:
        sys.exit(status if status > 0 else 128 - status)


# ------------------------------------------------------------------------ decode


class _Progress:
    """A progress line on stderr for a long decode: snapshots done, MB written,
    rate. Nothing for the first seconds; then, on a terminal, one line rewritten
    a few times a second, else a line every ``QUIET`` seconds."""

    START = 3.0
    EVERY_TTY = 0.25
    QUIET = 10.0

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self._start = self._clock()
        self._next = self._start + self.START
        self._tty = sys.stderr.isatty()
        self._shown = False

    def update(self, snapshots: int, written: int, done: bool = False) -> None:
        """Show the counts if it is time (``done``: the last call, if shown before)."""
        now = self._clock()
        if not done and now < self._next:
            return
        if done and not self._shown:
            return
        self._next = now + (self.EVERY_TTY if self._tty else self.QUIET)
        elapsed = max(now - self._start, 1e-9)
        line = (
            f"godi: decoding: {snapshots} snapshots, {written / 1e6:.0f} MB written, "
            f"{snapshots / elapsed:.0f} snapshots/s, {written / 1e6 / elapsed:.0f} MB/s"
        )
        if self._tty:
            sys.stderr.write("\r" + line + ("\n" if done else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self._shown = True


def _decode(
    ir_path: str,
    program_dir: str,
    dump_path: str,
    out: str,
    service: str | None,
    tags: str | None,
    jsonl: bool,
    validate: bool,
) -> int:
    from .artifacts import load_layout, load_program, open_atomic, program_hash
    from .decode import decode
    from .errors import DecodeError
    from .probecounts import probe_counts, render_table
    from .schemas import explain_snapshot, snapshot_check

    program = load_program(ir_path)
    layout = load_layout(program_dir)
    check = snapshot_check() if validate else None
    count = written = 0
    progress = _Progress()
    with _writing(out), contextlib.ExitStack() as stack:
        dump = stack.enter_context(open(dump_path, "rb"))
        run = decode(
            dump,
            program,
            layout,
            program_hash=program_hash(program_dir),
            ir_hash=_sha256_file(ir_path),
            service=service or os.environ.get("DD_SERVICE") or "",
            tags=tags if tags is not None else os.environ.get("DD_TAGS", ""),
            name=dump_path,
        )
        # Written as they come (memory stays flat): JSON lines, or an array with
        # one snapshot a line. Compact: whitespace would be most of the bytes.
        sink = (
            sys.stdout.buffer if out == "-" else stack.enter_context(open_atomic(out, private=True))
        )
        failure: DecodeError | None = None
        try:
            for raw in run.encoded():
                if check is not None and (reason := check(raw)) is not None:
                    raise DecodeError(
                        f"snapshot {count} violates the schema: {explain_snapshot(raw, reason)}"
                    )
                if jsonl:
                    sink.write(raw)
                    sink.write(b"\n")
                else:
                    sink.write(b",\n" if count else b"[\n")
                    sink.write(raw)
                count += 1
                written += len(raw) + 2
                if not count & 255:
                    progress.update(count, written)
        except DecodeError as e:
            failure = e  # the snapshots before it are kept, the output stays valid
        if not jsonl:
            sink.write(b"\n]\n" if count else b"[]\n")
        sink.flush()
    progress.update(count, written, done=True)
    if failure is not None:
        click.echo(f"godi: {count} snapshots -> {out} before the error", err=True)
        raise failure
    _report_issues(run.issues)
    for notice in run.notices:
        line = f"godi: probe {notice.probe_id}: {notice.kind}: {notice.message}"
        click.echo(printable(line), err=True)
    if run.truncated_at is not None:
        click.echo(
            f"godi: {dump_path} is cut off at byte {run.truncated_at}; "
            "decoded every whole record before it",
            err=True,
        )
    if run.counters is None:  # not run.finished
        click.echo(
            f"godi: {dump_path} is unfinished: it has no trailer (its capture was killed or "
            "failed), so hits are not known",
            err=True,
        )
    elif run.counters.lost_records:
        click.echo(
            f"godi: {run.counters.lost_records} events captured beyond --max-events were not kept",
            err=True,
        )
    click.echo(f"godi: {count} snapshots -> {out}", err=True)
    floats = run.floats
    if floats.captured or floats.unavailable:
        why = "".join(f"; {n} {reason}" for reason, n in sorted(floats.unavailable.items()))
        click.echo(
            f"godi: floats in vector registers: {floats.captured} read{why}",
            err=True,
        )
        click.echo(
            f"godi: floats: {floats.signalled} captured hits signalled, "
            f"{floats.records} signal frames read",
            err=True,
        )
    rows = probe_counts(layout, run.counters, run.tally)
    click.echo(render_table(rows), err=True, nl=False)
    if run.corrupt:
        spans = ", ".join(f"{n} bytes at byte {at}" for at, n in run.corrupt[:5])
        more = f" and {len(run.corrupt) - 5} more" if len(run.corrupt) > 5 else ""
        raise DecodeError(
            f"{dump_path}: corrupt records skipped ({spans}{more}); every intact record was decoded"
        )
    return count


@main.command(
    epilog="""\b
Examples:
  godi decode --ir ir.json --program prog/ events.dump -o snapshots.json
  godi decode --ir ir.json --program prog/ events.dump -o - --jsonl --service shop
"""
)
@click.option(
    "--ir",
    "ir_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="IR the program was generated from.",
)
@click.option(
    "--program",
    "program_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Directory written by `godi codegen` and used by the capture.",
)
@click.argument("dump_path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the snapshots (JSON array, or JSON lines with --jsonl).",
)
@click.option("--service", help="Service name (default: $DD_SERVICE, else the program's name).")
@click.option("--tags", default=None, help="ddtags, e.g. env:prod,version:1.2 (default: $DD_TAGS).")
@click.option("--jsonl", is_flag=True, help="One snapshot per line instead of a JSON array.")
@click.option("--no-validate", is_flag=True, help="Skip checking each snapshot against the schema.")
def decode(
    ir_path: str,
    program_dir: str,
    dump_path: str,
    out: str,
    service: str | None,
    tags: str | None,
    jsonl: bool,
    no_validate: bool,
) -> None:
    """Turn a raw event dump into Datadog snapshots (validated against
    schemas/snapshot.schema.json)."""
    if service is None and not os.environ.get("DD_SERVICE"):
        service = _service_from_dump(dump_path)
    _decode(ir_path, program_dir, dump_path, out, service, tags, jsonl, not no_validate)


def _service_from_dump(dump_path: str) -> str:
    from .dump import read_header

    with open(dump_path, "rb") as f:
        header = read_header(f, dump_path)
    return Path(header.command[0]).name if header.command else "go-service"


# --------------------------------------------------------------------------- run


def _probe_flag_options(f: Any) -> Any:
    """The options that make probes from flags (``run`` and ``probes``)."""
    options = [
        click.option(
            "-f",
            "--function",
            "functions",
            multiple=True,
            metavar="FUNC",
            help="Probe this function (repeatable): 'main.(*Cart).Add', or a glob "
            "such as 'main.(*Cart).*' expanded against the binary.",
        ),
        click.option(
            "--line",
            "lines",
            multiple=True,
            metavar="FILE:LINE",
            help="Probe this source line (repeatable), e.g. main.go:42.",
        ),
        click.option("--when", metavar="EXPR", help="Only hits where EXPR holds, e.g. 'qty > 10'."),
        click.option("--template", metavar="TEXT", help="The message, e.g. 'add {sku} x{qty}'."),
        click.option(
            "--depth", type=click.IntRange(min=0), help="Levels of references captured (3)."
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0),
            help="Snapshots per second per probe (default 1; 0: no limit).",
        ),
        click.option(
            "--max-functions",
            type=click.IntRange(min=1),
            default=200,  # flagprobes.MAX_FUNCTIONS (not imported: godi starts faster)
            show_default=True,
            help="Most functions the -f globs may expand to.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _flags(
    functions: tuple[str, ...],
    lines: tuple[str, ...],
    when: str | None,
    template: str | None,
    depth: int | None,
    rate: float | None,
    max_functions: int,
) -> ProbeFlags:
    from .flagprobes import ProbeFlags

    return ProbeFlags(
        functions=functions,
        lines=lines,
        when=when,
        template=template,
        depth=depth,
        rate=rate,
        max_functions=max_functions,
    )


def _make_probes(binary: str, flags: ProbeFlags, out: str) -> FlagProbes:
    """Probes from ``flags`` for ``binary``, written to ``out`` (``-``: stdout)."""
    from .flagprobes import dump_probes, flag_probes

    made = flag_probes(binary, flags)
    for note in made.notes:
        click.echo(f"godi: {note}", err=True)
    if out == "-":
        import json

        click.echo(json.dumps(made.definitions, indent=2))
    else:
        with _writing(out):
            dump_probes(out, made)
    return made


@main.command(
    epilog="""\b
Examples:
  godi probes ./server -f main.handleOrder -o probes.json
  godi probes ./server -f 'main.(*Cart).*' --rate 10 --depth 2 > probes.json
  godi probes ./server --line main.go:42 --when 'qty > 10' -o probes.json
"""
)
@click.argument("binary", type=click.Path(exists=True, dir_okay=False))
@_probe_flag_options
@click.option(
    "-o",
    "--output",
    "out",
    default="-",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write the probe file (default: stdout).",
)
def probes(
    binary: str,
    functions: tuple[str, ...],
    lines: tuple[str, ...],
    when: str | None,
    template: str | None,
    depth: int | None,
    rate: float | None,
    max_functions: int,
    out: str,
) -> None:
    """Write the probe file that `godi run -f ... --line ...` would use: ordinary
    Datadog probe definitions, one per function or line, globs expanded against
    BINARY, for the pipeline (`godi codegen --probes`, the Snakefile)."""
    flags = _flags(functions, lines, when, template, depth, rate, max_functions)
    made = _make_probes(binary, flags, out)
    if out != "-":
        click.echo(f"godi: {len(made.definitions)} probes -> {out}", err=True)


@main.command(
    "ls",
    epilog="""\b
Examples:
  godi ls ./server                      # every probe-able function
  godi ls ./server 'main.(*Cart).*'     # a glob, as -f takes it
  godi ls ./server Checkout             # names containing a text
  godi ls ./server --lines main.go      # the lines of main.go a --line probe can use
""",
)
@click.argument("binary", type=click.Path(exists=True, dir_okay=False))
@click.argument("pattern", required=False)
@click.option(
    "--lines",
    "lines_file",
    metavar="FILE",
    help="List the lines with code of this source file (in its functions) instead.",
)
def ls(binary: str, pattern: str | None, lines_file: str | None) -> None:
    """List what BINARY offers to probe: its functions (name, then where it is
    declared), those PATTERN matches (a glob, or a text the name contains).
    Functions the compiler only inlined are marked; with --lines, the lines of
    FILE where a statement starts, with the functions holding them."""
    from .listing import list_functions, list_lines

    if lines_file is not None:
        found = list_lines(binary, lines_file, pattern)
        for row in found:
            click.echo(f"{row.file}:{row.line}  {', '.join(row.functions)}")
        click.echo(f"godi: {len(found)} lines", err=True)
        return
    listed = list_functions(binary, pattern)
    for fn in listed:
        mark = "  (inlined only)" if fn.inlined_only else ""
        click.echo(f"{fn.name}  {fn.file}:{fn.line}{mark}")
    click.echo(f"godi: {len(listed)} functions", err=True)


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LiveView:
    """The live view's process (``godi _live-view``): started before the capture,
    it follows the dump as capture writes it, and is told the dump is complete by
    the end of its standard input (``finish``). ``stdout``/``stderr``: where its
    lines and its summary go (default: godi's own)."""

    def __init__(
        self,
        ir: Path,
        prog: Path,
        dump: Path,
        service: str,
        json_lines: bool,
        *,
        stdout: Any = None,
        stderr: Any = None,
    ) -> None:
        self._stdout, self._stderr = stdout, stderr
        self._args = [
            sys.executable,
            "-m",
            "stages",
            "_live-view",
            "--ir",
            str(ir),
            "--program",
            str(prog),
            "--dump",
            str(dump),
            "--service",
            service,
        ] + (["--json"] if json_lines else [])
        self._proc: Any = None

    def start(self) -> None:
        import subprocess

        # SIGINT ignored from its start (Python keeps an inherited SIG_IGN): a
        # Ctrl-C at the terminal stops the capture, which then ends the view once
        # the dump is complete. It stays in the terminal's process group, so it
        # may write there whatever the terminal's settings.
        self._proc = subprocess.Popen(
            self._args,
            stdin=subprocess.PIPE,
            stdout=self._stdout,
            stderr=self._stderr,
            preexec_fn=_ignore_sigint,  # godi runs no other thread here
        )

    def finish(self) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait()


def _run_target(command: tuple[str, ...], pid: int | None, binary: str | None) -> tuple[str, str]:
    """(the file irgen reads, the program's name) of the one target given."""
    from .capture.target import attach_pid, resolve_executable
    from .errors import TargetError

    if sum(1 for t in (command, pid is not None, binary) if t) != 1:
        raise TargetError("give exactly one target: -- CMD ARGS..., --pid PID or --binary PATH")
    if command:
        exe = resolve_executable(list(command))
        return exe, Path(exe).name
    if pid is not None:
        found = attach_pid(pid)
        # The mapped file itself: right even if the path was replaced since.
        return f"/proc/{pid}/exe", Path(found.binary).name
    assert binary is not None
    return binary, Path(binary).name


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog="""\b
Examples:
  godi run -f main.handleOrder -- ./server --port 8080
  godi run -f 'main.(*Cart).*' --rate 10 --pid 4242
  godi run --line main.go:42 --when 'qty > 10' --binary ./server --duration 30
  godi run -f main.greet --json --pid 4242 | jq .message
  godi run --probes probes.json -o out/ --service shop --tags env:dev -- ./shop
""",
)
@click.option(
    "--probes",
    "probes_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Probe definitions (JSON or YAML array), instead of -f/--line.",
)
@_probe_flag_options
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory for every intermediate file and snapshots.json "
    "(default: a new temporary directory, kept).",
)
@_pid_option
@_binary_option
@click.option("--service", help="Service name (default: $DD_SERVICE, else the program's name).")
@click.option("--tags", default=None, help="ddtags (default: $DD_TAGS).")
@click.option("--duration", type=float, help="Stop capturing after this many seconds.")
@click.option("--max-events", type=int, help="Stop capturing after this many events.")
@click.option("--json", "json_lines", is_flag=True, help="Live view as JSON lines.")
@click.option("--no-live", is_flag=True, help="No live view: only the files and the table.")
@_floats_option
@_always_armed_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    probes_path: str | None,
    functions: tuple[str, ...],
    lines: tuple[str, ...],
    when: str | None,
    template: str | None,
    depth: int | None,
    rate: float | None,
    max_functions: int,
    out_dir: str | None,
    pid: int | None,
    binary: str | None,
    service: str | None,
    tags: str | None,
    duration: float | None,
    max_events: int | None,
    json_lines: bool,
    no_live: bool,
    floats: str,
    always_armed: bool,
    command: tuple[str, ...],
) -> None:
    """All four stages in one go: probe CMD (launched), a running --pid, or every
    process of --binary, and watch each snapshot's message as it happens.

    Probes come from -f/--line (with --when, --template, --depth, --rate for all
    of them) or from a probe file. While capturing, a line per snapshot goes to
    stdout (stderr when CMD is launched, whose stdout stays its own: probe id,
    goroutine, time, message); if the view falls behind it skips
    (counted) while the dump keeps everything. Stops on target exit, --duration,
    --max-events or Ctrl-C, then decodes the whole dump and prints the per-probe
    table. Leaves probes.json (from flags), ir.json, prog/, events.dump and
    snapshots.json in the output directory, so any stage can be rerun alone."""
    import tempfile

    from .errors import UsageError

    flags = _flags(functions, lines, when, template, depth, rate, max_functions)
    if probes_path and flags.any:
        raise UsageError("give --probes FILE or -f/--line flags, not both")
    if not probes_path and not flags.any:
        raise UsageError("no probe: give -f FUNC, --line FILE:LINE or --probes FILE")
    irgen_path, name = _run_target(command, pid, binary)
    temporary = out_dir is None
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="godi-run-"))
    out.mkdir(parents=True, exist_ok=True)
    ir_path, prog, dump, snaps = (
        out / "ir.json",
        out / "prog",
        out / "events.dump",
        out / "snapshots.json",
    )
    if flags.any:
        probes_path = str(out / "probes.json")
        made = _make_probes(irgen_path, flags, probes_path)
        scope = made.ir_scope(irgen_path)
        from .artifacts import write_atomic
        from .irgen.cache import generate_ir_json_cached

        data = generate_ir_json_cached(irgen_path, scope)
        with _writing(str(ir_path)):
            write_atomic(ir_path, data)
    else:
        assert probes_path is not None
        _irgen(irgen_path, str(ir_path), probes_path, ())
    _codegen(str(ir_path), probes_path, str(prog))
    svc = service or os.environ.get("DD_SERVICE") or name
    # A launched program's stdout stays its own (what it prints, nothing else):
    # the view goes to stderr then, and to stdout when attaching.
    view = (
        None
        if no_live
        else LiveView(ir_path, prog, dump, svc, json_lines, stdout=sys.stderr if command else None)
    )
    dump.unlink(missing_ok=True)  # the view must not read an earlier run's dump
    try:
        if view is not None:
            view.start()  # loads while BCC compiles; waits for the dump
        status = _capture(
            str(prog),
            str(dump),
            list(command),
            pid,
            binary,
            duration,
            max_events,
            table=False,
            floats=floats,
            disarm=not always_armed,
        )
    finally:
        if view is not None:
            view.finish()
    try:
        _decode(str(ir_path), str(prog), str(dump), str(snaps), svc, tags, False, True)
    except KeyboardInterrupt:
        # A second Ctrl-C: the dump is complete, snapshots.json not written (it
        # is written whole or not at all); the decode can be redone alone.
        click.echo(
            f"godi: decode interrupted: {dump} is complete; "
            f"godi decode --ir {ir_path} --program {prog} {dump} -o {snaps}",
            err=True,
        )
        sys.exit(130)
    if temporary:
        click.echo(f"godi: files kept in {out}", err=True)
    if status:
        sys.exit(status if status > 0 else 128 - status)


@main.command("_live-view", hidden=True)
@click.option("--ir", "ir_path", required=True)
@click.option("--program", "program_dir", required=True)
@click.option("--dump", "dump_path", required=True)
@click.option("--service", required=True)
@click.option("--json", "json_lines", is_flag=True)
def live_view_command(
    ir_path: str, program_dir: str, dump_path: str, service: str, json_lines: bool
) -> None:
    """The live view of `godi run` (its own process): the snapshots of a dump
    being written, one line each, until the standard input ends."""
    from .liveview import live_view, stdin_closed, wait_stdin

    # Below everything else (SCHED_IDLE: only CPU time nobody else wants): when
    # CPUs are short, the view falls behind and skips, rather than the capture or
    # the target slowing down.
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)
    try:
        stats = live_view(
            ir_path,
            program_dir,
            dump_path,
            service=service,
            json_lines=json_lines,
            out=sys.stdout,
            done=stdin_closed,
            wait=wait_stdin,
        )
    except BrokenPipeError:  # `godi run ... | head`: the reader has seen enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return
    skipped = (
        f", {stats.skipped} events skipped while behind (the dump has them all)"
        if stats.skipped
        else ""
    )
    click.echo(f"godi: live view: {stats.shown} snapshots shown{skipped}", err=True)


# ------------------------------------------------------------------------ golden


@main.command(
    epilog="""\b
Examples:
  godi golden snapshots.json -o testdata/golden/          # write one golden per probe
  godi golden snapshots.json --check testdata/golden/     # CI: exit 1 with a diff if changed
  godi golden --ir ir.json --program prog/ --dump events.dump --check testdata/golden/
  godi golden snapshots.json -o golden/ --ignore-lines --stack-depth 1 --mask 'id=[0-9]+'
"""
)
@click.argument("snapshots_path", metavar="[SNAPSHOTS]", required=False, type=click.Path())
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write the goldens into this directory (stale ones are removed).",
)
@click.option(
    "--check",
    "check_dir",
    type=click.Path(file_okay=False),
    help="Compare with the goldens of this directory instead; exit 1 when they differ.",
)
@click.option("--dump", "dump_path", type=click.Path(dir_okay=False), help="Decode this dump.")
@click.option("--ir", "ir_path", type=click.Path(dir_okay=False), help="IR, with --dump.")
@click.option(
    "--program", "program_dir", type=click.Path(file_okay=False), help="Program, with --dump."
)
@click.option("--service", help="Service name, with --dump (default as `godi decode`).")
@click.option("--tags", default=None, help="ddtags, with --dump (default: $DD_TAGS).")
@click.option(
    "--ignore-lines", is_flag=True, help="Replace line numbers (stack, probe location) by 0."
)
@click.option(
    "--stack-depth",
    type=click.IntRange(min=0),
    help="Keep only this many frames of each stack, from the probe (0: none).",
)
@click.option(
    "--mask",
    multiple=True,
    metavar="REGEX",
    help="Replace matches in messages and values by <masked> (repeatable).",
)
@click.option(
    "--sort-snapshots", is_flag=True, help="Order each probe's snapshots by content, not time."
)
def golden(
    snapshots_path: str | None,
    out_dir: str | None,
    check_dir: str | None,
    dump_path: str | None,
    ir_path: str | None,
    program_dir: str | None,
    service: str | None,
    tags: str | None,
    ignore_lines: bool,
    stack_depth: int | None,
    mask: tuple[str, ...],
    sort_snapshots: bool,
) -> None:
    """Write one golden file per probe (DIR/<probe id>.json: pretty, sorted JSON,
    volatile fields normalised), or check a run against them.

    Input: SNAPSHOTS (what `godi decode` wrote, JSON array or lines), or a dump
    with the IR and program it was captured with. Ids, timestamps, durations,
    addresses and goroutine ids are always normalised and map entries sorted; the
    options normalise more. --check prints a unified diff per changed probe, lists
    probes without a golden and goldens without a probe, and exits 1 if any."""
    from . import golden as mod

    if (out_dir is None) == (check_dir is None):
        raise click.UsageError("give one of -o DIR (write) or --check DIR")
    if (snapshots_path is None) == (dump_path is None):
        raise click.UsageError("give SNAPSHOTS, or --dump with --ir and --program")
    options = mod.Normalisation(
        lines=ignore_lines, stack_depth=stack_depth, mask=mask, sort_snapshots=sort_snapshots
    )
    options.masks()  # a bad expression is reported before any reading
    if dump_path is not None:
        if ir_path is None or program_dir is None:
            raise click.UsageError("--dump needs --ir and --program")
        if service is None:
            service = os.environ.get("DD_SERVICE") or _service_from_dump(dump_path)
        tags = tags if tags is not None else os.environ.get("DD_TAGS", "")
        snapshots = mod.decode_snapshots(ir_path, program_dir, dump_path, service, tags)
    else:
        assert snapshots_path is not None
        snapshots = mod.load_snapshots(snapshots_path)
    if out_dir is not None:
        written = mod.write_goldens(snapshots, out_dir, options)
        for name in written.kept:
            click.echo(f"godi: {Path(out_dir) / name} is not a golden: left alone", err=True)
        click.echo(
            f"godi: goldens in {out_dir}: {len(written.created)} new, "
            f"{len(written.changed)} changed, {len(written.unchanged)} unchanged, "
            f"{len(written.removed)} removed",
            err=True,
        )
        return
    assert check_dir is not None
    result = mod.check_goldens(snapshots, check_dir, options)
    if result.ok:
        click.echo(f"godi: {result.summary()}", err=True)
        return
    click.echo(result.report(), nl=False)
    click.echo(f"godi: {result.summary()}", err=True)
    click.echo(
        f"godi: if the change is intended, write the goldens again: -o {check_dir} "
        "instead of --check (pipeline: snakemake -c2 golden)",
        err=True,
    )
    sys.exit(1)


# -------------------------------------------------------------------------- show


@main.command(
    epilog="""\b
Examples:
  godi show snapshots.json
  godi show snapshots.json -p greet --depth 5 --width 20
  godi show snapshots.json --grep gopher --stack | less -R
"""
)
@click.argument("snapshots_path", metavar="SNAPSHOTS", type=click.Path(dir_okay=False))
@click.option("-p", "--probe", "probes", multiple=True, help="Only this probe id (repeatable).")
@click.option(
    "-g", "--grep", "text", help="Only snapshots with this text (message, names, types, values)."
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Levels of nested values shown.",
)
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Values shown per scope, fields/elements/entries per value.",
)
@click.option("--stack", is_flag=True, help="Show each snapshot's stack too.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colours: auto means when stdout is a terminal and $NO_COLOR is unset.",
)
def show(
    snapshots_path: str,
    probes: tuple[str, ...],
    text: str | None,
    depth: int,
    width: int,
    stack: bool,
    color: str,
) -> None:
    """Print snapshots for a person: one block per snapshot with its probe,
    location and time, the message, then the captured values as an indented tree
    with their types (what `godi decode` wrote, or a golden file)."""
    from .golden import load_snapshots
    from .show import Style, render_snapshot, select

    snapshots = load_snapshots(snapshots_path)
    if color == "auto":
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    else:
        colour = color == "always"
    style = Style(colour=colour)
    shown = 0
    try:
        for position, s in select(snapshots, probes, text):
            block = render_snapshot(position, s, depth=depth, width=width, stack=stack, style=style)
            click.echo(("\n" if shown else "") + block, nl=False, color=colour)
            shown += 1
        sys.stdout.flush()
    except BrokenPipeError:  # `godi show ... | head`: the reader has seen enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return
    click.echo(f"godi: {shown} of {len(snapshots)} snapshots shown", err=True)


# -------------------------------------------------------------------------- page


@main.command(
    epilog="""\b
Examples:
  godi page snapshots.json -o page.html
  godi page snapshots.json --statuses probe-status.json --dump events.dump \\
      --program prog/ --benchmark capture=bench/capture.tsv -o page.html
"""
)
@click.argument("snapshots_path", metavar="SNAPSHOTS", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the page.",
)
@click.option("--statuses", type=click.Path(dir_okay=False), help="Probe statuses (`godi status`).")
@click.option("--dump", "dump_path", type=click.Path(dir_okay=False), help="The capture's dump.")
@click.option(
    "--program",
    "program_dir",
    type=click.Path(file_okay=False),
    help="Codegen directory (its layout names the dump's counters).",
)
@click.option(
    "--benchmark",
    "benchmarks",
    multiple=True,
    metavar="STAGE=TSV",
    help="A stage's Snakemake benchmark file (repeatable; missing files say so).",
)
@click.option("--title", default=None, help="Heading (default: the snapshots' path).")
def page(
    snapshots_path: str,
    out: str,
    statuses: str | None,
    dump_path: str | None,
    program_dir: str | None,
    benchmarks: tuple[str, ...],
    title: str | None,
) -> None:
    """Write one self-contained HTML page of a capture: each probe's status and
    counts, what each stage cost, and the snapshots as an expandable tree (type,
    value and notCapturedReason of every captured value)."""
    from .artifacts import write_atomic
    from .golden import load_snapshots
    from .report import probe_rows, read_benchmark, render_page

    costs = []
    for item in benchmarks:
        stage, sep, path = item.partition("=")
        if not sep or not stage or not path:
            raise click.BadParameter(f"{item!r} is not STAGE=TSV", param_hint="--benchmark")
        costs.append(read_benchmark(stage, path))
    if dump_path is not None and program_dir is None:
        raise click.UsageError("--dump needs --program (its layout names the counters)")
    snapshots = load_snapshots(snapshots_path)
    counts = probe_rows(
        snapshots=snapshots, statuses=statuses, dump=dump_path, program_dir=program_dir
    )
    text = render_page(
        title=title or snapshots_path, snapshots=snapshots, counts=counts, costs=costs
    )
    write_atomic(out, text.encode())
    click.echo(f"godi: page of {len(snapshots)} snapshots -> {out}", err=True)


# ----------------------------------------------------------------------- schemas


@main.command(
    epilog="""\b
Examples:
  godi schemas           # rewrite schemas/*.schema.json from the Structs
  godi schemas --check   # fail if they drifted (CI)
"""
)
@click.option("--check", is_flag=True, help="Fail if the files differ from the Structs.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Schema directory (default: the project's schemas/).",
)
def schemas(check: bool, directory: str | None) -> None:
    """Generate the JSON schemas of godi's formats from their msgspec Structs."""
    from . import schemas as mod
    from .errors import ArtifactError
    from .paths import schemas_dir

    d = Path(directory) if directory else None
    if check:
        bad = mod.drifted(d)
        if bad:
            raise ArtifactError(
                str(d or schemas_dir()), f"out of date: {', '.join(bad)}; run `godi schemas`"
            )
        click.echo("schemas up to date")
        return
    for path in mod.write_all(d):
        click.echo(f"wrote {path}")
