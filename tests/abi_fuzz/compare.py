"""The signature fuzzer's comparator: godi's snapshots against the program's own view.

Every value, field, element, entry, length, nil-ness and type name is compared. The
only differences allowed are listed in ``ALLOWED`` below (one place), and each such
value must carry its ``notCapturedReason``: a value godi shows is never wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gen import Func, T

NUM_INT_REGS = 9
NUM_FLOAT_REGS = 15
FLOATS = {"float32", "float64", "complex64", "complex128"}


def float_leaves_only(view: dict[str, Any]) -> bool:
    """Whether every scalar held inline in ``view`` (struct fields, array elements;
    not behind a pointer) is a float or complex, and there is at least one."""
    leaves: list[str] = []

    def walk(v: dict[str, Any]) -> bool:
        if "f" in v:
            return all(walk(x) for x in v["f"].values())
        if v["k"] == "array":
            return all(walk(x) for x in v["e"])
        if "v" in v and v["k"] in FLOATS:
            leaves.append(v["t"])
            return True
        return False

    return walk(view) and bool(leaves)


# ---- ALLOWED: the one list of the differences the oracle accepts ------------------


@dataclass(frozen=True)
class Place:
    """Where a value is: what the allowances below may depend on."""

    in_regs: bool
    """The root variable is in registers at the probe (by the register ABI)."""
    shape: bool
    """The root is a generic function's type-parameter argument."""
    go: tuple[int, int]
    """The Go release the program was built with (major, minor)."""


# (why, the notCapturedReason godi must show, predicate on (oracle view, place)).
# Anything else is a mismatch.
ALLOWED: list[tuple[str, str, Callable[[dict[str, Any], Place], bool]]] = [
    (
        "floats still in vector registers (eBPF cannot read XMM)",
        "unavailable",
        lambda view, place: place.in_regs and float_leaves_only(view),
    ),
    (
        "a type reflect made at run time (its descriptor on the heap): named, value not shown",
        "unimplemented",
        lambda view, place: view.get("rt") is True,
    ),
    (
        "pointer-shaped type parameter (go.shape.*uint8): pointee type only in the dictionary",
        "missing type information",
        lambda view, place: place.shape and view["k"] == "ptr",
    ),
]


def register_assigned(params: list[T]) -> list[bool]:
    """Per value of ``params``, whether the register ABI (abi-internal.md) assigns it
    to registers (else it is on the stack), assigned in order with shared counters."""
    out = []
    ints = floats = 0
    for t in params:
        need = _regs(t)
        if (
            need is not None
            and ints + need[0] <= NUM_INT_REGS
            and floats + need[1] <= NUM_FLOAT_REGS
        ):
            ints += need[0]
            floats += need[1]
            out.append(True)
        else:
            out.append(False)
    return out


def _regs(t: T) -> tuple[int, int] | None:
    """(integer, float) registers ``t`` takes, None when it cannot be in registers."""
    k = t.kind
    if k in FLOATS:
        return (0, 2) if k.startswith("complex") else (0, 1)
    if k in ("string", "iface"):
        return (2, 0)
    if k in ("slice", "mybytes"):
        return (3, 0)
    if k == "empty":
        return (0, 0)
    if k == "array":
        assert t.elem is not None
        if t.length == 0:
            return (0, 0)
        if t.length == 1:
            return _regs(t.elem)
        return None
    if k == "struct":
        i = f = 0
        for _, ft in t.fields:
            r = _regs(ft)
            if r is None:
                return None
            i += r[0]
            f += r[1]
        return (i, f)
    return (1, 0)  # integers, bool, pointers, maps, chans, funcs, unsafe.Pointer


@dataclass
class Mismatch:
    function: str
    call: int
    where: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return (
            f"{self.function} call {self.call} {self.where}: program has {_short(self.expected)}"
            f", godi shows {_short(self.got)}"
        )


def _short(x: Any) -> str:
    import json

    text = json.dumps(x, ensure_ascii=False)
    return text if len(text) < 400 else text[:400] + "..."


NESTED_KINDS = {"ptr", "unsafe.Pointer", "slice", "chan", "func", "interface"}
"""A pointer to a map carries the map's size and entries itself (as Datadog shows it)."""


def _nested_pointee(view: dict[str, Any]) -> bool:
    """godi shows these pointees under fields {"*": ...}, others inline."""
    return view["k"] in NESTED_KINDS


class Comparator:
    def __init__(self, func: Func, call: int, go: tuple[int, int] = (1, 99)) -> None:
        self.go = go
        self.func = func
        self.call = call
        self.mismatches: list[Mismatch] = []
        self.allowed: dict[str, int] = {}
        self.shape_root = False

    def bad(self, where: str, expected: Any, got: Any) -> None:
        self.mismatches.append(Mismatch(self.func.name, self.call, where, expected, got))

    def value(self, where: str, o: dict[str, Any], g: Any, in_regs: bool) -> None:
        if not isinstance(g, dict):
            self.bad(where, o, g)
            return
        reason = g.get("notCapturedReason")
        if reason is not None:
            for why, shown, pred in ALLOWED:
                if reason == shown and pred(o, Place(in_regs, self.shape_root, self.go)):
                    self.allowed[why] = self.allowed.get(why, 0) + 1
                    if g.get("type") != o["t"]:
                        self.bad(where + " type", o["t"], g.get("type"))
                    return
            self.bad(where, o, g)
            return
        if g.get("type") != o["t"]:
            self.bad(where + " type", o["t"], g.get("type"))
            return
        if o.get("nil"):
            if g.get("isNull") is not True:
                self.bad(where + " nil", o, g)
            return
        if g.get("isNull") and not ("p" in o and "address" in g):
            # (a pointer with an address to a nil map: the map's isNull, inlined)
            self.bad(where + " not nil", o, g)
            return
        if "v" in o:
            if g.get("value") != o["v"]:
                self.bad(where, o["v"], g.get("value"))
            return
        if "addr" in o:
            if "address" not in g:
                self.bad(where + " address", o, g)
            return
        if "p" in o:
            pointee = o["p"]
            if _nested_pointee(pointee):
                inner = (g.get("fields") or {}).get("*")
                self.value(where + ".*", pointee, inner, False)
            else:
                inner = {k: v for k, v in g.items() if k != "address"}
                inner["type"] = pointee["t"]
                self.value(where + ".*", pointee, inner, False)
            return
        if "cap" in o:
            if (g.get("len"), g.get("cap")) != (str(o["len"]), str(o["cap"])):
                self.bad(where + " len/cap", (o["len"], o["cap"]), (g.get("len"), g.get("cap")))
            return
        if "e" in o:
            if g.get("size") != str(o["len"]):
                self.bad(where + " size", o["len"], g.get("size"))
                return
            elems = g.get("elements", [])
            if len(elems) != len(o["e"]):
                self.bad(where + " elements", len(o["e"]), len(elems))
                return
            for i, (oe, ge) in enumerate(zip(o["e"], elems, strict=True)):
                self.value(f"{where}[{i}]", oe, ge, in_regs)
            return
        if "f" in o:
            fields = g.get("fields") or {}
            # Blank fields (``_``, ``_#<index>`` in the view) are padding no Go code
            # can read: godi leaves them out, as Datadog shows a struct.
            shown = {k: v for k, v in o["f"].items() if k != "_" and not k.startswith("_#")}
            if set(fields) != set(shown):
                self.bad(where + " field names", sorted(shown), sorted(fields))
                return
            for name, of in shown.items():
                self.value(f"{where}.{name}", of, fields[name], in_regs)
            return
        if "m" in o:
            if g.get("size") != str(o["len"]):
                self.bad(where + " size", o["len"], g.get("size"))
                return
            entries = list(g.get("entries", []))
            if len(entries) != len(o["m"]):
                self.bad(where + " entries", len(o["m"]), len(entries))
                return
            for ok, ov in o["m"]:
                match = None
                for i, (gk, _gv) in enumerate(entries):
                    probe = Comparator(self.func, self.call)
                    probe.value("key", ok, gk, False)
                    if not probe.mismatches:
                        match = i
                        break
                if match is None:
                    self.bad(f"{where}[{ok.get('v', ok)}] key missing", ok, entries)
                    continue
                gk, gv = entries.pop(match)
                self.value(f"{where}[{ok.get('v', '?')}]", ov, gv, False)
            return
        if "d" in o:
            data = (g.get("fields") or {}).get("data")
            self.value(where + ".(data)", o["d"], data, False)
            return
        # A struct view always has "f"; nothing else is left.
        self.bad(where + " (unknown view)", o, g)


def compare_call(
    func: Func,
    call: int,
    oracle: dict[str, Any],
    snapshot: dict[str, Any],
    go: tuple[int, int] = (1, 99),
) -> Comparator:
    """Compare one call: the program's record against godi's snapshot (of a program
    built with Go ``go``)."""
    c = Comparator(func, call, go)
    captures = snapshot["debugger"]["snapshot"]["captures"]
    args = captures.get("entry", {}).get("arguments", {})
    types = [t for _, t in func.params]
    if func.type_param is not None:
        # A generic function's dictionary: a pointer before the arguments.
        regs = register_assigned([T("uintptr", "uintptr"), *types])[1:]
    else:
        regs = register_assigned(types)
    if set(args) != set(oracle["args"]):
        c.bad("argument names", sorted(oracle["args"]), sorted(args))
    for (name, _t), in_regs in zip(func.params, regs, strict=True):
        if name in args:
            c.shape_root = name == func.type_param
            c.value(name, oracle["args"][name], args[name], in_regs)
    c.shape_root = False
    if "evaluationErrors" in snapshot["debugger"]["snapshot"]:
        c.bad("evaluationErrors", None, snapshot["debugger"]["snapshot"]["evaluationErrors"])
    ret = captures.get("return", {}).get("locals", {})
    results = oracle["results"]
    rregs = register_assigned([t for _, t in func.results])
    if len(results) == 1:
        (o,) = results.values()
        c.value("@return", o, ret.get("@return"), rregs[0])
    elif results:
        shown = (ret.get("@return") or {}).get("fields") or {}
        if set(shown) != set(results):
            c.bad("result names", sorted(results), sorted(shown))
        for (name, _t), in_regs in zip(func.results, rregs, strict=True):
            if name in shown:
                c.value(name, results[name], shown[name], in_regs)
    elif ret:
        c.bad("results", {}, ret)
    return c
