"""The one-line default message."""

from __future__ import annotations

from decode_helpers import (
    T_ARR4,
    T_INT,
    T_MAP,
    T_NODE,
    T_PNODE,
    T_PPPOINT,
    T_SLICE_INT,
    T_STRING,
    T_WIDE,
    make_world,
)

from stages.decode.message import MessageFormatter, call, returns
from stages.decode.values import ValueRenderer
from stages.snapshot import CapturedValue as CV


def _fmt() -> MessageFormatter:
    world = make_world([])
    return MessageFormatter(ValueRenderer(world.program, world.layout))


def _int(n: int) -> CV:
    return CV(type="int", value=str(n))


def test_empty_arguments() -> None:
    assert call("main.f", []) == "main.f()"


def test_results() -> None:
    assert returns([]) == ""
    assert returns(["1"]) == " -> 1"
    assert returns(["q=2", "err=nil"]) == " -> (q=2, err=nil)"


def test_scalars_strings_and_reasons() -> None:
    f = _fmt()
    msg = call(
        "main.f",
        [
            f"{name}={f.summary(tid, v)}"
            for name, tid, v in [
                ("n", T_INT, _int(-1)),
                ("s", T_STRING, CV(type="string", value='a"b\n')),
                ("t", T_STRING, CV(type="string", value="abc", size="9", truncated=True)),
                ("u", T_INT, CV(type="int", notCapturedReason="unavailable")),
                ("m", T_MAP, CV(type="map[string]int", notCapturedReason="unimplemented")),
            ]
        ],
    )
    assert msg == 'main.f(n=-1, s="a\\"b\\n", t="abc"..., u=<unavailable>, m=<unimplemented>)'


def test_struct_with_many_fields() -> None:
    fields = {f"F{i}": CV(type="int8", value=str(i)) for i in range(20)}
    v = CV(type="main.Wide", fields=fields, notCapturedReason="fieldCount")
    assert _fmt().summary(T_WIDE, v) == "{F0: 0, F1: 1, F2: 2, F3: 3, F4: 4, ...}"


def test_collections() -> None:
    f = _fmt()
    four = [CV(type="int32", value=str(i)) for i in range(4)]
    assert f.summary(T_ARR4, CV(type="[4]int32", size="4", elements=four)) == "[0, 1, 2, ...]"
    two = [_int(1), _int(2)]
    assert f.summary(T_SLICE_INT, CV(type="[]int", size="2", elements=two)) == "[1, 2]"
    cut = CV(type="[]int", size="9", elements=two, truncated=True)
    assert f.summary(T_SLICE_INT, cut) == "[1, 2, ...]"
    assert f.summary(T_SLICE_INT, CV(type="[]int", isNull=True)) == "nil"


def test_pointers_and_nesting() -> None:
    f = _fmt()
    depth = CV(type="*main.Node", address="0x30", notCapturedReason="depth")
    third = CV(
        type="*main.Node",
        address="0x30",
        fields={"Val": _int(3), "Name": CV(type="string", value=""), "Next": depth},
    )
    inner = CV(
        type="*main.Node",
        address="0x20",
        fields={"Val": _int(2), "Name": CV(type="string", value=""), "Next": third},
    )
    outer = CV(
        type="*main.Node",
        address="0x10",
        fields={"Val": _int(1), "Name": CV(type="string", value="a"), "Next": inner},
    )
    assert (
        f.summary(T_PNODE, outer) == '&{Val: 1, Name: "a", Next: &{Val: 2, Name: "", Next: &{...}}}'
    )
    node = CV(
        type="main.Node",
        fields={"Val": _int(1), "Name": CV(type="string", value=""), "Next": depth},
    )
    assert f.summary(T_NODE, node) == '{Val: 1, Name: "", Next: <depth>}'


def test_pointer_to_pointer() -> None:
    inner = CV(type="*main.Point", address="0x20", fields={"X": _int(1), "Y": _int(2)})
    v = CV(type="**main.Point", address="0x10", fields={"*": inner})
    assert _fmt().summary(T_PPPOINT, v) == "&&{X: 1, Y: 2}"
