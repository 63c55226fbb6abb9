"""A message about one uprobe of a probe says which: an entry and its returns
share the probe id and the function, so two identical lines (the issue's "probe X
... dropped" twice) told the user nothing. Every uprobe of ``sum`` is made to fail
the BPF verifier; each gets its own line naming its kind and address, and the
dump's notices (what ``godi status`` reads) say the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi, irgen_codegen

from stages.dump import RECORD_NOTICE, RecordReader, decode_notice, read_header

EXAMPLE = REPO / "tests" / "progs" / "example"

pytestmark = pytest.mark.live


def test_each_failed_uprobe_has_its_own_line(tmp_path: Path) -> None:
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
    ir, prog = tmp_path / "ir.json", tmp_path / "prog"
    irgen_codegen(binary, probes, ir, prog)
    layout = json.loads((prog / "layout.json").read_text())
    sums = [p for p in layout["probes"] if p["probe_id"] == "sum"]
    assert {p["kind"] for p in sums} == {"entry", "return"}
    c = (prog / "probes.bpf.c").read_text()
    for p in sums:  # a write through a plain number: the verifier refuses it
        start = c.index(f"static __always_inline int {p['bpf_function']}(struct pt_regs *regs,")
        end = c.index("\n\treturn ", start)
        c = c[:end] + "\n\t*(volatile __u64 *)(regs->sp) = 1;" + c[end:]
    (prog / "probes.bpf.c").write_text(c)
    dump = tmp_path / "events.dump"
    cap = godi("capture", "--program", str(prog), "-o", str(dump), "--", str(binary))
    assert cap.returncode == 0, cap.stderr
    lines = [x for x in cap.stderr.splitlines() if x.startswith("godi: probe sum ")]
    assert len(lines) == len(sums) == len(set(lines)), cap.stderr
    for p in sums:
        head = f"godi: probe sum {p['kind']} at 0x{p['pc']:x} (main.sum): not attached: "
        assert sum(x.startswith(head) for x in lines) == 1, (head, lines)
    with dump.open("rb") as f:
        read_header(f)
        records = list(RecordReader(f, f.tell()))
    notices = [decode_notice(r.payload) for r in records if r.kind == RECORD_NOTICE]
    messages = [n.message for n in notices if n.probe_id == "sum"]
    assert len(messages) == len(set(messages)) == len(sums)
    assert all(re.match(r"(entry|return) at 0x[0-9a-f]+ \(main\.sum\): ", m) for m in messages)
