"""The decode entry point: envelope, provenance, streaming, damaged dumps."""

from __future__ import annotations

import io
import struct
import uuid

import msgspec
import pytest
from decode_helpers import (
    BUILD_ID,
    BYTES,
    CLOCK_OFFSET_NS,
    CT,
    PROGRAM_HASH,
    T_INT,
    T_PPOINT,
    T_SLICE_INT,
    T_STRING,
    Blk,
    Var,
    as_json,
    decode_all,
    dump_header,
    elem_sizes,
    i64,
    make_dump,
    make_world,
    pack_event,
    run,
    slice_header,
    string_header,
    u64,
)

from stages.decode import decode
from stages.decode.envelope import split_function
from stages.dump import RECORD_COUNTERS, RECORD_PREFIX, Counters, Notice, ProbeCounters, frame
from stages.errors import ArtifactError, DecodeError
from stages.ir import ProbeIssue
from stages.layout import EVENT_FLAG_TRUNCATED
from stages.snapshot import encode_snapshots

S = 0xC000010000


def greet_world(capture_snapshot: bool = True):  # type: ignore[no-untyped-def]
    return make_world(
        [
            Var("name", T_STRING),
            Var("times", T_INT),
            Var("out", T_STRING, role="local"),
            Var("gone", T_INT, role="local", located=False),
        ],
        capture_snapshot=capture_snapshot,
        function="main.greet",
    )


def greet_event(world, name: bytes = b"gopher", times: int = 2, **kw):  # type: ignore[no-untyped-def]
    root = world.root(name=string_header(S, len(name)), times=i64(times), out=string_header(0, 0))
    return pack_event(root, [Blk(S, BYTES, name)], elem_sizes=elem_sizes(world), **kw)


# ---------------------------------------------------------------------- envelope


def test_envelope() -> None:
    world = greet_world()
    (snap,) = decode_all(world, [greet_event(world, ktime_ns=5_123_456_789, goid=17)])
    ts = (5_123_456_789 + CLOCK_OFFSET_NS) // 1_000_000
    body = snap["debugger"]["snapshot"]
    assert snap["service"] == "svc"
    assert snap["ddsource"] == "dd_debugger"
    assert snap["ddtags"] == "env:test"
    assert snap["message"] == 'main.greet(name="gopher", times=2)'
    assert snap["timestamp"] == ts
    assert "duration" not in snap
    assert snap["logger"] == {
        "name": "main",
        "method": "greet",
        "version": 3,
        "thread_id": 17,
        "thread_name": "",
    }
    assert snap["debugger"]["type"] == "snapshot"
    parsed = uuid.UUID(body["id"])
    assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
    assert str(parsed) == body["id"]
    assert body["timestamp"] == ts
    assert body["language"] == "go"
    assert body["probe"] == {
        "id": "p1",
        "version": 3,
        "location": {"method": "main.greet", "file": "main.go", "lines": ["10"]},
    }
    assert body["captures"] == {
        "entry": {
            "arguments": {
                "name": {"type": "string", "value": "gopher"},
                "times": {"type": "int", "value": "2"},
            },
            "locals": {
                "out": {"type": "string", "value": ""},
                "gone": {"type": "int", "notCapturedReason": "unavailable"},
            },
        }
    }
    assert "evaluationErrors" not in body
    assert "stack" not in body


def test_log_probe_has_message_but_no_captures() -> None:
    world = greet_world(capture_snapshot=False)
    (snap,) = decode_all(world, [greet_event(world)])
    assert snap["message"] == 'main.greet(name="gopher", times=2)'
    assert "captures" not in snap["debugger"]["snapshot"]


def test_truncated_event_gets_an_evaluation_error() -> None:
    world = greet_world()
    (snap,) = decode_all(world, [greet_event(world, flags=EVENT_FLAG_TRUNCATED)])
    assert snap["debugger"]["snapshot"]["evaluationErrors"] == [
        {"expr": "<capture>", "message": "event truncated: capture budget exhausted"}
    ]


@pytest.mark.parametrize(
    ("function", "package", "method"),
    [
        ("main.divide", "main", "divide"),
        ("main.(*Cart).Total", "main", "(*Cart).Total"),
        ("main.main.func1", "main", "main.func1"),
        ("github.com/org/pkg.(*T).M", "github.com/org/pkg", "(*T).M"),
        ("github.com/org/pkg.v2/sub.F", "github.com/org/pkg.v2/sub", "F"),
        ("main.Largest[go.shape.int]", "main", "Largest[go.shape.int]"),
        ("main.F[github.com/a/b.T]", "main", "F[github.com/a/b.T]"),
        # The linker escapes dots in a path's last element.
        ("gopkg.in/yaml%2ev3.Unmarshal", "gopkg.in/yaml.v3", "Unmarshal"),
        ("nodot", "", "nodot"),
    ],
)
def test_split_function(function: str, package: str, method: str) -> None:
    assert split_function(function) == (package, method)


def test_message_summaries() -> None:
    world = make_world(
        [
            Var("p", T_PPOINT),
            Var("q", T_PPOINT),
            Var("xs", T_SLICE_INT),
            Var("s", T_STRING),
        ],
        function="main.f",
        limits=None,
    )
    p = 0xC000040000
    ints = b"".join(i64(n) for n in range(5))
    root = world.root(p=u64(p), q=u64(0), xs=slice_header(0xC000050000, 5), s=string_header(S, 1))
    (snap,) = decode_all(
        world,
        [
            pack_event(
                root,
                [
                    Blk(p, CT[30], struct.pack("<ii", 3, -4)),
                    Blk(0xC000050000, CT[T_INT], ints),
                    Blk(S, BYTES, b'"'),
                ],
                elem_sizes=elem_sizes(world),
            )
        ],
    )
    assert snap["message"] == 'main.f(p=&{X: 3, Y: -4}, q=nil, xs=[0, 1, 2, ...], s="\\"")'


# -------------------------------------------------------------------- identities


def test_ids_are_deterministic_and_distinct() -> None:
    world = greet_world()
    dump = make_dump([greet_event(world), greet_event(world)])
    first = [as_json(s) for s in run(world, dump)]
    again = [as_json(s) for s in run(world, dump)]
    assert first == again
    ids = [s["debugger"]["snapshot"]["id"] for s in first]
    assert len(set(ids)) == 2
    # The record's offset is the id's last 48 bits: the second record is further.
    assert int(ids[1][-12:], 16) > int(ids[0][-12:], 16) > 0
    assert ids[0][:-12] == ids[1][:-12]
    other = make_dump([greet_event(world)], header=dump_header(pid=1))
    assert as_json(next(iter(run(world, other))))["debugger"]["snapshot"]["id"] not in ids


def test_output_encodes_as_json_array() -> None:
    world = greet_world()
    snaps = list(run(world, make_dump([greet_event(world)])))
    assert encode_snapshots(snaps).startswith(b'[{"service":"svc","ddsource":"dd_debugger"')


# -------------------------------------------------------------------- provenance


def test_dump_from_another_binary() -> None:
    world = greet_world()
    dump = make_dump([], header=dump_header(build_id="other"))
    with pytest.raises(
        ArtifactError,
        match=r"events\.dump: was captured from binary other "
        rf"but ir\.json describes binary {BUILD_ID}",
    ):
        run(world, dump)


def test_dump_from_another_program() -> None:
    world = greet_world()
    dump = make_dump([], header=dump_header(program_hash="a" * 64))
    with pytest.raises(ArtifactError, match=r"events\.dump: was captured with probe program"):
        run(world, dump)


def test_layout_from_another_ir() -> None:
    world = make_world([Var("x", T_INT)], ir_input="f" * 64)
    with pytest.raises(ArtifactError, match=r"layout\.json: was generated from another ir\.json"):
        run(world, make_dump([]))


def test_layout_without_ir_input() -> None:
    world = make_world([Var("x", T_INT)], ir_input="")
    with pytest.raises(ArtifactError, match=r"layout\.json"):
        run(world, make_dump([]))


def test_layout_for_another_binary() -> None:
    world = make_world([Var("x", T_INT)], layout_build_id="other")
    with pytest.raises(
        ArtifactError, match=r"layout\.json: was generated for binary other but ir\.json"
    ):
        run(world, make_dump([]))


def test_mismatch_is_reported_before_iterating() -> None:
    world = greet_world()
    with pytest.raises(ArtifactError):
        decode(
            io.BytesIO(make_dump([])),
            world.program,
            world.layout,
            program_hash="0" * 64,
            ir_hash=world.ir_hash,
            service="svc",
        )


def test_not_a_dump() -> None:
    world = greet_world()
    with pytest.raises(DecodeError, match="not a godi dump"):
        run(world, b"GARBAGE!" + bytes(16))


def test_service_required() -> None:
    world = greet_world()
    with pytest.raises(DecodeError, match="service"):
        run(world, make_dump([]), service="")


def test_ir_missing_type_is_an_artifact_error() -> None:
    world = make_world([Var("x", T_INT)])
    probe = world.layout.probes[0]
    bad = msgspec.structs.replace(probe.variables[0], type=999)
    probe = msgspec.structs.replace(probe, variables=[bad])
    world.layout = msgspec.structs.replace(world.layout, probes=[probe])
    with pytest.raises(ArtifactError, match="type 999 used by probe p1 variable x is missing"):
        run(world, make_dump([]))


# --------------------------------------------------------------------- streaming


def test_counters_notices_and_issues() -> None:
    world = greet_world()
    issues = [ProbeIssue(probe_id="p2", kind="function_not_found", message="no main.nope")]
    world.layout = msgspec.structs.replace(world.layout, issues=issues)
    counters = Counters(probes={"0": ProbeCounters(hits=3, emitted=2, dropped=1)}, lost_records=0)
    notice = Notice(probe_id="p3", kind="attach_failed", message="cannot attach")
    dump = make_dump([greet_event(world)] * 2, counters=counters, notices=[notice])
    result = run(world, dump)
    assert len(list(result)) == 2
    assert result.events == 2
    assert result.by_probe == {"p1": 2}
    assert result.counters == counters
    assert result.notices == [notice]
    assert result.issues == issues
    assert result.truncated_at is None


def test_streams_one_record_at_a_time() -> None:
    world = greet_world()
    dump = make_dump([greet_event(world, times=n) for n in range(3)])

    class Tracking(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.high = 0

        def read(self, n: int | None = -1) -> bytes:
            data = super().read(n)
            self.high = max(self.high, self.tell())
            return data

    stream = Tracking(dump)
    result = decode(
        stream,  # type: ignore[arg-type]
        world.program,
        world.layout,
        program_hash=PROGRAM_HASH,
        ir_hash=world.ir_hash,
        service="svc",
    )
    first = next(result)
    assert first.message.endswith("times=0)")
    assert stream.high < len(dump)


def test_dump_cut_mid_record_yields_whole_records() -> None:
    world = greet_world()
    events = [greet_event(world, times=n) for n in range(3)]
    dump = make_dump(events)
    cut = dump[: len(dump) - len(events[-1]) // 2]
    result = run(world, cut)
    snaps = [as_json(s) for s in result]
    assert [s["message"][-8:] for s in snaps] == ["times=0)", "times=1)"]
    assert result.truncated_at == len(dump) - len(events[-1]) - RECORD_PREFIX


def test_corrupt_event_raises_after_earlier_snapshots() -> None:
    world = greet_world()
    good = greet_event(world)
    bad = bytearray(greet_event(world))
    bad[4:8] = struct.pack("<I", 9999)  # data_len that does not match the record
    dump = make_dump([good, good, bytes(bad), good])
    result = run(world, dump)
    got = [next(result), next(result)]
    assert len(got) == 2
    offset = len(dump) - 2 * (RECORD_PREFIX + len(good))
    with pytest.raises(DecodeError, match=f"corrupt event record at byte {offset}: header says"):
        next(result)


def test_event_for_unknown_probe() -> None:
    world = greet_world()
    bad = pack_event(world.root(), probe=7)
    with pytest.raises(DecodeError, match="probe index 7"):
        list(run(world, make_dump([bad])))


def test_event_with_short_root() -> None:
    world = greet_world()
    bad = pack_event(b"\0" * 8)
    with pytest.raises(DecodeError, match="root area of 8 bytes"):
        list(run(world, make_dump([bad])))


def test_bad_counters_record() -> None:
    world = greet_world()
    out = io.BytesIO(make_dump([]))
    out.seek(0, io.SEEK_END)
    out.write(frame(RECORD_COUNTERS, b"{x}"))
    with pytest.raises(DecodeError, match="bad record at byte"):
        list(run(world, out.getvalue()))


def test_unknown_record_kind_is_skipped() -> None:
    world = greet_world()
    data = make_dump([greet_event(world)]) + frame(99, b"hi")
    result = run(world, data)
    assert len(list(result)) == 1
    assert result.unknown_records == 1


def test_reads_from_a_stream_that_cannot_seek() -> None:
    world = greet_world()
    data = io.BytesIO(make_dump([greet_event(world)] * 3))

    class Pipe:
        def read(self, n: int = -1) -> bytes:
            return data.read(n)

    result = decode(
        Pipe(),  # type: ignore[arg-type]
        world.program,
        world.layout,
        program_hash=PROGRAM_HASH,
        ir_hash=world.ir_hash,
        service="svc",
    )
    assert len([as_json(s) for s in result]) == 3


def test_capture_type_size_disagreeing_with_ir() -> None:
    world = greet_world()
    types = [
        msgspec.structs.replace(t, size=t.size + 1) if t.ir_type == T_INT else t
        for t in world.layout.types
    ]
    world.layout = msgspec.structs.replace(world.layout, types=types)
    with pytest.raises(ArtifactError, match=r"layout and ir\.json disagree"):
        run(world, make_dump([]))


def test_snapshot_ids_are_uuid8_of_the_dump_and_the_record_offset() -> None:
    from stages.decode.envelope import Envelope

    header = dump_header()
    env = Envelope(header, [], "svc", "")
    other = Envelope(dump_header(pid=header.pid + 1), [], "svc", "")
    for offset in (0, 7, 123456789, 2**40, 2**48 - 1):
        text = env.snapshot_id(offset)
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
        assert parsed.int & (2**48 - 1) == offset
        assert other.snapshot_id(offset) != text
    assert env.snapshot_id(5)[:-12] == env.snapshot_id(2**47)[:-12]
