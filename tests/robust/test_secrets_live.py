"""Secrets never reach the raw dump (issue 15, item 4).

tests/progs/secrets plants secrets in every kind of place a probe captures: an
argument, a struct field, map values under redacted keys (in a map argument, a
map field, a map behind an interface, a map in a slice element, an integer
value), a slice element's field, a return value and a local; and inline, in the
bytes of a struct copied whole (tests/progs/secrets/vault.go: an int, an array, a
uint64 and a struct under redacted field names, a value of a redacted type), and
values of a redacted type (an argument, slice elements), as an
argument by value from registers and from the stack, behind a pointer, as slice
and array elements, in interfaces, in a map's buckets, as return values and
locals; and a slice of 2,560 redacted ranges, whose zeroing outruns the BPF walker
when its steps are cut (fault injection): left out of the event, never sent half
zeroed. The dump's bytes must hold none of them; the snapshots show each as
``redactedIdent`` (``redactedType``) and the plain values next to them as the
program printed them. Dumps, IRs (and the IR
cache) and snapshots are created mode 0600.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions

pytestmark = pytest.mark.live

PROG = REPO / "tests" / "progs" / "secrets"
PIN = 0x5EC7E7_0BADC0DE
"""The integer planted under the map key "pin" (main.go)."""
SECRET_TAG = struct.pack("<I", 0x5EC7E7ED)
"""The top half of every secret word vault.go plants inline (little-endian)."""
PLAIN_TAG = 0x0B5E4BAB << 32
"""The top half of the plain words beside them: ``PLAIN_TAG | n`` for vault n."""


def _versions() -> list[str]:
    versions = go_versions()
    return sorted({versions[0], versions[-1]})  # bucket maps and swiss tables


def _godi_run(binary: Path, out: Path, **extra: str) -> None:
    env = {**os.environ, "GODI_CACHE_DIR": str(out / "cache"), **extra}
    for name in list(env):
        if name.startswith("DD_DYNAMIC_INSTRUMENTATION_"):
            del env[name]  # the default list only
    env["DD_DYNAMIC_INSTRUMENTATION_REDACTED_TYPES"] = "main.Card"
    env["DD_DYNAMIC_INSTRUMENTATION_REDACTED_IDENTIFIERS"] = "hush"  # vault.go's Pair
    done = subprocess.run(
        [
            *("godi", "run", "--probes", str(PROG / "probes.json")),
            *("-o", str(out / "run"), "--", str(binary)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    # What the program says it did: the captures below are of these calls.
    assert "login 29\nbatch 2\nmint 17 17\nkeep 35\n" in done.stdout, done.stdout
    assert "unlock true\nforge 11\nhold 13 13\nuse true\nhush 40\n" in done.stdout


@pytest.fixture(scope="module", params=_versions())
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(f"secrets-{request.param}")
    _godi_run(build_go(PROG, request.param), out)
    return out


@pytest.fixture(scope="module", params=_versions())
def cut(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, the walker cut after 1,000 steps (fault injection): hush's slice
    needs 2,560 steps of zeroing (40 elements of 64 redacted ranges)."""
    out = tmp_path_factory.mktemp(f"secrets-cut-{request.param}")
    _godi_run(build_go(PROG, request.param), out, GODI_FAULT_WALK_STEPS="1000")
    return out


def _snapshot(out: Path, probe: str) -> dict[str, Any]:
    snaps = json.loads((out / "run" / "snapshots.json").read_text())
    (one,) = [s for s in snaps if s["debugger"]["snapshot"]["probe"]["id"] == probe]
    captures: dict[str, Any] = one["debugger"]["snapshot"]["captures"]
    return captures


def _entries(value: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A map's entries by key; each key shown whole, without the key guard's mark
    (KEY_REDACTED) in its size."""
    for k, _ in value["entries"]:
        assert k.keys() == {"type", "value"}, k
    return {k["value"]: v for k, v in value["entries"]}


REDACTED = {"notCapturedReason": "redactedIdent"}


def test_no_secret_in_the_dump(run: Path) -> None:
    dump = (run / "run" / "events.dump").read_bytes()
    assert b"SECRET" not in dump
    assert struct.pack("<Q", PIN) not in dump
    # The capture did copy the plain values beside them.
    assert b"plain-bob" in dump and b"text/plain" in dump and b"fine" in dump


def test_no_inline_secret_in_the_dump(run: Path) -> None:
    """Secrets inline in copied structs are zeroed before the record leaves BPF;
    the plain words beside them were copied (vaults 1 to 11 and 13, vault.go)."""
    dump = (run / "run" / "events.dump").read_bytes()
    assert SECRET_TAG not in dump
    for n in (*range(1, 12), 13):
        assert struct.pack("<Q", PLAIN_TAG | n) in dump, n


def test_a_block_with_thousands_of_redacted_ranges_is_zeroed_whole(run: Path) -> None:
    """hush's slice: 40 elements of 64 pairs, each pair's Hush redacted (2,560
    ranges zeroed in BPF), each Ok shown."""
    snaps = json.loads((run / "run" / "snapshots.json").read_text())
    (one,) = [s for s in snaps if s["debugger"]["snapshot"]["probe"]["id"] == "hush"]
    assert "evaluationErrors" not in one["debugger"]["snapshot"]
    all_ = one["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["all"]
    assert all_["size"] == "40"
    assert len(all_["elements"]) == 40
    for e in all_["elements"]:
        pairs = e["fields"]["Pairs"]["elements"]
        assert len(pairs) == 64
        for p in pairs:
            assert p["fields"]["Hush"] == {"type": "uint64", **REDACTED}
            assert p["fields"]["Ok"] == {"type": "uint64", "value": "1"}


def test_a_block_not_all_zeroed_is_left_out(cut: Path) -> None:
    """With fewer walker steps than hush's slice needs to zero, its block is left
    out of the event (truncated), never sent with secrets in it."""
    dump = (cut / "run" / "events.dump").read_bytes()
    assert SECRET_TAG not in dump
    assert struct.pack("<Q", PIN) not in dump
    snaps = json.loads((cut / "run" / "snapshots.json").read_text())
    (one,) = [s for s in snaps if s["debugger"]["snapshot"]["probe"]["id"] == "hush"]
    all_ = one["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["all"]
    assert all_["size"] == "40"
    assert "elements" not in all_ or not all_["elements"], all_
    assert one["debugger"]["snapshot"]["evaluationErrors"]


def _vault(value: dict[str, Any], n: int) -> None:
    """``value`` shows vault ``n`` (vault.go) with its secrets redacted."""
    fields = value["fields"]
    assert fields["Owner"]["value"] == f"vault-owner-{n}"
    assert fields["Count"]["value"] == str(PLAIN_TAG | n)
    for name, type_ in (
        ("PIN", "int"),
        ("Password", "[16]uint8"),
        ("apiKey", "uint64"),
        ("Credentials", "main.Inner"),
    ):
        assert fields[name] == {"type": type_, **REDACTED}, name
    assert fields["Card"] == {"type": "main.Card", "notCapturedReason": "redactedType"}


def _badge(value: dict[str, Any], n: int) -> None:
    fields = value["fields"]
    assert fields["Owner"]["value"] == "badge-owner"
    assert fields["Count"]["value"] == str(PLAIN_TAG | n)
    assert fields["Pin"] == {"type": "int", **REDACTED}


def test_snapshots_show_inline_secrets_redacted(run: Path) -> None:
    unlock = _snapshot(run, "unlock")["entry"]["arguments"]
    _badge(unlock["b"], 1)
    _vault(unlock["v"], 1)
    _vault(unlock["p"], 2)
    for value, n in zip(unlock["vs"]["elements"], (3, 4), strict=True):
        _vault(value, n)
    for value, n in zip(unlock["box"]["fields"]["Items"]["elements"], (5, 6), strict=True):
        _vault(value, n)
    _vault(unlock["ifv"]["fields"]["data"], 7)
    ifp = unlock["ifp"]["fields"]["data"]["fields"]["Items"]["elements"]
    for value, n in zip(ifp, (8, 9), strict=True):
        _vault(value, n)
    _vault(_entries(unlock["m"])["a"], 10)
    assert unlock["card"] == {"type": "main.Card", "notCapturedReason": "redactedType"}
    (card,) = unlock["cards"]["elements"]
    assert card == {"type": "main.Card", "notCapturedReason": "redactedType"}
    _vault(_snapshot(run, "forge")["return"]["locals"]["@return"], 11)
    _badge(_snapshot(run, "badge")["return"]["locals"]["@return"], 1)  # the first call
    (line,) = _snapshot(run, "hold")["lines"].values()
    _vault(line["locals"]["v"], 13)  # from the stack (b has no location there)


def test_decode_elsewhere_keeps_them_redacted(run: Path) -> None:
    """Decoded again without the DD_DYNAMIC_INSTRUMENTATION_* variables, what the
    capture zeroed stays redacted (layout.json carries its policy): never zeros
    shown as values."""
    out = run / "again.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DD_DYNAMIC_INSTRUMENTATION_")}
    env["DD_DYNAMIC_INSTRUMENTATION_REDACTION_EXCLUDED_IDENTIFIERS"] = "pin,password,apikey"
    done = subprocess.run(
        [
            *("godi", "decode", "--ir", str(run / "run" / "ir.json")),
            *("--program", str(run / "run" / "prog"), str(run / "run" / "events.dump")),
            *("-o", str(out)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (unlock,) = [
        s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
        for s in json.loads(out.read_text())
        if s["debugger"]["snapshot"]["probe"]["id"] == "unlock"
    ]
    _vault(unlock["v"], 1)
    assert unlock["card"] == {"type": "main.Card", "notCapturedReason": "redactedType"}


def test_snapshots_show_them_redacted(run: Path) -> None:
    login = _snapshot(run, "login")["entry"]["arguments"]
    assert login["password"] == {"type": "string", **REDACTED}
    acct = login["acct"]["fields"]
    assert acct["User"]["value"] == "bob"
    assert acct["Password"] == {"type": "string", **REDACTED}
    assert _entries(acct["Headers"]) == {
        "Authorization": {"type": "string", **REDACTED},
        "Accept": {"type": "string", "value": "text/plain"},
    }
    headers = _entries(login["headers"])
    for key in ("Authorization", "x-api-key", "API_KEY", "password", "X-Api-\u212aey"):
        assert headers[key] == {"type": "string", **REDACTED}, key
    assert headers["user"] == {"type": "string", "value": "plain-bob"}
    assert _entries(login["pins"]) == {
        "pin": {"type": "int", **REDACTED},
        "count": {"type": "int", "value": "7"},
    }
    extra = _entries(login["extra"]["fields"]["data"])
    assert extra == {
        "secret": {"type": "string", **REDACTED},
        "ok": {"type": "string", "value": "fine"},
    }

    batch = _snapshot(run, "batch")["entry"]["arguments"]
    (account,) = batch["all"]["elements"]
    assert account["fields"]["User"]["value"] == "eve"
    assert account["fields"]["Password"] == {"type": "string", **REDACTED}
    (m,) = batch["maps"]["elements"]
    assert _entries(m) == {
        "Token": {"type": "string", **REDACTED},
        "name": {"type": "string", "value": "x"},
    }

    mint = _snapshot(run, "mint")["return"]["locals"]["@return"]["fields"]
    assert mint["token"] == {"type": "string", **REDACTED}
    assert mint["n"]["value"] == "17"

    (line,) = _snapshot(run, "keep")["lines"].values()
    assert line["locals"]["apiKey"] == {"type": "string", **REDACTED}


def test_files_are_private(run: Path) -> None:
    for path in (
        run / "run" / "events.dump",
        run / "run" / "ir.json",
        run / "run" / "snapshots.json",
        *(run / "cache").rglob("*.json"),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert list((run / "cache").rglob("*.json")), "the IR cache was not used"
