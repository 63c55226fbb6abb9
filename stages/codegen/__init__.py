"""Stage 2, codegen: IR + probe definitions -> BPF C source and its layout.

``generate_c(program, probeset, ...)`` decides, for each probe, which functions it
targets, where the uprobe goes, and how each captured variable is read there; it
returns the C text (``probes.bpf.c``) and the ``Layout`` that capture and decode
read. Per-probe problems become ``ProbeIssue``s; only "no probe usable" raises.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from ..abi import result_pieces
from ..artifacts import header
from ..errors import NoUsableProbeError
from ..expr.probe import condition_ast, probe_expression_issue
from ..expr.values import kinds_from_types
from ..ir import (
    Function,
    InlinedFunction,
    InlinedInstance,
    LocationRange,
    ProbeIssue,
    Program,
    TypeIndex,
    Variable,
)
from ..layout import (
    LAYOUT_FORMAT,
    LAYOUT_FORMAT_VERSION,
    CaptureRole,
    Layout,
    ProbeKind,
    ProbeLayout,
    RateLimit,
)
from ..probefile import ProbeSet
from ..redaction import current as current_redaction
from ..sampling import bpf_rate, probe_rate
from ..spec import Probe
from .captypes import CaptureTypes
from .conditions import condition_c, scalar_variables
from .lines import line_pcs, live_variables, live_variables_of_copy
from .render import render_file, render_probe
from .resolve import inlined_copies, method_candidates, resolve
from .roots import Root, build_root

__all__ = ["Generated", "generate_c"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generated:
    """What codegen produces: the C source and its layout."""

    c_source: str
    layout: Layout


ProbePoint = tuple[ProbeKind, int, int, bool, list[tuple[Variable, CaptureRole]]]
"""(kind, pc, CFA offset from RSP there, whether RBP was pushed, captured variables)."""


def _probe_points(fn: Function, types: TypeIndex) -> list[ProbePoint]:
    """The entry of ``fn`` (arguments) and each of its returns (results, by the ABI)."""
    params = [v for v in fn.variables if v.role == "param"]
    points: list[ProbePoint] = [
        (
            "entry",
            fn.entry_pc,
            fn.entry_cfa_offset,
            fn.frame_pointer,
            [(v, "argument") for v in params],
        )
    ]
    results = [v for v in fn.variables if v.role == "result"]
    pieces = result_pieces([v.type for v in params], [v.type for v in results], types.resolve)
    for site in fn.return_sites:
        role: CaptureRole = "return"
        located = [
            (
                msgspec.structs.replace(
                    v,
                    # Go names unnamed results ~r0, ~r1...; Datadog shows r0, r1.
                    name=v.name.lstrip("~"),
                    locations=[LocationRange(low_pc=site.pc, high_pc=site.pc + 1, pieces=p)],
                    unavailable=None,
                ),
                role,
            )
            for v, p in zip(results, pieces, strict=True)
        ]
        points.append(("return", site.pc, site.cfa_offset, False, located))
    return points


def _check_probe(probe: Probe) -> ProbeIssue | None:
    if probe.type != "LOG_PROBE":
        return ProbeIssue(
            probe_id=probe.id,
            kind="unsupported_probe_type",
            message=f"{probe.type} is not supported by godi; only LOG_PROBE is instrumented",
        )
    where = probe.where
    if where.source_file or where.lines:
        if not where.source_file or not where.lines or len(where.lines) != 1:
            return ProbeIssue(
                probe_id=probe.id,
                kind="invalid_probe",
                message="a line probe needs where.sourceFile and exactly one where.lines entry",
            )
        if not where.lines[0].strip().isdigit():
            return ProbeIssue(
                probe_id=probe.id,
                kind="invalid_probe",
                message=f"where.lines[0] is not a line number: {where.lines[0]!r}",
            )
        return None
    if not where.method_name:
        return ProbeIssue(
            probe_id=probe.id,
            kind="invalid_probe",
            message="where.methodName (or sourceFile and lines) is required",
        )
    return None


MAX_INLINED_COPIES = 256
"""Inlined copies one probe may place uprobes on (a line probe: places): each is
code in the BPF program, and work for the verifier."""


class Point(NamedTuple):
    """One uprobe of a probe."""

    function: str  # what the snapshot names: for an inlined copy, the inlined function
    kind: ProbeKind
    pc: int
    cfa_offset: int  # CFA = RSP + cfa_offset at pc
    pushed_bp: bool  # the frame holding pc saved its caller's RBP at CFA-16
    variables: list[tuple[Variable, CaptureRole]]
    file: str
    line: int
    has_return: bool = False  # an entry whose returns are probed too


def _inlined_point(inl: InlinedFunction, copy: InlinedInstance) -> Point:
    """The entry of an inlined copy: its first instruction, in its caller's frame.
    An inlined call has no return instruction: its snapshot has no return values.
    A Go function with a frame saves RBP (a frameless one has only the return
    address above RSP), so the caller pushed RBP when its CFA is further away."""
    return Point(
        inl.name,
        "entry",
        copy.entry_pc,
        copy.entry_cfa_offset,
        copy.entry_cfa_offset > 8,
        [(v, "argument") for v in copy.variables if v.role == "param"],
        inl.file,
        inl.line,
    )


def _points(program: Program, probe: Probe, types: TypeIndex) -> list[Point] | ProbeIssue:
    """Every uprobe a probe needs, or the reason it cannot be installed."""
    where = probe.where
    if where.source_file and where.lines:
        line = int(where.lines[0])
        found = line_pcs(program, where.source_file, line)
        if not found:
            return ProbeIssue(
                probe_id=probe.id,
                kind="line_not_found",
                message=f"no code for {where.source_file}:{line} in the binary "
                "(no such line, or it was optimised away)",
            )
        if len(found) > MAX_INLINED_COPIES:
            return ProbeIssue(
                probe_id=probe.id,
                kind="too_many_copies",
                message=f"{where.source_file}:{line} is at {len(found)} places (inlined "
                f"copies), more than the {MAX_INLINED_COPIES} uprobes one probe may take",
            )
        return [
            Point(
                site.copy[0].name if site.copy else site.function.name,
                "line",
                site.pc,
                site.function.entry_cfa_offset,
                site.function.frame_pointer,
                live_variables_of_copy(site.copy[1], site.pc, line)
                if site.copy
                else live_variables(site.function, site.pc, line),
                site.file,
                line,
            )
            for site in found
        ]
    functions = resolve(program, probe)
    copies = inlined_copies(program, probe)
    if not functions and not copies:
        return ProbeIssue(
            probe_id=probe.id,
            kind="function_not_found",
            message=f"no function {' or '.join(method_candidates(probe))} in the binary",
        )
    points = []
    for fn in functions:
        found_points = _probe_points(fn, types)
        returns = any(kind == "return" for kind, *_ in found_points)
        points += [
            Point(fn.name, kind, pc, cfa, pushed, variables, fn.file, fn.line, returns)
            for kind, pc, cfa, pushed, variables in found_points
        ]
    if len(copies) > MAX_INLINED_COPIES:
        name = copies[0][0].name
        if not points:
            return ProbeIssue(
                probe_id=probe.id,
                kind="too_many_copies",
                message=f"{name} was inlined at {len(copies)} places, more than the "
                f"{MAX_INLINED_COPIES} uprobes one probe may take: probe its callers",
            )
        log.warning(
            "probe %s: %s was also inlined at %d places (more than %d): only its own "
            "code is probed",
            probe.id,
            name,
            len(copies),
            MAX_INLINED_COPIES,
        )
        copies = []
    return points + [_inlined_point(inl, copy) for inl, copy in copies]


def _conditions(
    probe: Probe,
    points: list[Point],
    roots: list[Root],
    types: TypeIndex,
    kinds: dict[str, str],
) -> dict[int, str]:
    """The C condition of each entry and line point of ``probe`` (by position in
    ``points``), when BPF decides the probe's condition at every one of them; else
    nothing (decode decides it). A condition evaluated at the exit may not name a
    result: the scope there holds the results too."""
    if probe.when is None:
        return {}
    results = {
        v.name
        for point, root in zip(points, roots, strict=True)
        if point.kind == "return"
        for v in root.variables
    }
    out: dict[int, str] = {}
    for i, (point, root) in enumerate(zip(points, roots, strict=True)):
        if point.kind == "return":
            continue
        scalars = scalar_variables(root.variables, types, kinds)
        if probe.evaluate_at != "ENTRY":
            scalars = {n: v for n, v in scalars.items() if n not in results}
        condition = condition_c(condition_ast(probe), scalars)
        if condition is None:
            return {}
        out[i] = condition
    return out


def generate_c(program: Program, probeset: ProbeSet, *, ir_hash: str) -> Generated:
    """Generate the BPF program for ``probeset`` against ``program``.

    Raises NoUsableProbeError when no probe can be installed; the message lists
    each probe's reason.
    """
    types = TypeIndex(program.types)
    captypes = CaptureTypes(types)
    kinds = kinds_from_types(program.types)
    issues = list(probeset.issues)
    layouts: list[ProbeLayout] = []
    rates: list[RateLimit] = []
    sources: list[str] = []
    for probe in probeset.probes:
        problem = _check_probe(probe) or probe_expression_issue(probe, kinds)
        if problem:
            issues.append(problem)
            continue
        points = _points(program, probe, types)
        if isinstance(points, ProbeIssue):
            issues.append(points)
            continue
        slot = len(rates)
        roots = [build_root(p.pc, p.variables, types, captypes.redacted) for p in points]
        conditions = _conditions(probe, points, roots, types, kinds)
        decided = bool(conditions)
        # A condition BPF decides comes before the rate limit, which then counts
        # only hits that meet it; otherwise BPF lets more through, for decode.
        rate = probe_rate(probe) if decided else bpf_rate(probe)
        rates.append(RateLimit(slot=slot, probe_id=probe.id, per_second=rate))
        for i, (point, root) in enumerate(zip(points, roots, strict=True)):
            kind = point.kind
            index = len(layouts)
            root_type = captypes.add_root(
                root.size,
                [(v.type, v.root_offset) for v in root.variables if v.root_offset is not None],
            )
            # Returns follow their entry's decision when some entries are left out.
            gated = (rate is not None or decided) and (point.has_return or kind == "return")
            probe_layout = ProbeLayout(
                index=index,
                probe_id=probe.id,
                probe_version=probe.version,
                kind=kind,
                function=point.function,
                file=point.file,
                line=point.line,
                pc=point.pc,
                root_type=root_type,
                root_size=root.size,
                limits=probe.limits,
                capture_snapshot=probe.capture_snapshot,
                variables=root.variables,
                bpf_function=f"godi_probe_{index}",
                rate_slot=slot,
                has_return=point.has_return,
                gated=gated,
                cfa_offset=point.cfa_offset,
                pushed_bp=point.pushed_bp,
                want_stack=probe.capture_snapshot and kind != "return",
                root_refs=len(captypes.slots_of_index(root_type)),
                decided=decided and kind != "return",
                vector_registers=root.vector_registers,
            )
            layouts.append(probe_layout)
            sources.append(render_probe(probe_layout, root.statements, conditions.get(i)))
    if not layouts:
        detail = "; ".join(f"{i.probe_id}: {i.message}" for i in issues) or "no probes given"
        raise NoUsableProbeError(f"no probe can be installed: {detail}")
    runtime_types = [captypes.runtime_type(rt.address, rt.type) for rt in program.runtime_types]
    heap_types = program.binary.types_end > program.binary.types_start
    if heap_types:
        captypes.heap_descriptors()
    table = captypes.table()
    layout = Layout(
        header=header(
            LAYOUT_FORMAT,
            LAYOUT_FORMAT_VERSION,
            {
                "ir": ir_hash,
                "probes": probeset.sha256,
                "binary": program.binary.build_id,
                "binary_sha256": program.binary.sha256,
            },
        ),
        binary_build_id=program.binary.build_id,
        binary_sha256=program.binary.sha256,
        goid_offset=program.binary.goid_offset,
        stack_hi_offset=program.binary.stack_hi_offset,
        probes=layouts,
        types=table,
        issues=issues,
        rates=rates,
        runtime_types=runtime_types,
        types_start=program.binary.types_start if heap_types else 0,
        types_end=program.binary.types_end if heap_types else 0,
        definitions=[p for p in probeset.probes if any(x.probe_id == p.id for x in layouts)],
        redacted_keys=sorted(current_redaction().identifiers),
        redacted_types=current_redaction().type_patterns(),
    )
    c_source = render_file(
        program.binary.build_id,
        layouts,
        sources,
        len(table),
        sum(1 for r in runtime_types if r.capture_type is not None),
    )
    return Generated(c_source=c_source, layout=layout)
