"""The snapshot envelope: logger, ids, timestamps, probe reference, captures.

Everything here is per dump or per probe and computed once, as JSON text (see
``jsontext``); ``Envelope.snapshot`` then only fills in what changes with each hit.
"""

from __future__ import annotations

import hashlib

from ..dump import DumpHeader
from ..layout import ProbeLayout
from ..snapshot import EvaluationError, ProbeLocation, ProbeRef
from .jsontext import encode, quote

OFFSET_BITS = 48
"""Bits of a snapshot id that hold the record's offset in the dump."""


def split_function(function: str) -> tuple[str, str]:
    """Split a Go function name into its package path and the rest.

    ``main.divide`` -> ``("main", "divide")``; ``github.com/org/pkg.(*T).M`` ->
    ``("github.com/org/pkg", "(*T).M")``. The package ends at the first dot after
    the last slash; slashes inside type arguments (``F[a/b.T]``) do not count. Dots
    the linker escaped in the last path element (``yaml%2ev3``) are restored.
    """
    bracket = function.find("[")
    head = function if bracket < 0 else function[:bracket]
    slash = head.rfind("/")
    dot = function.find(".", slash + 1)
    if dot < 0 or (bracket >= 0 and dot > bracket):
        return "", function
    return function[:dot].replace("%2e", "."), function[dot + 1 :]


_AFTER_GOID = ',"thread_name":""},"debugger":{"type":"snapshot","snapshot":{"id":"'


class _ProbeEnvelope:
    """The texts of a snapshot fixed by its probe, around what each hit fills in
    (the members of ``Snapshot`` in declaration order)."""

    __slots__ = ("before_goid", "ref")

    def __init__(self, probe: ProbeLayout) -> None:
        logger_name, logger_method = split_function(probe.function)
        ref = ProbeRef(
            id=probe.probe_id,
            version=probe.probe_version,
            location=ProbeLocation(method=probe.function, file=probe.file, lines=[str(probe.line)]),
        )
        self.before_goid = (
            f',"logger":{{"name":{quote(logger_name)},"method":{quote(logger_method)}'
            f',"version":{probe.probe_version},"thread_id":'
        )
        self.ref = ',"language":"go","probe":' + encode(ref)


class Envelope:
    """Builds snapshot envelopes for the events of one dump.

    Snapshot ids are UUIDs (version 8, RFC 9562's custom layout) made of the dump's
    identity (build id, program hash, pid, clock offset), hashed into the first 80
    bits, and the record's byte offset in the last 48: decoding a dump twice gives
    the same ids, two captures give different ones, and making one costs a format.
    """

    def __init__(self, header: DumpHeader, probes: list[ProbeLayout], service: str, tags: str):
        identity = f"{header.build_id}/{header.program_hash}/{header.pid}/{header.clock_offset_ns}"
        h = hashlib.sha256(b"godi snapshot ids/" + identity.encode()).hexdigest()
        variant = "89ab"[int(h[15], 16) & 3]  # the top two bits of digit 16 are 10
        self.id_prefix = f"{h[:8]}-{h[8:12]}-8{h[12:15]}-{variant}{h[16:19]}-"
        """The ids' text before the offset's 12 hex digits."""
        self.clock_offset_ns = header.clock_offset_ns
        self.start = (
            f'{{"service":{quote(service)},"ddsource":"dd_debugger","ddtags":{quote(tags)}'
            ',"message":'
        )
        """The snapshots' text up to their message."""
        self._probes = {p.index: _ProbeEnvelope(p) for p in probes}

    def probe_texts(self, probe: int) -> tuple[str, str]:
        """The texts of probe index ``probe``'s snapshots after their timestamp and
        before the goroutine id, and after their id's timestamp (see ``snapshot``)."""
        p = self._probes[probe]
        return p.before_goid, p.ref

    def snapshot_id(self, offset: int) -> str:
        """The id of the snapshot decoded from the record at byte ``offset`` (dumps
        beyond 256 TiB would wrap)."""
        return f"{self.id_prefix}{offset & ((1 << OFFSET_BITS) - 1):012x}"

    def snapshot(
        self,
        probe: int,
        offset: int,
        ktime_ns: int,
        goid: int,
        message: str,
        captures: str | None,
        errors: list[EvaluationError],
        duration: int | None = None,
        stack: str | None = None,
    ) -> bytes:
        """The JSON of the snapshot of one hit of probe index ``probe``; ``captures``
        and ``stack`` are JSON texts, None: none."""
        p = self._probes[probe]
        ts = str((ktime_ns + self.clock_offset_ns) // 1_000_000)
        optional = ""
        if stack is not None:
            optional = ',"stack":' + stack
        if captures is not None:
            optional += ',"captures":' + captures
        if errors:
            optional += ',"evaluationErrors":' + encode(errors)
        during = "" if duration is None else f',"duration":{duration}'
        text = (
            f'{self.start}{quote(message)},"timestamp":{ts}{during}{p.before_goid}{goid}'
            f'{_AFTER_GOID}{self.snapshot_id(offset)}","timestamp":{ts}{p.ref}{optional}}}}}}}'
        )
        return text.encode()


def entry_captures(
    arguments: str | None, locals_: str | None, returned: str | None, expressions: str | None
) -> str:
    """``captures`` of a call, from JSON objects: ``arguments`` and ``locals_`` under
    ``entry`` (None: the entry was not captured; ``locals_`` None: no locals), the
    results' ``returned`` under ``return.locals`` (None: the return was not
    captured), capture ``expressions`` where they were evaluated: at the return
    when there is one, else at the entry."""
    entry = None
    if arguments is not None:
        entry = '"arguments":' + arguments
        if locals_ is not None:
            entry += ',"locals":' + locals_
    ret = None if returned is None else '"locals":' + returned
    if expressions is not None:
        if ret is not None:
            ret += ',"captureExpressions":' + expressions
        else:
            exprs = '"captureExpressions":' + expressions
            entry = exprs if entry is None else entry + "," + exprs
    if entry is None:
        return '{"return":{' + str(ret) + "}}"
    if ret is None:
        return '{"entry":{' + entry + "}}"
    return '{"entry":{' + entry + '},"return":{' + ret + "}}"


def line_captures(line: int, arguments: str, locals_: str | None, expressions: str | None) -> str:
    """``captures`` of a line probe, from JSON objects (``locals_`` None: no locals,
    ``expressions`` None: no capture expressions)."""
    scope = '"arguments":' + arguments
    if locals_ is not None:
        scope += ',"locals":' + locals_
    if expressions is not None:
        scope += ',"captureExpressions":' + expressions
    return f'{{"lines":{{{quote(str(line))}:{{{scope}}}}}}}'
