"""A probe lands only where the file it goes into has an instruction start.

Two different programs built with the same GNU build id (``-ldflags=-B=0x...``),
and an IR edited to point a probe inside an instruction: godi must tell the
binaries apart by their bytes (IR cache, capture) and refuse, before attaching, a
uprobe that is not on an instruction boundary of the file it attaches to. Ground
truth comes from outside godi: the programs print their own values, ``objdump``
says where instructions start, ``hashlib`` hashes the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi, godi_env

from stages.capture.identity import instructions, open_checked
from stages.dump import RECORD_EVENT, RECORD_NOTICE, RecordReader, decode_notice, read_header
from stages.errors import TargetError
from stages.ir import decode_program

TWINS = REPO / "tests" / "progs" / "twins"
PROBES = TWINS / "probes.json"
SAME_ID = "-B=0x" + "5a" * 20
GO = go_versions()[-1]
CALL = re.compile(r"compute\((\d+), (\"[^\"]*\")\) = (-?\d+)")


@pytest.fixture(scope="module")
def twins() -> tuple[Path, Path]:
    """first and second, two different programs built with the same build id."""
    return build_go(TWINS / "first", GO, ldflags=SAME_ID), build_go(
        TWINS / "second", GO, ldflags=SAME_ID
    )


def _build_id(binary: Path) -> str:
    out = subprocess.run(["readelf", "-n", str(binary)], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, out
    return m.group(1)


def _prepare(binary: Path, out: Path, env: dict[str, str]) -> None:
    """irgen (through the IR cache of ``env``) and codegen of the twins' probe."""
    ir = godi_env(env, "irgen", str(binary), "--probes", str(PROBES), "-o", str(out / "ir.json"))
    assert ir.returncode == 0, ir.stderr
    gen = godi("codegen", "--ir", str(out / "ir.json"), "--probes", str(PROBES), "-o", str(out))
    assert gen.returncode == 0, gen.stderr


def _instruction_starts(binary: Path, start: int, stop: int) -> list[tuple[int, int]]:
    """(address, length) of the instructions objdump finds in [start, stop)."""
    out = subprocess.run(
        [
            "objdump",
            "-d",
            "--no-show-raw-insn",
            f"--start-address={start:#x}",
            f"--stop-address={stop:#x}",
            str(binary),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    starts = [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\s", out, re.M)]
    return [(a, b - a) for a, b in zip(starts, [*starts[1:], stop], strict=True)][:-1]


def _mid_instruction_ir(src: Path, binary: Path, dest: Path) -> int:
    """Write to ``dest`` the IR of ``src`` with main.compute's probe address moved
    into the middle of an instruction (per objdump); returns that address."""
    ir = json.loads(src.read_bytes())
    (fn,) = [f for f in ir["functions"] if f["name"] == "main.compute"]
    spans = _instruction_starts(binary, fn["entry_pc"], fn["high_pc"])
    at = next(a for a, n in spans if n > 1)
    fn["entry_pc"] = at + 1
    dest.write_text(json.dumps(ir))
    return at + 1


# ------------------------------------------------------------------ without root


def test_the_twins_share_a_build_id_not_their_bytes(twins: tuple[Path, Path]) -> None:
    first, second = twins
    assert _build_id(first) == _build_id(second) == SAME_ID.removeprefix("-B=0x")
    assert first.read_bytes() != second.read_bytes()


def test_the_cache_gives_each_twin_its_own_ir(twins: tuple[Path, Path], tmp_path: Path) -> None:
    env = {"GODI_CACHE_DIR": str(tmp_path / "cache"), "GODI_IR_CACHE": "1"}
    for binary, name in zip(twins, ("a", "b"), strict=True):
        _prepare(binary, tmp_path / name, env)
    for binary, name in zip(twins, ("a", "b"), strict=True):
        program = decode_program((tmp_path / name / "ir.json").read_bytes())
        assert program.binary.sha256 == hashlib.sha256(binary.read_bytes()).hexdigest()
        layout = json.loads((tmp_path / name / "layout.json").read_bytes())
        assert layout["binary_sha256"] == program.binary.sha256
    assert len(list((tmp_path / "cache" / "ir").iterdir())) == 2


def test_capstone_agrees_with_objdump(twins: tuple[Path, Path], tmp_path: Path) -> None:
    """The decoder capture trusts finds objdump's instruction starts in compute."""
    second = twins[1]
    _prepare(second, tmp_path, {"GODI_IR_CACHE": "0"})
    fn = decode_program((tmp_path / "ir.json").read_bytes()).function("main.compute")
    assert fn is not None
    expected = _instruction_starts(second, fn.low_pc, fn.high_pc)
    got = instructions(_read_code(second, fn.low_pc, fn.high_pc), fn.low_pc, fn.high_pc)
    assert len(expected) > 10 and got[: len(expected)] == expected


def _read_code(binary: Path, start: int, stop: int) -> bytes:
    """The bytes of ``binary`` loaded at [start, stop)."""
    from elftools.elf.elffile import ELFFile

    with open(binary, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            vaddr, size = seg["p_vaddr"], seg["p_filesz"]
            if seg["p_type"] == "PT_LOAD" and vaddr <= start < vaddr + size:
                f.seek(seg["p_offset"] + start - vaddr)
                return f.read(stop - start)
    raise AssertionError(f"{start:#x} is not in a loaded segment")


def test_another_binary_is_refused_before_anything(
    twins: tuple[Path, Path], tmp_path: Path
) -> None:
    """first's program against second (same build id): refused, whole, with one line."""
    first, second = twins
    _prepare(first, tmp_path, {"GODI_IR_CACHE": "0"})
    dry = godi("capture", "--program", str(tmp_path), "--dry-run", "--binary", str(second))
    assert dry.returncode == 2
    (line,) = dry.stderr.splitlines()
    assert "is not the binary the probes were generated for" in line
    assert f"both have build id {SAME_ID.removeprefix('-B=0x')}" in line
    assert "Traceback" not in dry.stderr


def test_a_mid_instruction_probe_is_refused_in_a_dry_run(
    twins: tuple[Path, Path], tmp_path: Path
) -> None:
    second = twins[1]
    _prepare(second, tmp_path / "good", {"GODI_IR_CACHE": "0"})
    bad = tmp_path / "bad"
    bad.mkdir()
    pc = _mid_instruction_ir(tmp_path / "good" / "ir.json", second, bad / "ir.json")
    gen = godi("codegen", "--ir", str(bad / "ir.json"), "--probes", str(PROBES), "-o", str(bad))
    assert gen.returncode == 0, gen.stderr
    dry = godi("capture", "--program", str(bad), "--dry-run", "--binary", str(second))
    assert dry.returncode == 0, dry.stderr
    refused = [ln for ln in dry.stdout.splitlines() if ln.startswith("refused probe")]
    assert len(refused) == 1
    assert f"{pc:#x} is not an instruction boundary of {second}" in refused[0]
    # The return probes are on instruction starts: they would go on.
    assert any(ln.startswith("uprobe ") and "(return)" in ln for ln in dry.stdout.splitlines())


def test_open_checked_refuses_an_empty_hash(twins: tuple[Path, Path], tmp_path: Path) -> None:
    """A layout made before the hash was recorded is never trusted."""
    from stages.artifacts import load_layout
    from stages.layout import Layout

    second = twins[1]
    _prepare(second, tmp_path, {"GODI_IR_CACHE": "0"})
    layout = load_layout(tmp_path)
    import msgspec

    old = msgspec.structs.replace(layout, binary_sha256="")
    assert isinstance(old, Layout)
    with pytest.raises(TargetError, match="does not record which binary"):
        open_checked(str(second), old)
    checked = open_checked(str(second), layout)
    try:
        assert checked.refused == {}
        assert os.path.samefile(checked.attach_path, second)
    finally:
        checked.close()


# ------------------------------------------------------------------------- live


def _calls(text: str) -> list[tuple[int, str, int]]:
    return [(int(a), json.loads(s), int(r)) for a, s, r in CALL.findall(text)]


def _snapshot_calls(path: Path) -> list[tuple[int, str, int]]:
    out = []
    for s in json.loads(path.read_text()):
        captures = s["debugger"]["snapshot"]["captures"]
        args = captures["entry"]["arguments"]
        out.append(
            (
                int(args["x"]["value"]),
                args["s"]["value"],
                int(captures["return"]["locals"]["@return"]["value"]),
            )
        )
    return out


@pytest.mark.live
def test_second_twin_runs_under_probes_with_the_first_ones_ir_cached(
    twins: tuple[Path, Path], tmp_path: Path
) -> None:
    """The reported crash: second run with first's IR in the cache, same build id."""
    first, second = twins
    env = {"GODI_CACHE_DIR": str(tmp_path / "cache"), "GODI_IR_CACHE": "1"}
    one = godi_env(env, "run", "--probes", str(PROBES), "-o", str(tmp_path / "a"), "--", str(first))
    assert one.returncode == 0, one.stderr
    plain = subprocess.run([str(second)], capture_output=True, text=True, timeout=60, check=True)
    run = godi_env(
        env,
        "run",
        "--no-live",
        "--probes",
        str(PROBES),
        "-o",
        str(tmp_path / "b"),
        "--",
        str(second),
    )
    assert run.returncode == 0, run.stderr  # no SIGSEGV, no 'unexpected fault address'
    assert run.stdout == plain.stdout
    expected = _calls(plain.stdout)
    assert len(expected) == 5
    assert _snapshot_calls(tmp_path / "b" / "snapshots.json") == expected


@pytest.mark.live
def test_other_binaries_are_refused_whole_and_left_alone(
    twins: tuple[Path, Path], tmp_path: Path
) -> None:
    """first's program on second (--binary) or on another running program (--pid):
    refused before anything is attached, no dump, the process unharmed."""
    first, second = twins
    _prepare(first, tmp_path, {"GODI_IR_CACHE": "0"})
    dump = tmp_path / "e.dump"
    cap = godi("capture", "--program", str(tmp_path), "-o", str(dump), "--binary", str(second))
    assert cap.returncode == 2
    assert "is not the binary the probes were generated for" in cap.stderr
    assert "Traceback" not in cap.stderr and not dump.exists()
    loop = build_go(REPO / "tests" / "progs" / "robust", GO)
    proc = subprocess.Popen([str(loop), "loop", "100"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("pid ")
        cap = godi("capture", "--program", str(tmp_path), "-o", str(dump), "--pid", str(proc.pid))
        assert cap.returncode == 2
        (line,) = cap.stderr.splitlines()
        assert f"(PID {proc.pid}) is not the binary the probes were generated for" in line
        assert not dump.exists()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out.endswith("done\n")


@pytest.mark.live
def test_an_ir_pointing_mid_instruction_attaches_nothing_there(
    twins: tuple[Path, Path], tmp_path: Path
) -> None:
    second = twins[1]
    _prepare(second, tmp_path / "good", {"GODI_IR_CACHE": "0"})
    bad = tmp_path / "bad"
    bad.mkdir()
    pc = _mid_instruction_ir(tmp_path / "good" / "ir.json", second, bad / "ir.json")
    gen = godi("codegen", "--ir", str(bad / "ir.json"), "--probes", str(PROBES), "-o", str(bad))
    assert gen.returncode == 0, gen.stderr
    plain = subprocess.run([str(second)], capture_output=True, text=True, timeout=60, check=True)
    dump = tmp_path / "e.dump"
    cap = godi("capture", "--program", str(bad), "-o", str(dump), "--", str(second))
    assert cap.returncode == 0, cap.stderr  # the target exited normally
    assert cap.stdout == plain.stdout
    assert f"{pc:#x} is not an instruction boundary of {second}" in cap.stderr
    assert "Traceback" not in cap.stderr
    with open(dump, "rb") as f:
        read_header(f)
        records = list(RecordReader(f, f.tell()))
    notices = [decode_notice(r.payload) for r in records if r.kind == RECORD_NOTICE]
    assert [n.kind for n in notices] == ["attach_failed"]
    assert f"{pc:#x} is not an instruction boundary" in notices[0].message
    # Nothing fired at the refused address: only the return probes (one per call).
    layout: dict[str, Any] = json.loads((bad / "layout.json").read_bytes())
    refused = {p["index"] for p in layout["probes"] if p["pc"] == pc}
    fired = {int.from_bytes(r.payload[:4], "little") for r in records if r.kind == RECORD_EVENT}
    assert fired and not fired & refused
