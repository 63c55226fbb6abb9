"""Conditions BPF decides: which probes get one, what it does to sampling, and that
the generated C computes what decode's reference (``run_bpf_program``) computes."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stages.artifacts import header
from stages.codegen import generate_c
from stages.codegen.conditions import condition_c
from stages.expr import parse_dsl, run_bpf_program
from stages.expr.bpf import bpf_program
from stages.ir import (
    BaseType,
    BinaryInfo,
    CfaPiece,
    Function,
    LocationRange,
    PointerType,
    Program,
    RegisterPiece,
    SliceType,
    StringType,
    Variable,
)
from stages.probefile import parse_probes
from stages.sampling import CONDITIONAL_CAP_PER_SECOND

INT, BOOL, I8, U16, STR, PTR, INTS = 1, 2, 3, 4, 5, 6, 7
TYPES = [
    BaseType(id=INT, name="int", size=8, go_kind="int"),
    BaseType(id=BOOL, name="bool", size=1, go_kind="bool"),
    BaseType(id=I8, name="int8", size=1, go_kind="int8"),
    BaseType(id=U16, name="uint16", size=2, go_kind="uint16"),
    StringType(id=STR, name="string", size=16),
    PointerType(id=PTR, name="*int", size=8, elem=INT),
    SliceType(id=INTS, name="[]int", size=24, elem=INT),
]


def _everywhere(*pieces: RegisterPiece | CfaPiece) -> list[LocationRange]:
    return [LocationRange(low_pc=0x1000, high_pc=0x1100, pieces=list(pieces))]


def _word(register: int) -> RegisterPiece:
    return RegisterPiece(register=register, size=8)


def _param(name: str, type_id: int, *pieces: RegisterPiece | CfaPiece) -> Variable:
    return Variable(name=name, type=type_id, role="param", locations=_everywhere(*pieces))


PROGRAM = Program(
    header=header("godi.ir", 1, {"binary": "b1"}),
    binary=BinaryInfo(
        build_id="b1", go_version="go1.27.3", arch="amd64", dwarf_version=5, goid_offset=152
    ),
    functions=[
        Function(
            name="main.check",
            low_pc=0x1000,
            high_pc=0x1100,
            file="main.go",
            line=7,
            entry_pc=0x1010,
            entry_cfa_offset=0x28,
            frame_pointer=True,
            variables=[
                _param("a", INT, RegisterPiece(register=0)),
                _param("b", BOOL, RegisterPiece(register=3, size=1)),
                _param(
                    "s", STR, RegisterPiece(register=2, size=8), RegisterPiece(register=5, size=8)
                ),
                _param("p", PTR, RegisterPiece(register=4)),
                _param("xs", INTS, CfaPiece(offset=0, size=24)),  # memory: may fail
                _param("i8", I8, RegisterPiece(register=8, size=1)),
                _param("u", U16, RegisterPiece(register=9, size=2)),
            ],
        )
    ],
    types=TYPES,
)


def _generate(when: str | None, **extra: Any) -> Any:
    probe: dict[str, Any] = {"id": "c", "where": {"methodName": "main.check"}, **extra}
    if when is not None:
        probe["when"] = {"dsl": when}
    return generate_c(PROGRAM, parse_probes([probe]), ir_hash="h")


@pytest.mark.parametrize("when", ["a > 5 && !b", "len(s) > 3", "p == null", "i8 < -3 || u > 9"])
def test_conditions_on_registers_are_decided_in_bpf(when: str) -> None:
    g = _generate(when, captureSnapshot=True)
    (probe,) = g.layout.probes
    assert probe.decided
    assert "return (((" in g.c_source and "GODI_ROOT_LOAD(s, " in g.c_source
    # Sampled after the condition: at the probe's own rate, not the cap that lets
    # hits through for decode to filter.
    (rate,) = g.layout.rates
    assert rate.per_second == 1.0


@pytest.mark.parametrize("when", ["len(xs) > 0", 's == "x"', "@duration > 1", "a > 1.5", "a"])
def test_other_conditions_are_left_to_decode(when: str) -> None:
    g = _generate(when, captureSnapshot=True)
    (probe,) = g.layout.probes
    assert not probe.decided
    assert "\treturn 1;\n}" in g.c_source
    assert g.layout.rates[0].per_second == CONDITIONAL_CAP_PER_SECOND


def test_dry_run_says_which_conditions_bpf_decides(tmp_path: Path) -> None:
    from stages.artifacts import dump_generated
    from stages.capture import describe_attachments

    for i, (when, said) in enumerate((("a > 5", True), ('s == "x"', False))):
        g = _generate(when, captureSnapshot=True)
        dump_generated(tmp_path / str(i), g.c_source, g.layout)
        (line,) = describe_attachments(str(tmp_path / str(i)), "./check")
        assert line.startswith("uprobe ./check:0x1010  main.check (entry)  probe c")
        assert line.endswith(", condition decided in BPF") is said


def test_no_condition_no_decision() -> None:
    g = _generate(None)
    assert not g.layout.probes[0].decided
    assert "\treturn 1;\n}" in g.c_source


# -- the generated C against the reference evaluator --------------------------------

_VARIABLES = {
    "a": ("int", 0),
    "b": ("bool", 8),
    "i8": ("int8", 16),
    "u": ("uint16", 24),
    "p": ("pointer", 32),
    "s": ("string", 40),
}
_CONDITIONS = [
    "a > 5 && !b",
    "a <= -2 || b == true",
    "i8 < -3 || u > 9",
    "i8 == a",
    "u != 65535",
    "p == null && len(s) >= 2",
    "!(p != null) || a == 0",
]
_VALUES = {
    "a": [0, 5, 6, -2, -(2**63), 2**63 - 1],
    "b": [0, 1, 0xFE],
    "i8": [-128, -4, -3, 0, 127],
    "u": [0, 9, 10, 65535],
    "p": [0, 0x7FFF0000],
    "s": [0, 1, 2, 300],
}

_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef signed char __s8; typedef unsigned char __u8; typedef short __s16;
typedef unsigned short __u16; typedef int __s32; typedef unsigned int __u32;
typedef long long __s64; typedef unsigned long long __u64;
struct godi_event { char header[64]; };
struct godi_scratch { unsigned char buf[256]; };
#define GODI_ROOT_LOAD(s, off, type) \
	({ type __v; memcpy(&__v, &(s)->buf[sizeof(struct godi_event) + (off)], sizeof(__v)); __v; })
int main(void)
{
	/* each line: condition number, then a b i8 u p len(s) */
	const int offsets[] = {0, 8, 16, 24, 32, 48};
	const int sizes[] = {8, 1, 1, 2, 8, 8};
	int which;
	unsigned long long v[6];
	const char *format = "%d %llu %llu %llu %llu %llu %llu";
	while (scanf(format, &which, v, v + 1, v + 2, v + 3, v + 4, v + 5) == 7) {
		struct godi_scratch scratch, *s = &scratch;
		memset(&scratch, 0, sizeof(scratch));
		unsigned char *root = &scratch.buf[sizeof(struct godi_event)];
		for (int i = 0; i < 6; i++)
			memcpy(root + offsets[i], &v[i], sizes[i]);
		int met = -1;
		switch (which) {
CASES
		}
		printf("%d\n", met);
	}
	return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_generated_c_agrees_with_the_reference(tmp_path: Path) -> None:
    cases = []
    for i, dsl in enumerate(_CONDITIONS):
        expr = condition_c(parse_dsl(dsl), _VARIABLES)
        assert expr is not None, dsl
        cases.append(f"\t\tcase {i}: met = ({expr}) ? 1 : 0; break;")
    source = tmp_path / "h.c"
    source.write_text(_HARNESS.replace("CASES", "\n".join(cases)))
    exe = tmp_path / "h"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(source)], check=True)
    kinds = {n: k for n, (k, _) in _VARIABLES.items()}
    lines, expected = [], []
    for i, dsl in enumerate(_CONDITIONS):
        program = bpf_program(parse_dsl(dsl), kinds)
        for a, b, i8, u, p, n in itertools.product(*_VALUES.values()):
            words = {"a": a, "b": b, "i8": i8 & 0xFF, "u": u, "p": p, "s": 0}
            expected.append(str(int(run_bpf_program(program, words, {"s": n}))))
            lines.append(" ".join(str(x & (2**64 - 1)) for x in (i, a, b, i8, u, p, n)))
    out = subprocess.run(
        [str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True
    )
    got = out.stdout.split()
    assert len(got) == len(expected)
    wrong = [(lines[k], got[k]) for k in range(len(got)) if got[k] != expected[k]]
    assert not wrong, wrong[:5]
