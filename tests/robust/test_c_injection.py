"""No text from a probe file or a binary can add code to the generated BPF C.

Every such text reaches the C through ``stages.codegen.render.c_literal`` (or
``c_comment``, which holds it). Hypothesis throws any unicode at them, with the
pieces that broke the old ``*/`` rewrite (backslash-newline splices, ``??/``
trigraphs, quotes, NUL); gcc is the judge: the file must compile with trigraphs
on, each comment must vanish whole in preprocessing, and the program must print
exactly the string's UTF-8 bytes from the literal.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.artifacts import header
from stages.codegen import generate_c
from stages.codegen.render import c_comment, c_literal
from stages.ir import (
    BaseType,
    BinaryInfo,
    Function,
    LocationRange,
    Program,
    RegisterPiece,
    Variable,
)
from stages.paths import bpf_dir
from stages.probefile import parse_probes

REPRO = 'b*\\\n/\n#include "/root/secret"\n/*'
"""The issue's probe id: with only ``*/`` rewritten, it compiled an include."""

GCC = shutil.which("gcc") or shutil.which("clang")
needs_cc = pytest.mark.skipif(GCC is None, reason="no C compiler (gcc or clang)")

NASTY = st.sampled_from(
    ["*/", "/*", "//", "\\", "\\\n", "??/", "??=", "??'", '"', "\n", "\r", "\0", "*", "/", "?"]
)
TEXTS = st.lists(st.one_of(st.text(), NASTY), max_size=8).map("".join)


def _unquote(literal: str) -> bytes:
    """The bytes of a C literal as ``c_literal`` writes it (plain bytes and
    three-digit octal escapes), read independently of it."""
    assert literal[0] == '"' and literal[-1] == '"', literal
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] == "\\":
            assert re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]), body[i:]
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            out += body[i].encode("ascii")
            i += 1
    return bytes(out)


def _comment_text(comment: str) -> str:
    """What a ``c_comment`` holds: the text itself, or its literal when quoted."""
    if comment.startswith('"'):
        return _unquote(comment).decode("utf-8", "surrogatepass")
    return comment


def _compile_and_run(tmp: Path, source: str) -> bytes:
    c = tmp / "t.c"
    c.write_text(source)
    flags = ["-std=c11", "-trigraphs", "-Werror=trigraphs", "-Wno-comment"]
    pre = subprocess.run([GCC, *flags, "-E", "-P", str(c)], capture_output=True, text=True)
    assert pre.returncode == 0, pre.stderr
    built = subprocess.run([GCC, *flags, "-o", str(tmp / "t"), str(c)], capture_output=True)
    assert built.returncode == 0, built.stderr.decode(errors="replace")
    ran = subprocess.run([str(tmp / "t")], capture_output=True)
    assert ran.returncode == 0
    return ran.stdout


def _program(texts: list[str]) -> tuple[str, str]:
    """A C program printing each text from its literal, each behind a comment
    holding it; and the same program with the comments as preprocessing leaves
    them (one space)."""
    lines = ["extern long write(int, const void *, unsigned long);"]
    bare = list(lines)
    for i, t in enumerate(texts):
        decl = f"static const char s{i}[] = {c_literal(t)};"
        lines.append(f"/* {c_comment(t)} */ {decl} /*{c_comment(t)}*/")
        bare.append(f"  {decl} ")
    body = ["int main(void) {"]
    body += [f"\twrite(1, s{i}, sizeof s{i} - 1);" for i in range(len(texts))]
    body += ["\treturn 0;", "}"]
    return "\n".join(lines + body) + "\n", "\n".join(bare + body) + "\n"


@needs_cc
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(TEXTS, min_size=1, max_size=12))
def test_every_string_compiles_to_literals_and_comments_holding_exactly_it(
    tmp_path: Path, texts: list[str]
) -> None:
    texts = [*texts, REPRO]
    source, bare = _program(texts)
    assert _compile_and_run(tmp_path, source) == b"".join(t.encode("utf-8") for t in texts)
    # Each comment is one comment: preprocessing leaves exactly the bare program.
    pre = subprocess.run(
        [GCC, "-std=c11", "-trigraphs", "-E", "-P", str(tmp_path / "t.c")],
        capture_output=True,
        text=True,
    ).stdout
    assert pre.split() == bare.split()
    for t in texts:
        assert _comment_text(c_comment(t)) == t
        assert _unquote(c_literal(t)) == t.encode("utf-8")
        for form in (c_literal(t), c_comment(t)):
            assert "*/" not in form and "/*" not in form and "\n" not in form
            assert "?" not in form and not form.endswith(("*", "/"))


def test_plain_names_stay_readable() -> None:
    assert c_comment("main.(*Cart).Checkout") == "main.(*Cart).Checkout"
    assert c_comment("xs") == "xs"
    assert c_comment("/src/main.go") == '"/src/main.go"'  # a leading / could join a *
    assert c_comment('say "hi"') == '"say \\042hi\\042"'


EVIL = '/src/*/\n#include "/etc/passwd"\n/*.go'
"""A file path (or variable name) from the binary doing what the repro id does."""


def _one_function_program() -> Program:
    """main.greet(x int): its file, a variable name and the build id are hostile."""
    greet = Function(
        name="main.greet",
        low_pc=0x1000,
        high_pc=0x1100,
        file=EVIL,
        line=3,
        entry_pc=0x1010,
        entry_cfa_offset=0x28,
        frame_pointer=True,
        variables=[
            Variable(
                name=EVIL,
                type=1,
                role="param",
                locations=[
                    LocationRange(low_pc=0x1000, high_pc=0x1100, pieces=[RegisterPiece(register=0)])
                ],
            ),
            Variable(name=EVIL + "2", type=1, role="param", unavailable=EVIL),
        ],
    )
    return Program(
        header=header("godi.ir", 1, {"binary": "b1"}),
        binary=BinaryInfo(
            build_id=EVIL, go_version="go1.27.3", arch="amd64", dwarf_version=5, goid_offset=152
        ),
        types=[BaseType(id=1, name="int", size=8, go_kind="int")],
        functions=[greet],
    )


@needs_cc
def test_the_issue_reproduction_generates_no_include(tmp_path: Path) -> None:
    """The repro id (and a file path doing the same) through the whole of codegen:
    the generated file's preprocessing directives are exactly those of bpf/godi.h,
    and the id is in its probe's comment, quoted whole."""
    probes = parse_probes([{"id": REPRO, "where": {"methodName": "main.greet"}}])
    g = generate_c(_one_function_program(), probes, ir_hash="0" * 64)
    directives = sorted(ln.strip() for ln in g.c_source.splitlines() if ln.lstrip().startswith("#"))
    runtime = "".join(p.read_text() for p in sorted(bpf_dir().glob("*.h")))
    allowed = {ln.strip() for ln in runtime.splitlines() if ln.lstrip().startswith("#")}
    template = re.compile(
        r"#define GODI_MAX_[A-Z]+ \d+|#ifndef GODI_SKIP_\d+|#(ifdef GODI_SEPARATE_PROBES|endif)"
    )
    assert [d for d in directives if d not in allowed and not template.fullmatch(d)] == []
    assert f"/* probe {c_comment(REPRO)} v0: main.greet entry" in g.c_source
    assert "/etc/passwd" not in g.c_source.replace(c_comment(EVIL), "")
    # The probe section alone (the runtime needs BCC's headers) preprocesses to C
    # with no line of it gone to a directive.
    section = g.c_source.split("/* ---- end bpf/godi.h ---- */")[1]
    (tmp_path / "p.c").write_text(section)
    pre = subprocess.run(
        [GCC, "-std=c11", "-trigraphs", "-E", "-P", str(tmp_path / "p.c")],
        capture_output=True,
        text=True,
    )
    assert pre.returncode == 0, pre.stderr
    assert "secret" not in pre.stdout and "passwd" not in pre.stdout


EXAMPLE = REPO / "tests" / "progs" / "example"


@pytest.mark.live
def test_the_issue_reproduction_captures_under_its_id(tmp_path: Path) -> None:
    """Live: the repro id, with its include pointing at a planted file whose
    content would stop the compile, captures like any probe, under its id."""
    planted = tmp_path / "secret"
    planted.write_text("#error GODI_PLANTED_SECRET\n")
    pid = REPRO.replace("/root/secret", str(planted))
    binary = build_go(EXAMPLE, go_versions()[-1])
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([{"id": pid, "where": {"methodName": "main.greet"}}]))
    ir, prog = tmp_path / "ir.json", tmp_path / "prog"
    assert godi("irgen", str(binary), "--probes", str(probes), "-o", str(ir)).returncode == 0
    gen = godi("codegen", "--ir", str(ir), "--probes", str(probes), "-o", str(prog))
    assert gen.returncode == 0, gen.stderr
    dump = tmp_path / "events.dump"
    cap = godi("capture", "--program", str(prog), "-o", str(dump), "--", str(binary))
    assert cap.returncode == 0, cap.stderr
    assert "GODI_PLANTED_SECRET" not in cap.stderr + cap.stdout
    out = tmp_path / "s.json"
    dec = godi("decode", "--ir", str(ir), "--program", str(prog), str(dump), "-o", str(out))
    assert dec.returncode == 0, dec.stderr
    snaps = json.loads(out.read_text())
    assert snaps and {s["debugger"]["snapshot"]["probe"]["id"] for s in snaps} == {pid}
