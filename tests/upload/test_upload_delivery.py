"""Uploading to the local intake over real HTTP on loopback, with and without faults.

Every case checks that each snapshot id arrives, and that duplicates appear only
where the intake stored a batch and then lost its response on purpose.
"""

from __future__ import annotations

import fcntl
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from upload_helpers import (
    StartIntake,
    fast,
    free_port,
    make_snapshot,
    received_ids,
    snapshot_id,
    stats,
    wait_for,
    write_array,
    write_lines,
)

from stages.errors import UploadError, UploadInputError
from stages.upload import Position, upload_snapshots, upload_statuses
from stages.upload.progress import progress_path

N = 3000


def all_once(n: int, first: int = 0) -> Counter[str]:
    return Counter({snapshot_id(i): 1 for i in range(first, first + n)})


def requests_log(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_delivers_a_few_thousand_snapshots(
    tmp_path: Path, start_intake: StartIntake, fmt: str
) -> None:
    write = write_array if fmt == "json" else write_lines
    inp = write(tmp_path / f"snaps.{fmt}", (make_snapshot(i, pad=i % 3000) for i in range(N)))
    intake = start_intake()
    notes: list[str] = []
    r = upload_snapshots(inp, fast(intake.url), notes.append)
    assert (r.sent, r.retries, r.dead_lettered, r.oversize, notes) == (N, 0, 0, 0, [])
    out = intake.store.dir
    assert received_ids(out) == all_once(N)
    assert stats(out)["duplicates"] == 0
    bodies = sorted((out / "input").glob("*.json"))
    assert len(bodies) == r.batches > 1
    for body in bodies:  # the agent's limits
        assert body.stat().st_size <= 1024 * 1024
        assert len(msgspec.json.decode(body.read_bytes())) <= 1024
    assert {e["ddtags"] for e in requests_log(out)} == {"env:test"}
    progress = json.loads(progress_path(inp).read_text())
    assert progress["complete"] and progress["items"] == N

    # A rerun finds the record complete and sends nothing.
    again = upload_snapshots(inp, fast(intake.url), notes.append)
    assert again.already_complete and again.sent == 0
    assert stats(out)["requests"] == r.batches


def test_statuses_go_to_diagnostics_as_multipart(tmp_path: Path, start_intake: StartIntake) -> None:
    statuses = [
        {
            "service": "shop",
            "ddsource": "dd_debugger",
            "timestamp": 1750789242826 + i,
            "debugger": {
                "diagnostics": {
                    "probeId": f"p{i}",
                    "probeVersion": 1,
                    "runtimeId": "9a3e9f4c-0a7b-4a8e-9d5e-7d1f0c2b3a4d",
                    "status": s,
                    **(
                        {"exception": {"type": "NoSuchFunction", "message": "main.nope"}}
                        if s == "ERROR"
                        else {}
                    ),
                }
            },
        }
        for i, s in enumerate(["RECEIVED", "INSTALLED", "EMITTING", "ERROR"])
    ]
    inp = tmp_path / "probe-status.json"
    inp.write_text(json.dumps(statuses))
    intake = start_intake()
    r = upload_statuses(inp, fast(intake.url))
    assert (r.sent, r.batches) == (4, 1)
    (stored,) = (intake.store.dir / "diagnostics").glob("*.json")
    assert json.loads(stored.read_text()) == statuses
    assert stats(intake.store.dir)["statuses"] == 4

    # Small batches: every multipart body, envelope included, stays within the limit.
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps(statuses[i % 4]) + "\n" for i in range(40)))
    r = upload_statuses(many, fast(intake.url, batch_bytes=1024))
    log = requests_log(intake.store.dir)[1:]
    assert r.sent == 40 and r.batches == len(log) > 4
    assert all(e["bytes"] <= 1024 for e in log) and max(e["bytes"] for e in log) > 800


def test_invalid_statuses_are_dead_lettered(tmp_path: Path, start_intake: StartIntake) -> None:
    ok = {
        "service": "s",
        "ddsource": "dd_debugger",
        "timestamp": 1,
        "debugger": {
            "diagnostics": {"probeId": "p", "probeVersion": 1, "runtimeId": "r", "status": "OK?"}
        },
    }
    inp = tmp_path / "st.jsonl"
    inp.write_text(json.dumps(ok) + "\n")
    r = upload_statuses(inp, fast(start_intake().url), lambda m: None)
    assert (r.sent, r.dead_lettered) == (0, 1)
    assert "OK?" in r.deadletter_path.read_text()


def test_intake_down_at_start(tmp_path: Path, start_intake: StartIntake) -> None:
    port = free_port()
    inp = write_lines(tmp_path / "snaps.jsonl", (make_snapshot(i) for i in range(500)))
    notes: list[str] = []
    done: dict[str, Any] = {}
    options = fast(f"http://127.0.0.1:{port}", max_retries=500, backoff_max=0.05)
    uploader = threading.Thread(
        target=lambda: done.update(r=upload_snapshots(inp, options, notes.append))
    )
    uploader.start()
    wait_for(lambda: len(notes) >= 3, what="failed attempts")
    intake = start_intake(port=port)
    uploader.join(timeout=20)
    assert done["r"].sent == 500 and done["r"].retries >= 3
    assert "connection refused" in notes[0]
    assert received_ids(intake.store.dir) == all_once(500)


def test_500s_and_429s_with_retry_after(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i) for i in range(N)))
    intake = start_intake("500x2", "503x1", "429x2", retry_after=1)
    notes: list[str] = []
    t0 = time.monotonic()
    r = upload_snapshots(inp, fast(intake.url), notes.append)
    elapsed = time.monotonic() - t0
    assert (r.sent, r.retries) == (N, 5)
    # Retry-After (1 s) on the 503 and both 429s, though the backoff alone is ~10 ms.
    assert elapsed >= 3.0
    assert sum("HTTP 429" in n for n in notes) == 2
    assert received_ids(intake.store.dir) == all_once(N)
    assert stats(intake.store.dir)["duplicates"] == 0


def test_connections_reset_mid_request(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i, pad=900) for i in range(N)))
    intake = start_intake("dropx3")
    notes: list[str] = []
    r = upload_snapshots(inp, fast(intake.url), notes.append)
    assert (r.sent, r.retries) == (N, 3)
    assert received_ids(intake.store.dir) == all_once(N)
    s = stats(intake.store.dir)
    assert (s["faults"]["drop"], s["duplicates"]) == (3, 0)


def test_slow_responses_time_out_then_succeed(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i) for i in range(N)))
    intake = start_intake("delay:1.5x2")
    notes: list[str] = []
    r = upload_snapshots(inp, fast(intake.url, timeout=0.5), notes.append)
    assert (r.sent, r.retries) == (N, 2)
    assert all("timed out" in n for n in notes)
    # The intake gave up on both requests whose client had left: nothing duplicated.
    wait_for(lambda: stats(intake.store.dir)["faults"].get("abandoned") == 2, what="abandon")
    assert received_ids(intake.store.dir) == all_once(N)
    assert stats(intake.store.dir)["duplicates"] == 0


def test_a_lost_response_is_the_only_duplicate(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i) for i in range(N)))
    intake = start_intake("okx1", "losex1", "dropx1", "500x1")
    r = upload_snapshots(inp, fast(intake.url, batch_items=500), lambda m: None)
    assert (r.sent, r.retries) == (N, 3)
    ids = received_ids(intake.store.dir)
    assert set(ids) == set(all_once(N))
    s = stats(intake.store.dir)
    # Exactly the batch stored without an answer came twice.
    assert s["lost_response_snapshots"] == 500
    assert s["duplicates"] == 500 == sum(ids.values()) - N
    assert {i for i, c in ids.items() if c == 2} == set(all_once(500, first=500))


def test_other_4xx_are_dead_lettered(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_lines(tmp_path / "snaps.jsonl", (make_snapshot(i) for i in range(N)))
    intake = start_intake("okx1", "400x1")
    notes: list[str] = []
    r = upload_snapshots(inp, fast(intake.url, batch_items=1000), notes.append)
    assert (r.sent, r.dead_lettered, r.retries) == (2000, 1000, 0)
    assert "HTTP 400" in notes[0] and "deadletter.jsonl" in notes[0]
    kept = [json.loads(x)["debugger"]["snapshot"]["id"] for x in r.deadletter_path.open()]
    assert kept == list(all_once(1000, first=1000))
    assert received_ids(intake.store.dir) == all_once(1000) + all_once(1000, first=2000)
    assert json.loads(progress_path(inp).read_text())["complete"]


def test_items_that_are_not_snapshots_are_dead_lettered(
    tmp_path: Path, start_intake: StartIntake
) -> None:
    inp = tmp_path / "snaps.jsonl"
    lines = [json.dumps(make_snapshot(i)) for i in range(10)]
    lines[3] = '{"ddtags": 5}'
    lines[6] = '{"cut": '
    inp.write_text("\n".join(lines) + "\n")
    intake = start_intake()
    r = upload_snapshots(inp, fast(intake.url), lambda m: None)
    assert (r.sent, r.dead_lettered) == (8, 2)
    assert r.deadletter_path.read_text().splitlines() == ['{"ddtags":5}', '{"cut":']
    assert set(received_ids(intake.store.dir)) == {snapshot_id(i) for i in range(10)} - {
        snapshot_id(3),
        snapshot_id(6),
    }


def test_oversize_snapshots_are_set_aside(tmp_path: Path, start_intake: StartIntake) -> None:
    snaps = [make_snapshot(i, pad=200_000 if i in (5, 77) else 0) for i in range(100)]
    inp = write_array(tmp_path / "snaps.json", snaps)
    intake = start_intake()
    notes: list[str] = []
    r = upload_snapshots(inp, fast(intake.url, batch_bytes=64 * 1024), notes.append)
    assert (r.sent, r.oversize) == (98, 2)
    assert len(notes) == 2 and "item 5 is" in notes[0] and "oversize.jsonl" in notes[0]
    aside = [json.loads(x) for x in r.oversize_path.open()]
    assert [s["debugger"]["snapshot"]["id"] for s in aside] == [snapshot_id(5), snapshot_id(77)]
    assert aside[0] == snaps[5]
    assert set(received_ids(intake.store.dir)) == {snapshot_id(i) for i in range(100)} - {
        snapshot_id(5),
        snapshot_id(77),
    }


def test_413_splits_the_batch(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i) for i in range(600)))
    intake = start_intake(max_body_bytes=40_000)
    notes: list[str] = []
    r = upload_snapshots(inp, fast(intake.url), notes.append)
    assert r.sent == 600 and any("HTTP 413" in n for n in notes)
    assert received_ids(intake.store.dir) == all_once(600)


def test_batches_follow_ddtags_and_tags_override(tmp_path: Path, start_intake: StartIntake) -> None:
    tags = ["env:a"] * 100 + ["env:b,version:2"] * 100 + ["env:a"] * 100
    inp = write_lines(
        tmp_path / "snaps.jsonl", (make_snapshot(i, tags=t) for i, t in enumerate(tags))
    )
    intake = start_intake()
    upload_snapshots(inp, fast(intake.url))
    log = requests_log(intake.store.dir)
    assert [(e["ddtags"], e["items"]) for e in log] == [
        ("env:a", 100),
        ("env:b,version:2", 100),
        ("env:a", 100),
    ]
    r = upload_snapshots(inp, fast(intake.url, tags="env:x", service="other", restart=True))
    assert r.batches == 1
    assert requests_log(intake.store.dir)[-1]["ddtags"] == "env:x"
    last = sorted((intake.store.dir / "input").glob("*.json"))[-1]
    assert {s["service"] for s in json.loads(last.read_text())} == {"other"}


def test_gives_up_after_max_retries_and_resumes(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i) for i in range(1000)))
    intake = start_intake("okx2", "500x3")
    with pytest.raises(UploadError, match="giving up after 2 retries"):
        upload_snapshots(inp, fast(intake.url, batch_items=100, max_retries=2), lambda m: None)
    progress = json.loads(progress_path(inp).read_text())
    assert (progress["items"], progress["complete"]) == (200, False)
    r = upload_snapshots(inp, fast(intake.url, batch_items=100))
    assert r.resumed_from == Position(200, progress["offset"]) and r.sent == 800
    assert received_ids(intake.store.dir) == all_once(1000)


def test_malformed_input_delivers_what_came_before(
    tmp_path: Path, start_intake: StartIntake
) -> None:
    inp = write_array(tmp_path / "snaps.json", (make_snapshot(i) for i in range(250)))
    data = inp.read_bytes()
    inp.write_bytes(data[: data.rindex(b"}") + 1] + b",\n  oops\n]\n")
    intake = start_intake()
    with pytest.raises(UploadInputError, match="item 250: malformed JSON"):
        upload_snapshots(inp, fast(intake.url, batch_items=100))
    assert received_ids(intake.store.dir) == all_once(250)
    assert json.loads(progress_path(inp).read_text())["items"] == 250


def test_progress_of_another_file_or_agent_is_refused(
    tmp_path: Path, start_intake: StartIntake
) -> None:
    inp = write_lines(tmp_path / "snaps.jsonl", (make_snapshot(i) for i in range(10)))
    intake = start_intake()
    upload_snapshots(inp, fast(intake.url))
    with pytest.raises(UploadInputError, match="records an upload to"):
        upload_snapshots(inp, fast("http://127.0.0.1:1"))
    with inp.open("a") as f:
        f.write(json.dumps(make_snapshot(10)) + "\n")
    with pytest.raises(UploadInputError, match="changed since"):
        upload_snapshots(inp, fast(intake.url))
    r = upload_snapshots(inp, fast(intake.url, restart=True))
    assert r.sent == 11 and r.resumed_from is None
    assert stats(intake.store.dir)["duplicates"] == 10


def test_one_upload_per_input_at_a_time(tmp_path: Path, start_intake: StartIntake) -> None:
    inp = write_lines(tmp_path / "snaps.jsonl", (make_snapshot(i) for i in range(10)))
    with inp.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(UploadInputError, match="another godi upload"):
            upload_snapshots(inp, fast(start_intake().url))
