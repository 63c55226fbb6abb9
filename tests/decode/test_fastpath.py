"""Whole snapshots made in C (``stages/decode/_snapshots.c``, ``fastpath``) against
the Python reference: the same bytes, counters and errors out of the same dump.

Each dump is decoded with the C path on and with ``GODI_DECODE_NATIVE=0``; the
tests also check that C decoded the events it should (``native_events``), so
that a silent fallback to Python cannot pass for agreement.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import msgspec
import pytest
from decode_helpers import (
    BYTES,
    CT,
    PROGRAM_HASH,
    T_BOOL,
    T_IFACE,
    T_INT,
    T_PMAP,
    T_POINT,
    T_STRING,
    Blk,
    Var,
    World,
    dump_header,
    elem_sizes,
    i64,
    make_world,
    pack_event,
    string_header,
    u64,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from test_native import native_switch

from stages.decode import decode, native
from stages.dump import Counters, DumpWriter, Notice, RecordReader
from stages.errors import DecodeError
from stages.layout import EVENT_FLAG_TRUNCATED, PieceLayout, ProbeLayout
from stages.spec import Capture

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension is not built")


@dataclass
class P:
    """A probe of a test world: kind, function, probe id, variables."""

    kind: str
    function: str
    probe_id: str
    variables: list[Var]
    limits: Capture | None = None
    capture_snapshot: bool = True
    line: int = 10


@dataclass
class Multi:
    world: World
    roots: list[World] = field(default_factory=list)
    """One world per probe, for its root offsets."""

    def root(self, probe: int, **values: bytes) -> bytes:
        return self.roots[probe].root(**values)


def multi(probes: list[P]) -> Multi:
    """A world with several probes (layout indices in order)."""
    worlds = [
        make_world(p.variables, limits=p.limits, capture_snapshot=p.capture_snapshot)
        for p in probes
    ]
    layout_probes: list[ProbeLayout] = []
    for i, (p, w) in enumerate(zip(probes, worlds, strict=True)):
        base = w.layout.probes[0]
        layout_probes.append(
            msgspec.structs.replace(
                base,
                index=i,
                kind=p.kind,
                function=p.function,
                probe_id=p.probe_id,
                line=p.line,
                bpf_function=f"probe_{i}",
                has_return=p.kind == "entry"
                and any(q.kind == "return" and q.function == p.function for q in probes),
            )
        )
    first = worlds[0]
    layout = msgspec.structs.replace(first.layout, probes=layout_probes)
    world = World(first.program, layout, first.offsets, first.root_size, first.ir_hash)
    return Multi(world, worlds)


Item = bytes | Notice | Counters


def dump_of(items: list[Item]) -> bytes:
    out = io.BytesIO()
    w = DumpWriter(out, dump_header())
    for item in items:
        if isinstance(item, Notice):
            w.notice(item)
        elif isinstance(item, Counters):
            w.counters(item)
        else:
            w.event(item)
    return out.getvalue()


@dataclass
class Outcome:
    snapshots: list[bytes]
    events: int
    by_probe: dict[str, int]
    error: str | None
    corrupt_at: int | None
    truncated_at: int | None
    notices: int
    native_events: int


def decode_with(world: World, dump: bytes, on: bool) -> Outcome:
    with native_switch(on):
        r = decode(
            io.BytesIO(dump),
            world.program,
            world.layout,
            program_hash=PROGRAM_HASH,
            ir_hash=world.ir_hash,
            service="svc",
            tags="env:test",
        )
        out: list[bytes] = []
        error = None
        try:
            for raw in r.encoded():
                out.append(raw)
        except DecodeError as e:
            error = str(e)
    return Outcome(
        out,
        r.events,
        r.by_probe,
        error,
        r.corrupt_at,
        r.truncated_at,
        len(r.notices),
        r.native_events,
    )


def both(world: World, dump: bytes) -> Outcome:
    """The outcome of ``dump`` from both paths, checked the same; the C one."""
    c, py = decode_with(world, dump, True), decode_with(world, dump, False)
    assert py.native_events == 0
    c_native = c.native_events
    c.native_events = 0
    assert c == py
    c.native_events = c_native
    return c


SCALARS = [Var("n", T_INT), Var("ok", T_BOOL), Var("s", T_STRING)]


def scalar_event(m: Multi, probe: int, seq: int, **kw: object) -> bytes:
    text = f"v{seq % 5}".encode()
    root = m.root(
        probe, n=i64(seq * 7 - 100), ok=bytes([seq & 1]), s=string_header(0x1000, len(text))
    )
    blocks = [Blk(0x1000, BYTES, text)]
    return pack_event(
        root,
        blocks,
        probe=probe,
        elem_sizes=elem_sizes(m.world),
        **kw,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------- entries


def test_entry_probe_events_are_decoded_in_c() -> None:
    m = multi([P("entry", "main.f", "f", SCALARS)])
    events = [scalar_event(m, 0, i, ktime_ns=1_000_000 * i, goid=i % 3) for i in range(60)]
    out = both(m.world, dump_of(events))
    assert len(out.snapshots) == 60
    assert out.native_events == 60


def test_line_probe_with_locals() -> None:
    m = multi(
        [
            P(
                "line",
                "main.g",
                "g",
                [
                    Var("n", T_INT),
                    Var("ok", T_BOOL, role="local"),
                    Var("s", T_STRING, role="local"),
                ],
                line=88,
            )
        ]
    )
    out = both(m.world, dump_of([scalar_event(m, 0, i) for i in range(10)]))
    assert out.native_events == 10
    snap = msgspec.json.decode(out.snapshots[0])
    assert set(snap["debugger"]["snapshot"]["captures"]["lines"]["88"]) == {"arguments", "locals"}


def test_no_captures_and_repeated_names() -> None:
    m = multi(
        [
            P("entry", "main.f", "f", [Var("n", T_INT), Var("n", T_BOOL)], capture_snapshot=False),
            P("entry", "main.h", "h", [Var("x", T_INT), Var("x", T_INT)]),
        ]
    )
    events = [pack_event(m.root(0, n=i64(5)), probe=0), pack_event(m.root(1, x=i64(-3)), probe=1)]
    out = both(m.world, dump_of(events * 3))
    assert out.native_events == 6


def test_values_python_renders_inside_a_c_snapshot() -> None:
    """Maps and interfaces render in Python, called from C with a context made
    for the event."""
    m = multi([P("entry", "main.f", "f", [Var("m", T_PMAP), Var("i", T_IFACE), Var("p", T_POINT)])])
    root = m.root(0, m=u64(0), i=u64(0) + u64(0), p=u64(0))
    out = both(m.world, dump_of([pack_event(root, probe=0)] * 3))
    assert out.native_events == 3


@pytest.mark.parametrize("length", [10, 300, 3000, 20000])
def test_message_of_long_and_odd_strings(length: int) -> None:
    """Pieces of long values (C: read whole up to 16 KB of text, rendered again
    within the summary limits above; Python: above 2 KB) are the same; quotes,
    control characters and non-ASCII are escaped."""
    text = ('a"b\\c\n\t\x01é€😀' * length)[:length].encode()
    limits = Capture(max_length=max(5000, length))
    m = multi([P("entry", "main.f", "f", [Var("s", T_STRING)], limits=limits)])
    root = m.root(0, s=string_header(0x2000, len(text)))
    event = pack_event(root, [Blk(0x2000, BYTES, text)], probe=0, elem_sizes=elem_sizes(m.world))
    out = both(m.world, dump_of([event, event]))
    assert out.native_events == 2


def test_redacted_unlocated_and_missing_variables() -> None:
    missing = [PieceLayout(offset=0, size=8, source="unavailable")]
    m = multi(
        [
            P(
                "entry",
                "main.f",
                "f",
                [
                    Var("password", T_STRING),
                    Var("gone", T_INT, located=False),
                    Var("x", T_INT, pieces=missing),
                    Var("n", T_INT),
                ],
            )
        ]
    )
    out = both(m.world, dump_of([pack_event(m.root(0, n=i64(1)), probe=0)]))
    assert out.native_events == 1


# -------------------------------------------------------------- mixed records


def test_mixed_records_keep_their_order() -> None:
    """Records C takes (truncated events too) and records it leaves to Python (a
    call whose result has holes, a notice, the counters) come out in dump order, and
    calls still waiting at the end are reported in dump order from both sides."""
    holed = [  # half of it read where a read may fail: rendered in Python
        PieceLayout(offset=0, size=4, source="memory", fail_bit=0),
        PieceLayout(offset=4, size=4, source="stack"),
    ]
    m = multi(
        [
            P("entry", "main.f", "f", SCALARS),
            P("entry", "main.g", "g", [Var("n", T_INT)]),
            P("return", "main.g", "g", [Var("r", T_INT, role="return")]),
            P("line", "main.h", "h", [Var("n", T_INT)], line=7),
            P("entry", "main.k", "k", [Var("n", T_INT)]),
            P("return", "main.k", "k", [Var("r", T_INT, role="return", pieces=holed)]),
        ]
    )
    items: list[Item] = [Notice(probe_id="g", kind="attach", message="one probe failed")]
    for i in range(40):
        items.append(scalar_event(m, 0, i, flags=EVENT_FLAG_TRUNCATED if i % 9 == 4 else 0))
        for entry, ret in ((1, 2), (4, 5)):
            if i % 3 == 0:
                items.append(
                    pack_event(m.root(entry, n=i64(i)), probe=entry, goid=i, ktime_ns=10 * i)
                )
            if i % 3 == 2:
                items.append(
                    pack_event(m.root(ret, r=i64(-i)), probe=ret, goid=i - 2, ktime_ns=10 * i)
                )
        if i % 4 == 1:
            items.append(pack_event(m.root(3, n=i64(i)), probe=3))
        if i == 20:
            items.append(Notice(probe_id=None, kind="drops", message="half way"))
    items.append(Counters(probes={}))
    out = both(m.world, dump_of(items))
    assert out.notices == 2
    g = sum(1 for i in range(40) if i % 3 != 1)
    assert out.native_events == 40 + g + 10  # truncated events too
    assert out.by_probe["k"] == g


def call_world(returns: int = 1) -> Multi:
    probes = [P("entry", "main.g", "g", [Var("n", T_INT)])]
    probes += [
        P("return", "main.g", "g", [Var("r", T_INT, role="return")], line=20 + i)
        for i in range(returns)
    ]
    return multi(probes)


def entry(m: Multi, n: int, **kw: object) -> bytes:
    return pack_event(m.root(0, n=i64(n)), probe=0, **kw)  # type: ignore[arg-type]


def ret(m: Multi, r: int, probe: int = 1, **kw: object) -> bytes:
    return pack_event(m.root(probe, r=i64(r)), probe=probe, stack=(), **kw)  # type: ignore[arg-type]


def test_recursion_pairs_by_depth() -> None:
    m = call_world(returns=2)
    hi = 0xC000200000
    items: list[Item] = []
    for depth in range(5):  # nested calls, deeper frames have lower CFAs
        items.append(
            entry(m, depth, cfa=hi - 0x100 * (depth + 1), stack_hi=hi, ktime_ns=100 + depth)
        )
    for depth in reversed(range(5)):
        probe = 1 + depth % 2
        items.append(
            ret(m, -depth, probe, cfa=hi - 0x100 * (depth + 1), stack_hi=hi, ktime_ns=200 + depth)
        )
    out = both(m.world, dump_of(items))
    assert out.native_events == 10
    assert len(out.snapshots) == 5
    durations = [msgspec.json.decode(s)["duration"] for s in out.snapshots]
    assert durations == [100] * 5


def test_lost_and_orphan_calls() -> None:
    """An entry seen twice at one place (a panic unwound the first), a return
    without its entry, entries still waiting at the end, odd stack tops."""
    m = call_world()
    items: list[Item] = [
        ret(m, 1, goid=5),
        entry(m, 1, goid=1),
        entry(m, 2, goid=1),  # the first never returned
        entry(m, 3, goid=2, stack_hi=0),
        entry(m, 4, goid=3, cfa=0xC000300000, stack_hi=0xC000200000),  # above its stack top
        ret(m, 9, goid=3, cfa=0xC000300000, stack_hi=0xC000200000, ktime_ns=1),  # negative duration
        entry(m, 5, goid=4, ktime_ns=2**64 - 1),
        ret(m, 9, goid=4, ktime_ns=0),
        entry(m, 6, goid=6),
    ]
    out = both(m.world, dump_of(items))
    assert out.native_events == len(items)
    errors = [
        [
            e["expr"]
            for e in msgspec.json.decode(s)["debugger"]["snapshot"].get("evaluationErrors", [])
        ]
        for s in out.snapshots
    ]
    assert errors == [["@entry"], ["@return"], [], [], ["@return"], ["@return"], ["@return"]]


def test_calls_of_two_processes_pair_within_each() -> None:
    """Binary-wide, two processes have the same goroutine ids and depths."""
    m = call_world()
    items: list[Item] = [
        entry(m, 1, tgid=100, ktime_ns=10),
        entry(m, 2, tgid=200, ktime_ns=20),
        ret(m, -2, tgid=200, ktime_ns=25),
        ret(m, -1, tgid=100, ktime_ns=40),
    ]
    out = both(m.world, dump_of(items))
    assert out.native_events == 4
    snaps = [msgspec.json.decode(s) for s in out.snapshots]
    assert [s["duration"] for s in snaps] == [5, 30]
    assert [s["message"] for s in snaps] == ["main.g(n=2) -> -2", "main.g(n=1) -> -1"]


def test_corrupt_record_reports_waiting_calls_first() -> None:
    m = call_world()
    bad = bytearray(entry(m, 9))
    bad[4] ^= 0x40
    out = both(
        m.world, dump_of([entry(m, 1, goid=1), entry(m, 2, goid=2), ret(m, 3, goid=1), bytes(bad)])
    )
    assert out.error is not None
    assert len(out.snapshots) == 2


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_records_split_across_reads(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    m = multi([P("entry", "main.f", "f", SCALARS), P("line", "main.h", "h", [Var("n", T_INT)])])
    items: list[Item] = []
    for i in range(30):
        items.append(scalar_event(m, 0, i))
        items.append(pack_event(m.root(1, n=i64(i)), probe=1))
    dump = dump_of(items)
    whole = decode_with(m.world, dump, True)
    monkeypatch.setattr(RecordReader, "CHUNK", chunk)
    assert decode_with(m.world, dump, True) == whole
    assert both(m.world, dump).native_events == 60


def test_corrupt_record_after_c_records() -> None:
    m = multi([P("entry", "main.f", "f", SCALARS)])
    good = [scalar_event(m, 0, i) for i in range(5)]
    bad = bytearray(scalar_event(m, 0, 99))
    bad[4] ^= 0x40  # data_len no longer matches the record
    out = both(m.world, dump_of([*good, bytes(bad), *good]))
    assert out.error is not None and "corrupt event record" in out.error
    assert len(out.snapshots) == 5
    assert out.corrupt_at is not None


@pytest.mark.parametrize("cut", [1, 8, 30, 70])
def test_dump_cut_off_after_c_records(cut: int) -> None:
    m = multi([P("entry", "main.f", "f", SCALARS)])
    dump = dump_of([scalar_event(m, 0, i) for i in range(6)])
    out = both(m.world, dump[:-cut])
    assert out.truncated_at is not None
    assert len(out.snapshots) == 5


def test_unknown_probe_index_and_short_root_go_to_python() -> None:
    m = multi([P("entry", "main.f", "f", SCALARS)])
    unknown = scalar_event(m, 0, 1)
    unknown = (7).to_bytes(4, "little") + unknown[4:]
    out = both(m.world, dump_of([scalar_event(m, 0, 0), unknown]))
    assert out.error is not None and "probe index 7" in out.error
    short = pack_event(b"\0" * 8, probe=0)
    out = both(m.world, dump_of([scalar_event(m, 0, 0), short]))
    assert out.error is not None and "root area" in out.error


def test_capture_types_of_blocks_are_checked() -> None:
    m = multi([P("entry", "main.f", "f", SCALARS)])
    root = m.root(0, s=string_header(0x1000, 3))
    event = pack_event(
        root, [Blk(0x1000, CT[T_INT], u64(1))], probe=0, elem_sizes=elem_sizes(m.world)
    )
    out = both(m.world, dump_of([event]))
    assert out.native_events == 1


# ------------------------------------------------------------------ random calls

_EXAMPLES = int(os.environ.get("GODI_FUZZ_EXAMPLES", "0"))  # as in test_fuzz


@st.composite
def call_records(draw: st.DrawFn) -> list[tuple[int, int, int, int, int, int]]:
    """Records of a call world with two return probes and a line probe: (probe,
    process, goid, depth, ktime, flags), in any order (lost, orphan, nested,
    repeated)."""
    return draw(
        st.lists(
            st.tuples(
                st.integers(0, 3),
                st.integers(100, 101),
                st.integers(0, 3),
                st.integers(0, 3),
                st.integers(0, 2**64 - 1),
                st.sampled_from([0, 0, 0, EVENT_FLAG_TRUNCATED]),
            ),
            max_size=30,
        )
    )


@settings(max_examples=_EXAMPLES or 150, deadline=None, derandomize=not _EXAMPLES, database=None)
@given(call_records(), st.integers(0, 3))
def test_random_calls_decode_the_same(
    records: list[tuple[int, int, int, int, int, int]], corrupt: int
) -> None:
    probes = [P("entry", "main.g", "g", [Var("n", T_INT)])]
    probes += [
        P("return", "main.g", "g", [Var("r", T_INT, role="return")], line=20 + i) for i in (0, 1)
    ]
    probes.append(P("line", "main.g", "g2", [Var("n", T_INT), Var("l", T_INT, role="local")]))
    m = multi(probes)
    hi = 0xC000200000
    items: list[Item] = []
    for i, (probe, tgid, goid, depth, ktime, flags) in enumerate(records):
        name = {0: "n", 1: "r", 2: "r", 3: "n"}[probe]
        root = m.root(probe, **{name: i64(i)})
        stack = () if probe in (1, 2) else (0x401010, 0x402000)
        items.append(
            pack_event(
                root,
                probe=probe,
                tgid=tgid,
                goid=goid,
                cfa=hi - 0x100 * depth,
                stack_hi=hi if depth else 0,
                ktime_ns=ktime,
                flags=flags,
                stack=stack,
            )
        )
    if corrupt and items:
        bad = bytearray(items[len(items) // 2])
        bad[4] ^= 1 << corrupt  # its lengths no longer add up
        items[len(items) // 2] = bytes(bad)
    both(m.world, dump_of(items))
