"""A probe the BPF verifier rejects is reported with the verifier's reason and left
out; the other probes still capture."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi, irgen_codegen

EXAMPLE = REPO / "tests" / "progs" / "example"

pytestmark = pytest.mark.live


def test_rejected_probe_is_skipped_with_the_verifier_reason(tmp_path: Path) -> None:
    binary = build_go(EXAMPLE, go_versions()[-1])
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {"id": "greet", "where": {"methodName": "main.greet"}, "captureSnapshot": True},
                {"id": "sum", "where": {"methodName": "main.sum"}, "captureSnapshot": True},
            ]
        )
    )
    ir = tmp_path / "ir.json"
    prog = tmp_path / "prog"
    irgen_codegen(binary, probes, ir, prog)
    layout = json.loads((prog / "layout.json").read_text())
    bad = next(p for p in layout["probes"] if p["probe_id"] == "sum" and p["kind"] == "entry")
    # Make that probe's code write through a plain number: the verifier refuses it.
    c = (prog / "probes.bpf.c").read_text()
    head = f"static __always_inline int {bad['bpf_function']}(struct pt_regs *regs,"
    start = c.index(head)
    end = c.index("\n\treturn ", start)  # before the condition's return
    c = c[:end] + "\n\t*(volatile __u64 *)(regs->sp) = 1;" + c[end:]
    (prog / "probes.bpf.c").write_text(c)

    dump = tmp_path / "events.dump"
    cap = godi("capture", "--program", str(prog), "-o", str(dump), "--", str(binary))
    assert cap.returncode == 0, cap.stderr
    assert re.search(
        r"probe sum entry at 0x[0-9a-f]+ \(main\.sum\): not attached: rejected by the BPF "
        "verifier:",
        cap.stderr,
    ), cap.stderr
    reason = cap.stderr.split("rejected by the BPF verifier:", 1)[1].splitlines()[0]
    assert "invalid mem access" in reason or "scalar" in reason, reason
    dec = godi(
        "decode",
        "--ir",
        str(ir),
        "--program",
        str(prog),
        str(dump),
        "-o",
        str(tmp_path / "s.json"),
        "--service",
        "x",
    )
    assert dec.returncode == 0, dec.stderr
    snaps = json.loads((tmp_path / "s.json").read_text())
    # sum's returns follow its (missing) entries: only greet is captured.
    assert {s["debugger"]["snapshot"]["probe"]["id"] for s in snaps} == {"greet"}
    greet = [s for s in snaps if s["debugger"]["snapshot"]["probe"]["id"] == "greet"]
    assert greet[0]["message"].startswith('main.greet(name="gopher", times=2)')
