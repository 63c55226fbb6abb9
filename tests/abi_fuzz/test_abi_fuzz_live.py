"""The signature fuzzer on a fixed seed (part of ``make test``): generated functions
with random signatures, every value of every call compared with what the program
itself recorded. Any seed and count: ``make fuzz-abi SEED=.. N=..``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from gobuild import go_versions

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import ALLOWED, compare_call, register_assigned
from gen import T, make_func
from run import run_one

SEED = 1
N = 250


def _two_versions() -> list[str]:
    versions = go_versions()
    return sorted({versions[0], versions[-1]})


@pytest.mark.live
@pytest.mark.parametrize("go", _two_versions())
def test_fixed_seed_every_value_matches(go: str, tmp_path: Path) -> None:
    outcome = run_one(SEED, N, go, tmp_path)
    report = "\n".join(outcome.problems + outcome.mismatches + outcome.failed_functions)
    assert outcome.ok, report
    assert outcome.functions == N
    assert outcome.calls == 2 * N  # every call of every function had its snapshot
    assert outcome.values > 20 * N
    print(f"go{go}: {outcome.functions} functions, {outcome.calls} calls, {outcome.values} values")


def _snapshot(args: dict[str, object], ret: dict[str, object] | None = None) -> dict[str, object]:
    captures: dict[str, object] = {"entry": {"arguments": args}}
    if ret is not None:
        captures["return"] = {"locals": ret}
    return {"debugger": {"snapshot": {"captures": captures}}}


def _int_func() -> tuple[object, dict[str, object]]:
    func = make_func(SEED, 0)
    func.params = [("a", T("int", "int")), ("f", T("float64", "float64"))]
    func.results = []
    record = {
        "args": {
            "a": {"t": "int", "k": "int", "v": "7"},
            "f": {"t": "float64", "k": "float64", "v": "0.5"},
        },
        "results": {},
    }
    return func, record


def test_comparator_catches_a_wrong_value_and_a_reason_not_allowed() -> None:
    """The oracle can fail: a wrong integer, a float said unavailable while on the
    stack, an integer said unavailable (no allowance covers it)."""
    func, record = _int_func()
    good = _snapshot(
        {
            "a": {"type": "int", "value": "7"},
            "f": {"type": "float64", "notCapturedReason": "unavailable"},
        }
    )
    c = compare_call(func, 0, record, good)  # type: ignore[arg-type]
    assert not c.mismatches and c.allowed == {ALLOWED[0][0]: 1}
    wrong = _snapshot(
        {
            "a": {"type": "int", "value": "8"},
            "f": {"type": "float64", "value": "0.5"},
        }
    )
    assert [m.where for m in compare_call(func, 0, record, wrong).mismatches] == ["a"]  # type: ignore[arg-type]
    hidden = _snapshot(
        {
            "a": {"type": "int", "notCapturedReason": "unavailable"},
            "f": {"type": "float64", "value": "0.5"},
        }
    )
    assert [m.where for m in compare_call(func, 0, record, hidden).mismatches] == ["a"]  # type: ignore[arg-type]


def test_register_assignment_follows_the_abi() -> None:
    """Nine integer registers, fifteen float ones, arrays longer than 1 on the stack,
    a failed assignment leaving the registers to the next argument."""
    ints = [T("int", "int")] * 10
    assert register_assigned(ints) == [True] * 9 + [False]
    floats = [T("float64", "float64")] * 16
    assert register_assigned(floats) == [True] * 15 + [False]
    arr = T("[3]int", "array", elem=T("int", "int"), length=3)
    assert register_assigned([arr, T("int", "int")]) == [False, True]
    s = T("string", "string")
    assert register_assigned([T("int", "int")] * 8 + [s, T("int", "int")]) == [True] * 8 + [
        False,
        True,
    ]
