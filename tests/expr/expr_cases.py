"""Hand-built captured values for the expression tests, shaped as decode renders them."""

from __future__ import annotations

from typing import Any

import msgspec

from stages.expr import compile_expression, parse_dsl
from stages.snapshot import CapturedValue as CV
from stages.snapshot import EvaluationError


def num(n: int | float | str, t: str = "int") -> CV:
    return CV(type=t, value=str(n))


def text(s: str) -> CV:
    return CV(type="string", value=s)


def cut(prefix: str, size: int) -> CV:
    """A string captured only in part (maxLength)."""
    return CV(
        type="string", value=prefix, size=str(size), truncated=True, notCapturedReason="length"
    )


def boolean(b: bool) -> CV:
    return CV(type="bool", value="true" if b else "false")


def struct(t: str, **fields: CV) -> CV:
    return CV(type=t, fields=fields)


def ptr(pointee: CV, addr: str = "0xc000010000") -> CV:
    """A pointer with its pointee inlined (or nested under "*" for pointer-like pointees)."""
    if pointee.address is not None or pointee.isNull or pointee.type.startswith(("[]", "map[")):
        return CV(type="*" + pointee.type, address=addr, fields={"*": pointee})
    return msgspec.structs.replace(pointee, type="*" + pointee.type, address=addr)


def nil(t: str) -> CV:
    return CV(type=t, isNull=True)


def slice_(elem_type: str, *elements: CV, size: int | None = None) -> CV:
    n = len(elements) if size is None else size
    cut_short = n > len(elements)
    return CV(
        type=f"[]{elem_type}",
        size=str(n),
        elements=list(elements),
        truncated=True if cut_short else None,
        notCapturedReason="collectionSize" if cut_short else None,
    )


def array(elem_type: str, *elements: CV) -> CV:
    return CV(
        type=f"[{len(elements)}]{elem_type}", size=str(len(elements)), elements=list(elements)
    )


def map_(t: str, entries: list[tuple[CV, CV]], size: int | None = None) -> CV:
    n = len(entries) if size is None else size
    cut_short = n > len(entries)
    return CV(
        type=t,
        size=str(n),
        entries=entries,
        truncated=True if cut_short else None,
        notCapturedReason="collectionSize" if cut_short else None,
    )


def iface(data: CV, t: str = "interface {}") -> CV:
    return CV(type=t, fields={"data": data})


def gone(t: str, reason: str = "depth") -> CV:
    return CV(type=t, notCapturedReason=reason)  # type: ignore[arg-type]


NODE3 = struct("main.Node", Val=num(3), Name=text("third"), Next=nil("*main.Node"))
NODE2 = struct("main.Node", Val=num(2), Name=text("second"), Next=ptr(NODE3, "0xc000030000"))
NODE1 = struct("main.Node", Val=num(1), Name=text("first"), Next=ptr(NODE2, "0xc000020000"))

SCOPE: dict[str, Any] = {
    "i": num(-64),
    "i8": num(-8, "int8"),
    "i16": num(300, "int16"),
    "i32": num(-70000, "int32"),
    "i64": num(-(2**63), "int64"),
    "u": num(7, "uint"),
    "u8": num(255, "uint8"),
    "u16": num(65535, "uint16"),
    "u32": num(4000000000, "uint32"),
    "u64": num(2**64 - 1, "uint64"),
    "up": CV(type="uintptr", value="0x7ffd1234"),
    "f32": num("0.1", "float32"),
    "f64": num("-2.25", "float64"),
    "big": num("1e+21", "float64"),
    "nan": num("NaN", "float64"),
    "inf": num("+Inf", "float64"),
    "c": CV(type="complex128", value="(1+2i)"),
    "t": boolean(True),
    "f": boolean(False),
    "s": text("héllo world"),
    "empty": text(""),
    "long": cut("abcdefgh", 300),
    "node": ptr(NODE1, "0xc000010000"),
    "nilnode": nil("*main.Node"),
    "pp": CV(type="**main.Node", address="0xc000040000", fields={"*": ptr(NODE1)}),
    "nums": slice_("int", num(1), num(2), num(3), num(4)),
    "names": slice_("string", text("ann"), text("bob")),
    "bigs": slice_("int", num(1), num(2), size=1000),
    "nilslice": nil("[]int"),
    "arr": array("int32", num(10, "int32"), num(20, "int32")),
    "m": map_("map[string]int", [(text("a"), num(1)), (text("b"), num(2))]),
    "mi": map_("map[int]string", [(num(1), text("one")), (num(2), text("two"))]),
    "bigmap": map_("map[string]int", [(text("a"), num(1))], size=50),
    "nilmap": nil("map[string]int"),
    "err": iface(ptr(struct("main.MyErr", Msg=text("boom"), Code=num(7))), "error"),
    "nilerr": nil("error"),
    "any5": iface(num(5)),
    "anys": iface(text("x")),
    "deep": gone("*main.Node"),
    "unavail": gone("int", "unavailable"),
    "secret": gone("string", "redactedIdent"),
    "@duration": None,  # replaced per test
}
del SCOPE["@duration"]


def ev(src: str, scope: dict[str, Any] | None = None) -> Any:
    """Evaluate the DSL ``src`` (parsed to its AST) on ``scope`` (SCOPE by default)."""
    return compile_expression(parse_dsl(src), src).evaluate(SCOPE if scope is None else scope)


def cond(src: str, scope: dict[str, Any] | None = None) -> bool | EvaluationError:
    return compile_expression(parse_dsl(src), src).test(SCOPE if scope is None else scope)


def err(src: str, scope: dict[str, Any] | None = None) -> str:
    """The evaluation error message of ``src``; fails if it evaluates."""
    r = ev(src, scope)
    assert isinstance(r, EvaluationError), f"{src} evaluated to {r!r}"
    assert r.expr == src
    return r.message
