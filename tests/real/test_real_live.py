"""Real programs nobody here wrote, under probes (``make test-real``; skipped unless
``GODI_REAL_TESTS=1``): standard-library test binaries and commands, built with the
oldest and newest Go of the tests, run alone and under ``godi run`` on 5-10 of
their own functions. Asserted: the same exit status and output, every snapshot
valid, no ``missing type information`` nor ``unavailable`` but for the kinds the
signature fuzzer allows (tests/abi_fuzz/compare.py: floats in vector registers)
and what an event the capture budget cut short (which its snapshot says) lacks,
and per probe a spot check of captured values against what the program computes
(Marshal's result is JSON; ParseInt's result is the number its text says...)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gobuild import REPO, go_tool, go_versions
from godi_cli import SNAPSHOT_SCHEMA, godi

from stages.decode import TRUNCATED_MESSAGE

CACHE = REPO / "artifacts" / "real-bins"
FLOATS = {"float32", "float64", "complex64", "complex128"}
LIMITS = {"maxReferenceDepth": 3, "maxCollectionSize": 1000, "maxLength": 1000}

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("GODI_REAL_TESTS") != "1", reason="make test-real (GODI_REAL_TESTS=1)"
    ),
]

Check = Callable[[dict[str, Any], dict[str, Any]], str | None]
"""(arguments, results) of one snapshot -> None, or what is wrong."""


@dataclass
class Case:
    name: str
    build: list[str]  # `go` arguments after the tool, with {out}
    run: list[str]  # the program's arguments
    probes: dict[str, tuple[dict[str, str], Check | None]]
    stdin: str | None = None
    want_hits: set[str] = field(default_factory=set)  # probes that must fire


# ---- reading captured values -------------------------------------------------


def text(v: dict[str, Any] | None) -> str | None:
    """A string's text, None when not fully captured."""
    if not v or "value" not in v or v.get("truncated") or "notCapturedReason" in v:
        return None
    return str(v["value"])


def data(v: dict[str, Any] | None) -> bytes | None:
    """A []byte's bytes, None when nil or not fully captured."""
    if not v or v.get("isNull") or "notCapturedReason" in v:
        return None
    elems = v.get("elements", [])
    if str(len(elems)) != v.get("size"):
        return None
    return bytes(int(e["value"]) for e in elems)


def is_nil(v: dict[str, Any] | None) -> bool:
    return bool(v and v.get("isNull"))


def result(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    r = results.get("@return")
    if r is None:
        return None
    if r.get("type") == "" and "fields" in r:
        return r["fields"].get(name)
    return r if name in ("r0", "@return") else None


# ---- spot checks ----------------------------------------------------------------


def check_marshal(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    out, err = data(result(results, "r0")), result(results, "r1")
    if not is_nil(err) or out is None:
        return None
    try:
        decoded = json.loads(out)
    except ValueError as e:
        return f"Marshal returned {out!r}, not JSON: {e}"
    arg = (args.get("v") or {}).get("fields", {}).get("data", {})
    if arg.get("type") == "string" and text(arg) is not None and decoded != text(arg):
        return f"Marshal({text(arg)!r}) -> {decoded!r}"
    return None


def check_valid(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    raw = data(args.get("data"))
    got = (result(results, "@return") or {}).get("value")
    if raw is None or got is None:
        return None
    try:
        json.loads(raw.decode("utf-8"), parse_constant=_refuse)
        want = "true"
    except (ValueError, UnicodeDecodeError):
        want = "false"
    if got != want and want == "true":  # Python accepts a little more than Go
        return f"Valid({raw!r}) -> {got}"
    return None


def _refuse(name: str) -> Any:
    raise ValueError(name)


def check_html_escape(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    s, got = text(args.get("s")), text(result(results, "@return"))
    if s is None or got is None or "\0" in s:
        return None
    want = html.escape(s, quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")
    return None if got == want else f"HTMLEscapeString({s!r}) -> {got!r}, want {want!r}"


def check_quote_meta(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    s, got = text(args.get("s")), text(result(results, "@return"))
    if s is None or got is None:
        return None
    want = re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", s)
    return None if got == want else f"QuoteMeta({s!r}) -> {got!r}, want {want!r}"


def check_compile(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    expr, r0, err = text(args.get("expr")), result(results, "r0"), result(results, "r1")
    if expr is None or not is_nil(err) or not r0 or is_nil(r0):
        return None
    got = text((r0.get("fields") or {}).get("expr"))
    return None if got in (None, expr) else f"Compile({expr!r}).expr = {got!r}"


def check_parse_int(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    s, base = text(args.get("s")), (args.get("base") or {}).get("value")
    r0, err = result(results, "r0"), result(results, "r1")
    if s is None or base is None or not is_nil(err) or not r0 or "value" not in r0:
        return None
    try:
        want = int(s, int(base))
    except ValueError:
        return None  # Go's base-0 spellings Python does not read
    return None if int(r0["value"]) == want else f"ParseInt({s!r}, {base}) -> {r0['value']}"


def check_format_int(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    i, base = (args.get("i") or {}).get("value"), (args.get("base") or {}).get("value")
    got = text(result(results, "@return"))
    if i is None or base is None or got is None:
        return None
    return None if int(got, int(base)) == int(i) else f"FormatInt({i}, {base}) -> {got!r}"


def check_repeat(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    s, count = text(args.get("s")), (args.get("count") or {}).get("value")
    got = text(result(results, "@return"))
    if s is None or count is None or got is None or int(count) < 0:
        return None
    return None if got == s * int(count) else f"Repeat({s!r}, {count}) -> {got!r}"


def check_bytes_equal(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    a, b = data(args.get("a")), data(args.get("b"))
    got = (result(results, "@return") or {}).get("value")
    if a is None or b is None or got is None:
        return None
    want = "true" if a == b else "false"
    return None if got == want else f"bytes.Equal -> {got}, want {want}"


def check_add_file(args: dict[str, Any], results: dict[str, Any]) -> str | None:
    name, size = text(args.get("filename")), (args.get("size") or {}).get("value")
    if name is None or size is None or not Path(name).is_file():
        return None
    real = Path(name).stat().st_size
    return None if int(size) == real else f"AddFile({name!r}, size={size}), file has {real}"


def m(name: str, type_name: str = "") -> dict[str, str]:
    return {"methodName": name, **({"typeName": type_name} if type_name else {})}


GOFMT_INPUT = REPO / "tests" / "progs" / "abi" / "main.go"

CASES = [
    Case(
        "json",
        ["test", "-c", "-o", "{out}", "encoding/json"],
        ["-test.run", "TestMarshal|TestValid|TestUnmarshal$|TestEncoder"],
        {
            "marshal": (m("encoding/json.Marshal"), check_marshal),
            "valid": (m("encoding/json.Valid"), check_valid),
            "unmarshal": (m("encoding/json.Unmarshal"), None),
            "compact": (m("encoding/json.Compact"), None),
            "encode": (m("Encode", "*encoding/json.Encoder"), None),
        },
        want_hits={"marshal", "valid"},
    ),
    Case(
        "template",
        ["test", "-c", "-o", "{out}", "text/template"],
        ["-test.run", "TestExecute|TestEscap|TestJSEscaping"],
        {
            "html-escape": (m("text/template.HTMLEscapeString"), check_html_escape),
            "js-escape": (m("text/template.JSEscapeString"), None),
            "execute": (m("Execute", "*text/template.Template"), None),
            "parse": (m("Parse", "*text/template.Template"), None),
            "is-true": (m("text/template.IsTrue"), None),
        },
        want_hits={"html-escape", "execute"},
    ),
    Case(
        "regexp",
        ["test", "-c", "-o", "{out}", "regexp"],
        ["-test.run", "TestQuoteMeta|TestGoodCompile|TestMatchFunction|TestFind"],
        {
            "quote-meta": (m("regexp.QuoteMeta"), check_quote_meta),
            "compile": (m("regexp.Compile"), check_compile),
            "match-string": (m("regexp.MatchString"), None),
            "find": (m("Find", "*regexp.Regexp"), None),
            "find-index": (m("FindStringIndex", "*regexp.Regexp"), None),
        },
        want_hits={"quote-meta", "compile"},
    ),
    Case(
        "strconv",
        ["test", "-c", "-o", "{out}", "strconv"],
        ["-test.run", "TestParseInt|TestFormatInt|TestItoa|TestQuote$|TestAtoi"],
        {
            "parse-int": (m("strconv.ParseInt"), check_parse_int),
            "format-int": (m("strconv.FormatInt"), check_format_int),
            "quote": (m("strconv.Quote"), None),
            "atoi": (m("strconv.Atoi"), None),
            "parse-uint": (m("strconv.ParseUint"), None),
        },
        want_hits={"parse-int", "format-int"},
    ),
    Case(
        "strings",
        ["test", "-c", "-o", "{out}", "strings"],
        ["-test.run", "TestRepeat|TestFields$|TestSplit$|TestIndex$"],
        {
            "repeat": (m("strings.Repeat"), check_repeat),
            "fields": (m("strings.Fields"), None),
            "split": (m("strings.Split"), None),
            "index": (m("strings.Index"), None),
            "builder-grow": (m("Grow", "*strings.Builder"), None),
        },
        want_hits={"repeat", "split"},
    ),
    Case(
        "gofmt",
        ["build", "-o", "{out}", "cmd/gofmt"],
        ["-l", "-d", str(GOFMT_INPUT)],
        {
            "add-file": (m("AddFile", "*go/token.FileSet"), check_add_file),
            "bytes-equal": (m("bytes.Equal"), check_bytes_equal),
            "parse-file": (m("go/parser.ParseFile"), None),
            "fprint": (m("Fprint", "*go/printer.Config"), None),
            "unquote": (m("strconv.Unquote"), None),
        },
        want_hits={"add-file", "parse-file"},
    ),
]


def _build(case: Case, go: str) -> Path:
    tool = go_tool(go)
    if not tool.is_file():
        pytest.skip(f"Go {go} missing at {tool}")
    out = CACHE / f"{case.name}-go{go}"
    if not out.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.gettempdir())
        env = {
            **os.environ,
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-trimpath -buildvcs=false",
            "GOCACHE": os.environ.get("GOCACHE", str(tmp / "gocache")),
            "GOPATH": os.environ.get("GOPATH", str(tmp / "gopath")),
        }
        partial = out.with_suffix(".part")
        args = [a.replace("{out}", str(partial)) for a in case.build]
        done = subprocess.run([str(tool), *args], env=env, capture_output=True, text=True, cwd=tmp)
        assert done.returncode == 0, done.stderr
        os.replace(partial, out)
    return out


def _bad_values(value: Any, path: str, out: list[str]) -> None:
    """Values that say ``unavailable`` or ``missing type information`` and are not
    a float (the one kind allowed: vector registers)."""
    if isinstance(value, dict):
        reason = value.get("notCapturedReason")
        if reason in ("unavailable", "missing type information") and not (
            reason == "unavailable" and value.get("type") in FLOATS
        ):
            out.append(f"{path}: {value.get('type')} {reason}")
        for k, v in value.items():
            _bad_values(v, f"{path}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _bad_values(v, f"{path}[{i}]", out)


def _two_versions() -> list[str]:
    versions = go_versions()
    return sorted({versions[0], versions[-1]})


@pytest.mark.parametrize("go", _two_versions())
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_real_program_under_probes(case: Case, go: str, tmp_path: Path) -> None:
    binary = _build(case, go)
    probes = [
        {
            "id": pid,
            "where": where,
            "captureSnapshot": True,
            "capture": LIMITS,
            "sampling": {"snapshotsPerSecond": 200},
        }
        for pid, (where, _) in case.probes.items()
    ]
    probe_file = tmp_path / "probes.json"
    probe_file.write_text(json.dumps(probes))
    prog = tmp_path / binary.name
    shutil.copy2(binary, prog)
    alone = subprocess.run([str(prog), *case.run], capture_output=True, text=True, timeout=600)
    out = REPO / "artifacts" / "real" / f"{case.name}-go{go}"  # kept for a look afterwards
    shutil.rmtree(out, ignore_errors=True)
    under = godi(
        "run", "--probes", str(probe_file), "-o", str(out), "--", str(prog), *case.run, timeout=1800
    )
    assert under.returncode == alone.returncode, under.stderr[-3000:]
    assert under.stdout == alone.stdout
    snapshots = json.loads((out / "snapshots.json").read_text())
    # Copies of a probed function inlined into its callers: where DWARF says a
    # variable (or one of its words) is optimised out there, it is unavailable.
    optimised: set[str] = set()
    for p in json.loads((out / "prog" / "layout.json").read_text())["probes"]:
        for var in p["variables"]:
            pieces = var.get("pieces") or []
            if var.get("reason") or any(x["source"] == "unavailable" for x in pieces):
                role = "entry.arguments" if var["role"] == "argument" else "return.locals"
                optimised.add(f"{p['probe_id']}.{role}.{var['name']}")
    problems: list[str] = []
    hits: dict[str, int] = {}
    for s in snapshots:
        jsonschema.validate(s, SNAPSHOT_SCHEMA)
        snap = s["debugger"]["snapshot"]
        pid = snap["probe"]["id"]
        hits[pid] = hits.get(pid, 0) + 1
        captures = snap["captures"]
        bad: list[str] = []
        _bad_values(captures, pid, bad)
        # An event the capture budget cut short says so (evaluationErrors): what
        # it could not hold is unavailable, and allowed.
        cut = any(e["message"] == TRUNCATED_MESSAGE for e in snap.get("evaluationErrors", []))
        problems += [
            b
            for b in bad
            if not b.endswith(" unavailable") or (b.split(":")[0] not in optimised and not cut)
        ]
        args = captures.get("entry", {}).get("arguments", {})
        results = captures.get("return", {}).get("locals", {})
        check = case.probes[pid][1]
        if check is not None:
            wrong = check(args, results)
            if wrong:
                problems.append(f"{pid}: {wrong}")
    print(f"{case.name} go{go}: {len(snapshots)} snapshots, hits {hits}")
    assert case.want_hits <= set(hits), f"probes that never fired: {case.want_hits - set(hits)}"
    assert not problems, "\n".join(sorted(set(problems))[:40])
