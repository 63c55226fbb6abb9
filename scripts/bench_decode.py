#!/usr/bin/env python3
"""Benchmark of the decode stage (issue 5): throughput against a floor, and memory.

Two synthetic dumps, built in this run from a hand-made IR and layout:

- ``small``: snapshots of 3 scalar arguments (int, bool, float64), from an entry
  probe alone;
- ``calls``: the same arguments and an int result, each snapshot from an entry and
  its return (paired by goroutine and stack depth: most probes are on functions);
- ``large``: snapshots of about 50 KB of JSON each: a slice of structs holding
  strings, a slice of strings and a pointer to another struct.

For each, decode throughput (snapshots/s, dump MB/s, JSON MB/s) of the whole stage
as the CLI runs it (read the dump, render, write JSON: ``DecodeRun.encoded()``),
next to the floor measured in the same run: msgspec encoding the very same
snapshots from ready-made Structs (the bytes of both are checked to be equal).
Target: decode >= 0.5x the floor. Then peak RSS of a decode in a fresh subprocess
for 1x and 4x the dump size, streaming to /dev/null: memory must stay flat.

Usage: .venv/bin/python scripts/bench_decode.py [--small N] [--large N] [--repeat R]
"""

from __future__ import annotations

import argparse
import io
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages._base import ArtifactHeader  # noqa: E402
from stages.artifacts import sha256_bytes  # noqa: E402
from stages.decode import decode  # noqa: E402
from stages.dump import DumpHeader, DumpWriter  # noqa: E402
from stages.ir import (  # noqa: E402
    BaseType,
    BinaryInfo,
    Field,
    PointerType,
    Program,
    SliceType,
    StringType,
    StructType,
    Type,
    TypedefType,
    encode_program,
)
from stages.layout import (  # noqa: E402
    BLOCK_HEADER_FORMAT,
    EVENT_HEADER_FORMAT,
    EVENT_HEADER_SIZE,
    BpfType,
    Layout,
    PieceLayout,
    ProbeLayout,
    VariableLayout,
)
from stages.snapshot import Snapshot  # noqa: E402
from stages.spec import Capture  # noqa: E402

BUILD_ID = "bench00000000000000000000000000000000000"
PROGRAM_HASH = "b" * 64

# IR type ids
INT, BOOL, F64, I32, STRING = 1, 2, 3, 4, 5
LEAF_S, LEAF, PLEAF, SLICE_STR = 10, 11, 12, 13
ITEM_S, ITEM, SLICE_ITEM = 20, 21, 22
# capture type indices: 0 bytes, 1/2 probe roots, then these
CT_STRING, CT_LEAF, CT_ITEM = 3, 4, 5

ITEMS = 100
"""Items per large snapshot: about 50 KB of JSON."""


def program() -> Program:
    types: list[Type] = [
        BaseType(id=INT, name="int", size=8, go_kind="int"),
        BaseType(id=BOOL, name="bool", size=1, go_kind="bool"),
        BaseType(id=F64, name="float64", size=8, go_kind="float64"),
        BaseType(id=I32, name="int32", size=4, go_kind="int32"),
        StringType(id=STRING, name="string", size=16),
        StructType(
            id=LEAF_S,
            name="main.Leaf",
            size=24,
            fields=[
                Field(name="A", offset=0, type=I32),
                Field(name="B", offset=4, type=I32),
                Field(name="Label", offset=8, type=STRING),
            ],
        ),
        TypedefType(id=LEAF, name="main.Leaf", size=24, target=LEAF_S),
        PointerType(id=PLEAF, name="*main.Leaf", size=8, elem=LEAF),
        SliceType(id=SLICE_STR, name="[]string", size=24, elem=STRING),
        StructType(
            id=ITEM_S,
            name="main.Item",
            size=64,
            fields=[
                Field(name="ID", offset=0, type=INT),
                Field(name="Name", offset=8, type=STRING),
                Field(name="Price", offset=24, type=F64),
                Field(name="Tags", offset=32, type=SLICE_STR),
                Field(name="Leaf", offset=56, type=PLEAF),
            ],
        ),
        TypedefType(id=ITEM, name="main.Item", size=64, target=ITEM_S),
        SliceType(id=SLICE_ITEM, name="[]main.Item", size=24, elem=ITEM),
    ]
    return Program(
        header=ArtifactHeader(format="godi.ir", format_version=1, tool_version="bench"),
        binary=BinaryInfo(
            build_id=BUILD_ID, go_version="go1.23.0", arch="amd64", dwarf_version=5, goid_offset=152
        ),
        functions=[],
        types=types,
    )


def _var(name: str, tid: int, off: int, size: int, role: str = "argument") -> VariableLayout:
    return VariableLayout(
        name=name,
        type=tid,
        role=role,  # type: ignore[arg-type]
        root_offset=off,
        size=size,
        pieces=[PieceLayout(offset=0, size=size, source="register")],
    )


SCALARS = [_var("n", INT, 0, 8), _var("ok", BOOL, 8, 1), _var("x", F64, 16, 8)]


def _probe(index: int, name: str, variables: list[VariableLayout], **fields: Any) -> ProbeLayout:
    """An entry probe of main.<name> (``fields`` override: kind, root_type...)."""
    base: dict[str, Any] = dict(
        probe_version=1,
        kind="entry",
        file="main.go",
        line=1,
        pc=0x401000,
        root_type=1,
        root_size=24,
        limits=Capture(),
        capture_snapshot=True,
        bpf_function=f"probe_{name}",
    )
    return ProbeLayout(
        index=index,
        probe_id=name,
        function=f"main.{name}",
        variables=variables,
        **{**base, **fields},
    )


def layout(prog: Program) -> Layout:
    return Layout(
        header=ArtifactHeader(
            format="godi.layout",
            format_version=1,
            tool_version="bench",
            inputs={"ir": sha256_bytes(encode_program(prog))},
        ),
        binary_build_id=BUILD_ID,
        goid_offset=152,
        stack_hi_offset=8,
        probes=[
            _probe(0, "small", SCALARS),
            _probe(
                1,
                "large",
                [_var("items", SLICE_ITEM, 0, 24)],
                root_type=2,
                limits=Capture(max_collection_size=ITEMS),
            ),
            _probe(2, "calls", SCALARS, has_return=True),
            _probe(
                3,
                "calls",
                [_var("r", INT, 0, 8, role="return")],
                kind="return",
                line=2,
                pc=0x401040,
                bpf_function="probe_calls_return",
            ),
        ],
        types=[
            BpfType(index=0, ir_type=None, size=1),
            BpfType(index=1, ir_type=None, size=24),
            BpfType(index=2, ir_type=None, size=24),
            BpfType(index=CT_STRING, ir_type=STRING, size=16),
            BpfType(index=CT_LEAF, ir_type=LEAF, size=24),
            BpfType(index=CT_ITEM, ir_type=ITEM, size=64),
        ],
    )


def _block(addr: int, type_index: int, count: int, data: bytes) -> bytes:
    head = struct.pack(BLOCK_HEADER_FORMAT, addr, type_index, count, len(data), 0)
    return head + data + b"\0" * (-len(data) % 8)


def _event(probe: int, root: bytes, blocks: bytes, seq: int, *, stack: bool = True) -> bytes:
    pcs = struct.pack("<2Q", 0x401000, 0x402000) if stack else b""
    body = root + b"\0" * (-len(root) % 8) + pcs + blocks
    head = struct.pack(
        EVENT_HEADER_FORMAT,
        probe,
        len(body),
        1_000_000 + seq,
        1 + seq % 7,
        100,
        101,
        len(root),
        len(pcs) // 8,
        0,
        0,
        0xC000100000,
        0xC000200000,
    )
    return head + body


def small_event(seq: int) -> bytes:
    root = struct.pack("<q?7xd", seq * 7 - 1000, bool(seq & 1), seq / 3)
    return _event(0, root, b"", seq)


def call_events(seq: int) -> bytes:
    """An entry and its return (the records of one ``calls`` snapshot)."""
    entry = _event(2, struct.pack("<q?7xd", seq * 7 - 1000, bool(seq & 1), seq / 3), b"", seq)
    ret = _event(3, struct.pack("<q", seq * 3), b"", seq, stack=False)
    return entry + ret


def large_event(seq: int) -> bytes:
    base = 0xC000000000 + (seq % 16) * 0x1000000
    items = bytearray()
    blocks = bytearray()
    strings: dict[int, bytes] = {}
    for i in range(ITEMS):
        name_at = base + 0x100000 + i * 64
        name = f"item-{seq}-{i}-with-a-longer-name".encode()
        strings[name_at] = name
        tags_at = base + 0x200000 + i * 64
        tags = bytearray()
        for j in range(3):
            at = base + 0x300000 + i * 256 + j * 32
            text = f"tag{j}-{i % 10}".encode()
            strings[at] = text
            tags += struct.pack("<QQ", at, len(text))
        blocks += _block(tags_at, CT_STRING, 3, bytes(tags))
        leaf_at = base + 0x400000 + i * 32
        label_at = base + 0x500000 + i * 32
        strings[label_at] = b"leaf-%d" % i
        blocks += _block(
            leaf_at, CT_LEAF, 1, struct.pack("<iiQQ", i, -i, label_at, len(strings[label_at]))
        )
        items += struct.pack("<qQQdQQQQ", i, name_at, len(name), i * 1.25, tags_at, 3, 3, leaf_at)
    items_at = base
    blocks = bytearray(_block(items_at, CT_ITEM, ITEMS, bytes(items))) + blocks
    for at, text in strings.items():
        blocks += _block(at, 0, len(text), text)
    root = struct.pack("<QQQ", items_at, ITEMS, ITEMS)
    return _event(1, root, bytes(blocks), seq)


def make_dump(kind: str, count: int) -> bytes:
    make = {"small": small_event, "calls": call_events, "large": large_event}[kind]
    template = [make(i) for i in range(min(count, 64))]
    out = io.BytesIO()
    writer = DumpWriter(
        out,
        DumpHeader(
            tool_version="bench",
            build_id=BUILD_ID,
            program_hash=PROGRAM_HASH,
            clock_offset_ns=1_750_000_000_000_000_000,
            pid=1,
            command=["bench"],
            mode="launch",
        ),
    )
    for i in range(count):
        events = template[i % len(template)]
        if kind == "calls":
            entry_len = EVENT_HEADER_SIZE + struct.unpack_from("<I", events, 4)[0]
            writer.event(events[:entry_len])
            writer.event(events[entry_len:])
        else:
            writer.event(events)
    return out.getvalue()


# ------------------------------------------------------------------ measurement


def best_of(repeat: int, *fns: Callable[[], object]) -> list[float]:
    """The best time of each function over ``repeat`` rounds, run interleaved so
    that a noisy machine affects both sides of a ratio alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.process_time()  # CPU time: other processes' load does not count
            fn()
            best[i] = min(best[i], time.process_time() - t)
    return best


def decode_to_json(prog: Program, lay: Layout, dump: bytes, ir_hash: str) -> int:
    """What ``godi decode --jsonl`` does, minus the file: the JSON of each snapshot."""
    total = 0
    run = decode(
        io.BytesIO(dump),
        prog,
        lay,
        program_hash=PROGRAM_HASH,
        ir_hash=ir_hash,
        service="bench",
    )
    for raw in run.encoded():
        total += len(raw)
    return total


def bench(kind: str, count: int, repeat: int) -> float:
    prog = program()
    lay = layout(prog)
    ir_hash = sha256_bytes(encode_program(prog))
    dump = make_dump(kind, count)
    snaps: list[Snapshot] = list(
        decode(
            io.BytesIO(dump), prog, lay, program_hash=PROGRAM_HASH, ir_hash=ir_hash, service="bench"
        )
    )
    encoder = msgspec.json.Encoder()
    buf = bytearray()

    def floor() -> None:
        for s in snaps:
            encoder.encode_into(s, buf)

    def run() -> Iterator[bytes]:
        return decode(
            io.BytesIO(dump), prog, lay, program_hash=PROGRAM_HASH, ir_hash=ir_hash, service="bench"
        ).encoded()

    # Both sides write the same bytes: decode's JSON is msgspec's for the Structs.
    assert [encoder.encode(s) for s in snaps] == list(run()), "decode and floor differ"
    json_bytes = sum(len(encoder.encode(s)) for s in snaps)
    t_floor, t_decode = best_of(repeat, floor, lambda: decode_to_json(prog, lay, dump, ir_hash))
    ratio = t_floor / t_decode
    mb = 1e6
    print(
        f"{kind:6} {count:7} snapshots, dump {len(dump) / mb:6.1f} MB, "
        f"JSON {json_bytes / mb:6.1f} MB ({json_bytes / count / 1000:.1f} KB each)"
    )
    print(
        f"  decode: {count / t_decode:10.0f} snapshots/s"
        f"  {len(dump) / mb / t_decode:7.1f} MB/s dump  {json_bytes / mb / t_decode:7.1f} MB/s JSON"
    )
    print(
        f"  floor:  {count / t_floor:10.0f} snapshots/s"
        f"  {len(dump) / mb / t_floor:7.1f} MB/s dump  {json_bytes / mb / t_floor:7.1f} MB/s JSON"
        "   (msgspec encoding ready Structs)"
    )
    print(f"  decode / floor = {ratio:.2f}  (target >= 0.50: {'ok' if ratio >= 0.5 else 'MISSED'})")
    return ratio


def _child(path: str) -> None:
    """Subprocess body: decode the dump at ``path`` to /dev/null; print the peak RSS
    before and after decoding (KiB)."""
    prog = program()
    lay = layout(prog)
    ir_hash = sha256_bytes(encode_program(prog))
    before = _status_kib("VmHWM")
    with open(path, "rb") as f, open("/dev/null", "wb") as out:
        run = decode(f, prog, lay, program_hash=PROGRAM_HASH, ir_hash=ir_hash, service="bench")
        for raw in run.encoded():
            out.write(raw)
    print(before, _status_kib("VmHWM"))


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB. (``ru_maxrss``
    would include the parent's size at fork.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory(kind: str, count: int) -> None:
    """Peak RSS of decoding 1x and 4x ``count`` events, each in a fresh process that
    reads the dump from a file: streaming keeps it flat."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in (1, 4):
            path = Path(tmp) / f"{kind}-{factor}.dump"
            path.write_bytes(make_dump(kind, count * factor))
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            before, peak = (int(x) for x in out.stdout.split())
            rows.append((path.stat().st_size, before, peak))
    (size1, b1, p1), (size4, b4, p4) = rows
    flat = p4 - b4 <= 1.25 * (p1 - b1) + 4096
    print(
        f"  memory: dump {size1 / 1e6:.1f} MB -> peak RSS {p1 / 1024:.1f} MiB "
        f"(+{(p1 - b1) / 1024:.1f} MiB while decoding); dump {size4 / 1e6:.1f} MB -> "
        f"{p4 / 1024:.1f} MiB (+{(p4 - b4) / 1024:.1f} MiB): {'flat' if flat else 'GROWS'}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=20000, help="small snapshots")
    parser.add_argument("--large", type=int, default=200, help="large snapshots")
    parser.add_argument("--repeat", type=int, default=5, help="best of R runs")
    args = parser.parse_args()
    bench("small", args.small, args.repeat)
    memory("small", args.small)
    bench("calls", args.small, args.repeat)
    memory("calls", args.small)
    bench("large", args.large, args.repeat)
    memory("large", args.large)


if __name__ == "__main__":
    main()
