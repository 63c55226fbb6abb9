"""Property-based tests: random and mutated dumps never break the decoder.

Fed random bytes, or a committed real dump with bits flipped, bytes overwritten,
cut short or spliced with another dump, the decoder

- raises nothing but ``DecodeError`` or ``ArtifactError`` (the project's own);
- finishes quickly (each example has a deadline);
- yields the snapshots of every record before a corrupt one: exactly what decoding
  the dump cut at the corrupt record (``corrupt_at``) gives.

The default run is small and reproducible (derandomized); set
``GODI_FUZZ_EXAMPLES`` to search longer with fresh inputs.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import msgspec
import pytest
from fixture_cases import CASES, Case, load_case
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stages.dump import MAGIC, RECORD_EVENT, RECORD_PREFIX, SYNC, frame
from stages.errors import ArtifactError, DecodeError
from stages.snapshot import Snapshot

pytestmark = pytest.mark.skipif(not CASES, reason="no fixtures")

# ``GODI_FUZZ_EXAMPLES=5000`` searches longer, with fresh random inputs each run.
_EXAMPLES = int(os.environ.get("GODI_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_EXAMPLES or 150,
    deadline=2000,  # ms per example: a hang or a blow-up fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not _EXAMPLES,
    database=None,
)
_encoder = msgspec.json.Encoder()


def header_end(dump: bytes) -> int:
    (length,) = struct.unpack_from("<I", dump, 12)
    return 16 + int(length) + 4  # prefix, header, its CRC-32


def decode_until_error(case: Case, dump: bytes) -> tuple[list[Snapshot], Exception | None, Any]:
    """Every snapshot the decoder yields and the error that stopped it (if any)."""
    out: list[Snapshot] = []
    try:
        run = case.run(dump)
    except (DecodeError, ArtifactError) as e:
        return out, e, None
    try:
        for snap in run:
            out.append(snap)
    except DecodeError as e:
        return out, e, run
    return out, None, run


def check(case: Case, dump: bytes) -> None:
    """The properties, for one input."""
    snaps, error, run = decode_until_error(case, dump)
    for snap in snaps:
        # Every snapshot is well-formed: it encodes and decodes against the schema types.
        msgspec.json.decode(_encoder.encode(snap), type=Snapshot)
    if run is None or error is None:
        return
    # Stopped by a corrupt record: everything before it was decoded, as if the dump
    # had ended there.
    assert run.corrupt_at is not None
    assert header_end(dump) <= run.corrupt_at <= len(dump)
    prefix, prefix_error, _ = decode_until_error(case, dump[: run.corrupt_at])
    assert prefix_error is None
    assert _encoder.encode(snaps) == _encoder.encode(prefix)


cases = st.sampled_from(CASES)


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    case = load_case(CASES[0])
    check(case, data)
    check(case, MAGIC + data)


@FUZZ
@given(name=cases, records=st.binary(max_size=4096))
def test_random_records_after_a_real_header(name: str, records: bytes) -> None:
    case = load_case(name)
    check(case, case.dump[: header_end(case.dump)] + records)


@st.composite
def framed_events(draw: st.DrawFn) -> bytes:
    """Well-framed EVENT records whose payloads are random, or real ones partly
    randomised: the parser's length checks and the renderer see garbage."""
    out = bytearray()
    for _ in range(draw(st.integers(1, 6))):
        payload = bytearray(draw(st.binary(min_size=0, max_size=600)))
        if draw(st.booleans()) and len(payload) >= 64:
            # A plausible header: probe 0..3, data_len matching, small root and stack.
            struct.pack_into("<II", payload, 0, draw(st.integers(0, 3)), len(payload) - 64)
            struct.pack_into("<IH", payload, 32, draw(st.integers(0, 64)), draw(st.integers(0, 8)))
        out += frame(RECORD_EVENT, bytes(payload))
    return bytes(out)


@FUZZ
@given(name=cases, records=framed_events())
def test_random_event_payloads(name: str, records: bytes) -> None:
    case = load_case(name)
    check(case, case.dump[: header_end(case.dump)] + records)


@FUZZ
@given(name=cases, data=st.data())
def test_bit_flips(name: str, data: st.DataObject) -> None:
    case = load_case(name)
    dump = bytearray(case.dump)
    for _ in range(data.draw(st.integers(1, 8))):
        bit = data.draw(st.integers(0, 8 * len(dump) - 1))
        dump[bit // 8] ^= 1 << (bit % 8)
    check(case, bytes(dump))


@FUZZ
@given(name=cases, data=st.data())
def test_overwritten_bytes_after_the_header(name: str, data: st.DataObject) -> None:
    """Overwrite a run of bytes in the records: values, lengths, pointers, counts."""
    case = load_case(name)
    dump = bytearray(case.dump)
    start = data.draw(st.integers(header_end(case.dump), len(dump) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=32))
    dump[start : start + len(junk)] = junk
    check(case, bytes(dump))


@FUZZ
@given(name=cases, data=st.data())
def test_truncations(name: str, data: st.DataObject) -> None:
    case = load_case(name)
    cut = data.draw(st.integers(0, len(case.dump)))
    _, error, run = decode_until_error(case, case.dump[:cut])
    if cut >= header_end(case.dump):
        # Cutting is not corrupting: the decode ends cleanly.
        assert error is None, error
        assert run is not None
        assert (run.truncated_at is None) == (cut in record_boundaries(case.dump))
    check(case, case.dump[:cut])


@FUZZ
@given(first=cases, second=cases, data=st.data())
def test_splices(first: str, second: str, data: st.DataObject) -> None:
    """A piece of one dump pasted into another at any place."""
    a, b = load_case(first), load_case(second)
    at = data.draw(st.integers(0, len(a.dump)))
    lo = data.draw(st.integers(0, len(b.dump)))
    hi = data.draw(st.integers(lo, min(len(b.dump), lo + 2048)))
    assume(hi > lo)
    check(a, a.dump[:at] + b.dump[lo:hi] + a.dump[at:])


def record_boundaries(dump: bytes) -> set[int]:
    pos = header_end(dump)
    out = {pos}
    while pos + RECORD_PREFIX <= len(dump):
        length = struct.unpack_from("<I", dump, pos + 8)[0]
        pos += RECORD_PREFIX + length
        out.add(pos)
    return out


def test_corrupt_record_after_pending_entries_reports_them() -> None:
    """A corrupt record (an impossible length) after entries awaiting their returns:
    it is skipped and noted, and the entries come out with a lost return."""
    case = load_case(next(c for c in CASES if c.startswith("example")))
    bounds = sorted(record_boundaries(case.dump))
    # Cut right after the first EVENT record (an entry whose return follows) and
    # append a record with an impossible length.
    first_end = bounds[1]
    dump = case.dump[:first_end] + SYNC + struct.pack("<III", 1, 1 << 30, 0)
    snaps, error, run = decode_until_error(case, dump)
    assert error is None, error
    assert run.corrupt == [(first_end, RECORD_PREFIX)]
    (snap,) = snaps
    errors = snap.debugger.snapshot.evaluationErrors or []
    assert [e.expr for e in errors] == ["@return"]
