"""Bad numbers and duplicate ids in a probe file: one line naming the probe and
the field, the other probes still run, exit 2 only when none is left, and never
a traceback (issue 15: integral floats used to pass the schema and die in msgspec).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.errors import ProbeFileError
from stages.probefile import _accepted, _validator, load_probes, parse_probes

EXAMPLE = REPO / "tests" / "progs" / "example"
GOOD = {"id": "good", "where": {"methodName": "main.greet"}, "captureSnapshot": True}


def _probe(pid: str, **fields: Any) -> dict[str, Any]:
    return {"id": pid, "where": {"methodName": "main.greet"}, **fields}


BAD = [
    (_probe("v", version=1.0), "$[0].version: 1.0 is not an integer"),
    (_probe("v", version=-1), "$[0].version: -1 is less than the minimum of 0"),
    (_probe("d", capture={"maxReferenceDepth": 3.0}), "$[0].capture.maxReferenceDepth: 3.0 is not"),
    (_probe("d", capture={"maxReferenceDepth": 1e308}), "$[0].capture.maxReferenceDepth: 1e+308"),
    (_probe("d", capture={"maxReferenceDepth": -1}), "$[0].capture.maxReferenceDepth: -1 is less"),
    (_probe("n", capture={"maxLength": 10**9}), "$[0].capture.maxLength: 1000000000 is greater"),
    (
        _probe("n", capture={"maxCollectionSize": 2**64 + 1}),
        "$[0].capture.maxCollectionSize: 18446744073709551617 is greater",
    ),
    (_probe("n", capture={"maxFieldCount": -1}), "$[0].capture.maxFieldCount: -1 is less"),
    (_probe("r", sampling={"snapshotsPerSecond": -1}), "$[0].sampling.snapshotsPerSecond: -1"),
    (_probe("r", sampling={"snapshotsPerSecond": 1e300}), "$[0].sampling.snapshotsPerSecond: 1e"),
    (
        _probe("r", sampling={"snapshotsPerSecond": float("nan")}),
        "$[0].sampling.snapshotsPerSecond: not a finite",
    ),
]


@pytest.mark.parametrize(("probe", "message"), BAD)
def test_a_bad_number_is_that_probe_s_issue(probe: dict[str, Any], message: str) -> None:
    got = parse_probes([probe, GOOD])
    assert [p.id for p in got.probes] == ["good"]
    [issue] = got.issues
    assert (issue.probe_id, issue.kind) == (probe["id"], "invalid_probe")
    assert issue.message.startswith(message), issue.message
    with pytest.raises(ProbeFileError, match=f"probe {probe['id']}: "):
        parse_probes([probe])


def test_limits_at_their_bounds_are_accepted() -> None:
    capture = {"maxReferenceDepth": 64, "maxLength": 0, "maxCollectionSize": 1 << 20}
    got = parse_probes([_probe("b", capture=capture, version=2**63 - 1)])
    assert got.issues == [] and got.probes[0].limits.max_reference_depth == 64


def test_duplicate_ids_at_the_same_version_are_refused() -> None:
    got = parse_probes(
        [
            _probe("twice", version=2),
            _probe("twice", version=2, captureSnapshot=True),
            _probe("older", version=1),
            _probe("older", version=3),
            _probe("older", version=1),
            GOOD,
        ]
    )
    assert [(p.id, p.version) for p in got.probes] == [("good", 0), ("older", 3)]
    [issue] = got.issues
    assert issue.probe_id == "twice"
    assert issue.message.startswith("$[0].id and $[1].id: 2 definitions of 'twice'")


def test_nan_is_not_json_and_deep_nesting_is_one_error(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text('[{"id": "x", "where": {"methodName": "a"}, "version": NaN}]')
    with pytest.raises(ProbeFileError, match="NaN is not a JSON number"):
        load_probes(f)
    f.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ProbeFileError, match="nested too deeply"):
        load_probes(f)


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr
    return [x for x in result.stderr.splitlines() if x.strip()]


def test_the_cli_reports_each_bad_probe_in_one_line(tmp_path: Path) -> None:
    binary = build_go(EXAMPLE, go_versions()[-1])
    ir = tmp_path / "ir.json"
    assert godi("irgen", str(binary), "-o", str(ir)).returncode == 0
    bad = [p for p, _ in BAD[:-1]]  # NaN is not JSON: the file would be refused whole
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([*bad, GOOD]))
    gen = godi("codegen", "--ir", str(ir), "--probes", str(probes), "-o", str(tmp_path / "p"))
    assert gen.returncode == 0, gen.stderr
    lines = _lines(gen)
    assert len(lines) == len(bad), lines
    for line, (probe, message) in zip(lines, BAD, strict=False):
        assert line == line.strip() and "\n" not in line
        assert line.startswith(f"godi: probe {probe['id']}: invalid_probe: $["), line
        assert message.split(": ", 1)[1] in line, (line, message)
    layout = json.loads((tmp_path / "p" / "layout.json").read_text())
    assert {p["probe_id"] for p in layout["probes"]} == {"good"}
    # No valid probe at all: one line, exit 2.
    probes.write_text(json.dumps(bad))
    gen = godi("codegen", "--ir", str(ir), "--probes", str(probes), "-o", str(tmp_path / "q"))
    assert gen.returncode == 2
    [line] = _lines(gen)
    assert line.startswith("godi: error: ") and "no valid probe: probe v: $[0].version" in line


# Values a probe field may be given in a JSON or YAML file, right or wrong.
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.sampled_from([0, 1, 64, 65, 1 << 20, (1 << 20) + 1, (1 << 63) - 1, 1 << 63])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, 1.0, 3.0, -1.0, 1e308, 0.5])
    | st.text(max_size=8)
    | st.sampled_from(["LOG_PROBE", "METRIC_PROBE", "ENTRY", "EXIT", "DEFAULT", "x", "1"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["dsl", "json", "str", "name", "expr", "maxLength", "zz"])
            | st.text(max_size=4),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)
_FULL = {
    "id": "p",
    "version": 2,
    "type": "LOG_PROBE",
    "language": "go",
    "where": {"methodName": "main.f", "typeName": "T", "sourceFile": "a.go", "lines": ["3"]},
    "captureSnapshot": True,
    "capture": {"maxReferenceDepth": 3, "maxCollectionSize": 1, "maxLength": 2, "maxFieldCount": 4},
    "sampling": {"snapshotsPerSecond": 1.5},
    "evaluateAt": "EXIT",
    "when": {"dsl": "x > 1", "json": {"gt": [{"ref": "x"}, 1]}},
    "template": "t",
    "segments": [{"str": "a"}, {"dsl": "x", "json": {"ref": "x"}}],
    "captureExpressions": [{"name": "c", "expr": {"dsl": "x", "json": {"ref": "x"}}}],
    "tags": ["a:b"],
}


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for j, v in enumerate(value):
            out += _paths(v, (*at, j))
    return out


@settings(max_examples=3000, deadline=None)
@given(data=st.data())
def test_what_msgspec_accepts_the_schema_does(data: st.DataObject) -> None:
    """parse_probes checks the JSON schema only for a definition msgspec rejects
    (jsonschema is not imported otherwise): that is sound only if every definition
    msgspec accepts (with finite numbers) is schema-valid too."""
    item: Any = json.loads(json.dumps(_FULL))
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_paths(item)))
        action = data.draw(st.sampled_from(["set", "delete", "add"]))
        if not path:
            continue
        *head, last = path
        parent = item
        for key in head:
            parent = parent[key]
        if action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=6))] = data.draw(_VALUES)
        else:
            parent[last] = data.draw(_VALUES)
    accepted = _accepted(item)
    errors = list(_validator().iter_errors(item))
    if accepted is not None:
        assert errors == [], (item, [e.message for e in errors])
    # The schema-first check's result: this probe kept, or refused with a reason.
    try:
        got = parse_probes([item])
    except ProbeFileError:
        assert accepted is None
    else:
        assert got.probes == [accepted] if accepted is not None else not errors
