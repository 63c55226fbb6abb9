"""The local intake on its own: fault plans, what it accepts, what it counts."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from upload_helpers import StartIntake, make_snapshot, snapshot_id, stats

from stages.errors import IntakeError
from stages.intake import FaultPlan, Intake, Step, parse_plan, parse_step


def test_parse_steps() -> None:
    assert parse_step("500x3") == Step("status", 3, code=500)
    assert parse_step("429") == Step("status", 1, code=429)
    assert parse_step("okx10") == Step("ok", 10)
    assert parse_step("dropx2") == Step("drop", 2)
    assert parse_step("lose") == Step("lose", 1)
    assert parse_step("delay:1.5x4") == Step("delay", 4, seconds=1.5)
    assert str(parse_step("delay:2")) == "delay:2x1"
    for bad in ("200x1", "500x0", "x3", "drop 2", "delay", "delay:x1", "teapot"):
        with pytest.raises(IntakeError):
            parse_step(bad)


def test_parse_plan_file() -> None:
    text = "# warm up\nokx2\n500x1 429x2   # overloaded\n\nlose\n"
    assert [str(s) for s in parse_plan(text)] == ["okx2", "500x1", "429x2", "losex1"]


def test_plan_hands_out_steps_in_order() -> None:
    plan = FaultPlan(parse_plan("500x2 drop okx1 lose"))
    got = [plan.next().action for _ in range(7)]
    assert got == ["status", "status", "drop", "ok", "lose", "ok", "ok"]


def post(
    intake: Intake, path: str, body: bytes, ctype: str = "application/json"
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", intake.port, timeout=5)
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    return resp.status, data


def get(intake: Intake, path: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", intake.port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data


def test_accepts_both_input_versions_and_counts_duplicates(start_intake: StartIntake) -> None:
    intake = start_intake()
    batch = json.dumps([make_snapshot(i) for i in range(3)]).encode()
    assert post(intake, "/debugger/v1/input?ddtags=env:a", batch) == (202, {"accepted": 3})
    assert post(intake, "/debugger/v2/input", batch)[0] == 202
    s = stats(intake.store.dir)
    assert (s["snapshots"], s["unique_snapshots"], s["duplicates"]) == (6, 3, 3)
    assert get(intake, "/stats")[1]["duplicates"] == 3
    status, info = get(intake, "/info")
    assert status == 200 and "/debugger/v1/diagnostics" in str(info["endpoints"])
    log = [json.loads(x) for x in (intake.store.dir / "requests.jsonl").read_text().splitlines()]
    assert [(e["ddtags"], e["items"], e["duplicates"]) for e in log] == [
        ("env:a", 3, 0),
        ("", 3, 3),
    ]


def test_rejects_what_is_not_a_snapshot_or_status(start_intake: StartIntake) -> None:
    intake = start_intake()
    bad = make_snapshot(1)
    del bad["service"]
    assert post(intake, "/debugger/v1/input", json.dumps([bad]).encode())[0] == 400
    assert post(intake, "/debugger/v1/input", b"{}")[0] == 400
    assert post(intake, "/debugger/v1/nope", b"[]")[0] == 404
    assert post(intake, "/debugger/v1/diagnostics", b"[]")[0] == 400
    form = (
        b'--b\r\nContent-Disposition: form-data; name="other"; filename="event.json"\r\n\r\n'
        b"[]\r\n--b--\r\n"
    )
    status, data = post(intake, "/debugger/v1/diagnostics", form, "multipart/form-data; boundary=b")
    assert status == 400 and "no part named event" in str(data)
    assert stats(intake.store.dir)["rejected"] == 4
    assert not list((intake.store.dir / "input").iterdir())
    # Lenient, it takes any objects (and still counts ids it finds).
    lenient = start_intake(validate=False, out=intake.store.dir.parent / "lenient")
    assert post(lenient, "/debugger/v1/input", json.dumps([bad, {"x": 1}]).encode())[0] == 202
    assert stats(lenient.store.dir)["snapshots_without_id"] == 1


def test_a_restarted_intake_keeps_counting(tmp_path: Path, start_intake: StartIntake) -> None:
    out = tmp_path / "out"
    batch = json.dumps([make_snapshot(i) for i in range(5)]).encode()
    first = start_intake(out=out)
    post(first, "/debugger/v1/input", batch)
    first.stop()
    second = start_intake(out=out)
    post(second, "/debugger/v1/input", batch)
    s = stats(out)
    assert (s["requests"], s["snapshots"], s["duplicates"]) == (2, 10, 5)
    assert sorted(p.name for p in (out / "input").iterdir()) == ["000001.json", "000002.json"]
    stored = json.loads((out / "input" / "000002.json").read_text())
    assert [s["debugger"]["snapshot"]["id"] for s in stored] == [snapshot_id(i) for i in range(5)]


def test_port_in_use(start_intake: StartIntake, tmp_path: Path) -> None:
    taken = start_intake()
    with pytest.raises(IntakeError, match="cannot listen"):
        Intake(tmp_path / "other", taken.port)
