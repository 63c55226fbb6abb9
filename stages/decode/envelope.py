"""The snapshot envelope: logger, ids, timestamps, probe reference, captures.

Everything here is per dump or per probe and computed once; ``Envelope.snapshot``
then only fills in what changes with each hit.
"""

from __future__ import annotations

import hashlib
import uuid

from ..dump import DumpHeader
from ..layout import ProbeLayout
from ..snapshot import (
    CapturedScope,
    CapturedValue,
    Captures,
    Debugger,
    EvaluationError,
    Logger,
    ProbeLocation,
    ProbeRef,
    Snapshot,
    SnapshotBody,
    StackFrame,
)

GODI_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/godi/snapshots")
"""Namespace of snapshot ids: fixed, so ids only depend on the dump."""


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


class _ProbeEnvelope:
    """The parts of a snapshot fixed by its probe."""

    __slots__ = ("logger_method", "logger_name", "probe", "ref")

    def __init__(self, probe: ProbeLayout) -> None:
        self.probe = probe
        self.logger_name, self.logger_method = split_function(probe.function)
        self.ref = ProbeRef(
            id=probe.probe_id,
            version=probe.probe_version,
            location=ProbeLocation(method=probe.function, file=probe.file, lines=[str(probe.line)]),
        )


class Envelope:
    """Builds snapshot envelopes for the events of one dump.

    Snapshot ids are UUIDv5 of the dump's identity (build id, program hash, pid,
    clock offset) and the record's byte offset: decoding a dump twice gives the same
    ids, two captures give different ones.
    """

    def __init__(self, header: DumpHeader, probes: list[ProbeLayout], service: str, tags: str):
        identity = f"{header.build_id}/{header.program_hash}/{header.pid}/{header.clock_offset_ns}"
        self._namespace = uuid.uuid5(GODI_NAMESPACE, identity)
        self._sha1 = hashlib.sha1(self._namespace.bytes, usedforsecurity=False)
        self._clock_offset_ns = header.clock_offset_ns
        self._service = service
        self._tags = tags
        self._probes = {p.index: _ProbeEnvelope(p) for p in probes}

    def snapshot_id(self, offset: int) -> str:
        """The id of the snapshot decoded from the record at byte ``offset``:
        ``str(uuid.uuid5(namespace, str(offset)))``, computed without the ``UUID``
        object."""
        h = self._sha1.copy()
        h.update(str(offset).encode())
        d = bytearray(h.digest()[:16])
        d[6] = d[6] & 0x0F | 0x50  # version 5
        d[8] = d[8] & 0x3F | 0x80  # RFC 4122 variant
        x = d.hex()
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"

    def timestamp_ms(self, ktime_ns: int) -> int:
        """Unix milliseconds of a BPF monotonic timestamp."""
        return (ktime_ns + self._clock_offset_ns) // 1_000_000

    def snapshot(
        self,
        *,
        probe: int,
        offset: int,
        ktime_ns: int,
        goid: int,
        message: str,
        captures: Captures | None,
        errors: list[EvaluationError],
        duration: int | None = None,
        stack: list[StackFrame] | None = None,
    ) -> Snapshot:
        """The snapshot of one hit of probe index ``probe``; ``stack`` None: none."""
        p = self._probes[probe]
        ts = self.timestamp_ms(ktime_ns)
        return Snapshot(
            service=self._service,
            ddsource="dd_debugger",
            ddtags=self._tags,
            message=message,
            timestamp=ts,
            duration=duration,
            logger=Logger(
                name=p.logger_name,
                method=p.logger_method,
                version=p.probe.probe_version,
                thread_id=goid,
                thread_name="",
            ),
            debugger=Debugger(
                type="snapshot",
                snapshot=SnapshotBody(
                    id=self.snapshot_id(offset),
                    timestamp=ts,
                    language="go",
                    probe=p.ref,
                    stack=stack,
                    captures=captures,
                    evaluationErrors=errors or None,
                ),
            ),
        )


def entry_captures(
    arguments: dict[str, CapturedValue],
    locals_: dict[str, CapturedValue],
    results: dict[str, CapturedValue] | None,
    *,
    with_entry: bool = True,
) -> Captures:
    """``captures`` of a call: arguments and locals under ``entry``, results under
    ``return.locals["@return"]``: the value itself for one result, an object keyed
    by result name for several. ``results`` None: the return was not captured.
    """
    ret: CapturedScope | None = None
    if results is not None:
        if len(results) == 1:
            ret = CapturedScope(locals={"@return": next(iter(results.values()))})
        elif results:
            ret = CapturedScope(locals={"@return": CapturedValue(type="", fields=results)})
        else:
            ret = CapturedScope(locals={})
    return Captures(
        entry=CapturedScope(arguments=arguments, locals=locals_ or None) if with_entry else None,
        return_=ret,
    )
