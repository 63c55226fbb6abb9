"""The signature fuzzer's generator: seeded Go programs of functions with random
parameter and result lists (the idea of golang.org/x/tools/cmd/signature-fuzzer).

Function ``i`` of seed ``s`` depends on ``(s, i)`` only, so any one of them can be
written alone (the one-function reproducer of a mismatch). Each function is called
twice from ``main``; the caller records its arguments before the call and its results
after (``record`` in view.go.txt: the program's own view, made with reflect) to the
file named by ``$ABI_FUZZ_OUT``, one JSON line per call.

Types cover every scalar width, floats, complex, strings, slices, arrays of length
0/1/3/large, structs (nested, empty, blank ``_`` fields, padding), pointers, maps,
channels, funcs, interfaces (empty and not, nil and set, zero-size dynamic values),
named and generic types. Functions are plain, generic, or methods with value and
pointer receivers; results named or not; bodies with ``defer`` and ``recover``;
some lists long enough to exhaust the 9 integer and 15 float registers.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

VIEW_GO = (Path(__file__).parent / "view.go.txt").read_text()

INT_KINDS = {
    "int": (-(2**63), 2**63 - 1),
    "int8": (-128, 127),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint": (0, 2**64 - 1),
    "uint8": (0, 255),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "uintptr": (0, 2**64 - 1),
}
FLOAT_KINDS = ("float32", "float64")
COMPLEX_KINDS = ("complex64", "complex128")

PRELUDE = """
type MyInt int
type FnInt = func(int) int
type FnNop = func()
type MyStr string
type MyBytes []byte
type MyMap map[string]int
type Empty struct{}
type Box[T any] struct {
	V T
	N int8
}
type Pair[K comparable, V any] struct {
	Key K
	Val V
}
type Shaper interface{ Area() int }
type Sq struct{ S int16 }

func (s Sq) Area() int { return int(s.S) * int(s.S) }

type Circ struct {
	R    int8
	Name string
}

func (c *Circ) Area() int { return 3 * int(c.R) * int(c.R) }
func (Empty) Area() int   { return 0 }

type CodeErr struct{ Code int32 }

func (e CodeErr) Error() string { return "code" }

//go:noinline
func helperAdd(x int) int { return x + 1 }

//go:noinline
func helperNop() {}

func ptr[T any](v T) *T { return &v }

func mkchan[T any](n int, vs ...T) chan T {
	c := make(chan T, n)
	for _, v := range vs {
		c <- v
	}
	return c
}

var sink int
var sinkAny any

//go:noinline
func keep(x any) { sinkAny = x }

// Values of types reflect makes at run time (SliceOf, ArrayOf, PointerTo,
// StructOf, MapOf of x's type): on the heap, unless the binary has the type.
func madeSlice(x any) any {
	if x == nil {
		return nil
	}
	s := reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(x)), 2, 2)
	s.Index(1).Set(reflect.ValueOf(x))
	return s.Interface()
}

func madeArray(x any) any {
	if x == nil {
		return nil
	}
	a := reflect.New(reflect.ArrayOf(2, reflect.TypeOf(x))).Elem()
	a.Index(0).Set(reflect.ValueOf(x))
	return a.Interface()
}

func madePtrPtr(x any) any {
	if x == nil {
		return nil
	}
	p := reflect.New(reflect.TypeOf(x))
	p.Elem().Set(reflect.ValueOf(x))
	q := reflect.New(p.Type())
	q.Elem().Set(p)
	return q.Interface()
}

func madeStruct(x any) any {
	if x == nil {
		return nil
	}
	t := reflect.StructOf([]reflect.StructField{
		{Name: "X", Type: reflect.TypeOf(x), Tag: `k:"v"`},
		{Name: "N", Type: reflect.TypeOf(int8(0))},
	})
	s := reflect.New(t).Elem()
	s.Field(0).Set(reflect.ValueOf(x))
	s.Field(1).SetInt(-3)
	return s.Interface()
}

func madeMap(x any) any {
	if x == nil {
		return nil
	}
	m := reflect.MakeMap(reflect.MapOf(reflect.TypeOf(""), reflect.TypeOf(x)))
	m.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf(x))
	return m.Interface()
}
"""

MADE = ("madeSlice", "madeArray", "madePtrPtr", "madeStruct", "madeMap")
"""PRELUDE's makers of values of types reflect makes at run time."""


@dataclass
class T:
    """A Go type: its spelling, kind and what it is made of."""

    go: str
    kind: str  # int kinds, bool, float*, complex*, string, slice, array, struct,
    # pointer, map, chan, func, iface, unsafe
    elem: T | None = None
    key: T | None = None
    length: int = 0
    fields: list[tuple[str, T]] = field(default_factory=list)
    comparable: bool = True


@dataclass
class Func:
    """One generated function: its Go declarations and its calls in ``main``."""

    name: str
    probe: dict[str, object]
    decls: str
    calls: str
    params: list[tuple[str, T]]
    results: list[tuple[str, T]]
    receiver: tuple[str, T] | None = None
    type_param: str | None = None
    """The argument typed by the type parameter T (a generic function's)."""


class Gen:
    """The types and values of one function (``rng`` seeded by seed and index)."""

    def __init__(self, rng: random.Random, prefix: str) -> None:
        self.rng = rng
        self.prefix = prefix
        self.decls: list[str] = []
        self.n_types = 0

    # ---- types --------------------------------------------------------------
    def base(self) -> T:
        r = self.rng.random()
        if r < 0.45:
            k = self.rng.choice(list(INT_KINDS))
            return T(k, k)
        if r < 0.55:
            return T("bool", "bool")
        if r < 0.75:
            k = self.rng.choice(FLOAT_KINDS)
            return T(k, k)
        if r < 0.8:
            k = self.rng.choice(COMPLEX_KINDS)
            return T(k, k)
        return T("string", "string")

    def struct(self, depth: int) -> T:
        name = f"{self.prefix}S{self.n_types}"
        self.n_types += 1
        fields: list[tuple[str, T]] = []
        for i in range(self.rng.choice([0, 1, 2, 3, 3, 4, 5])):
            if self.rng.random() < 0.12:
                fields.append(("_", self.base()))  # blank field
            else:
                fields.append((f"F{i}", self.typ(depth + 1)))
        body = "; ".join(f"{n} {t.go}" for n, t in fields)
        self.decls.append(f"type {name} struct{{ {body} }}")
        return T(name, "struct", fields=fields, comparable=all(t.comparable for _, t in fields))

    def typ(self, depth: int = 0) -> T:
        """A random type; ``depth`` bounds the nesting."""
        rng = self.rng
        if depth >= 3 or rng.random() < 0.45:
            return self.base()
        r = rng.random()
        if r < 0.12:
            e = self.typ(depth + 1)
            return T(f"[]{e.go}", "slice", elem=e, comparable=False)
        if r < 0.24:
            n = rng.choice([0, 1, 1, 3, 3, 12])
            e = self.typ(depth + 1)
            return T(f"[{n}]{e.go}", "array", elem=e, length=n, comparable=e.comparable)
        if r < 0.42:
            return self.struct(depth)
        if r < 0.5:
            e = self.typ(depth + 1)
            return T(f"*{e.go}", "pointer", elem=e)
        if r < 0.57:
            k = rng.choice(
                [T("int", "int"), T("string", "string"), T("int8", "int8"), T("uint16", "uint16")]
            )
            e = self.typ(depth + 1)
            return T(f"map[{k.go}]{e.go}", "map", key=k, elem=e, comparable=False)
        if r < 0.61:
            e = self.typ(depth + 2)
            d = rng.choice(["chan ", "<-chan ", "chan<- "])
            # "chan <-chan T" would parse as "chan<- chan T".
            inner = f"({e.go})" if d == "chan " and e.go.startswith("<-") else e.go
            return T(f"{d}{inner}", "chan", elem=e)
        if r < 0.64:
            # Aliases: "[]func(){...}" would parse as a function literal.
            return rng.choice([T("FnInt", "func"), T("FnNop", "func")])
        if r < 0.77:
            return rng.choice([T("any", "iface"), T("error", "iface"), T("Shaper", "iface")])
        if r < 0.82:
            return rng.choice(
                [
                    T("MyInt", "int"),
                    T("MyStr", "string"),
                    T("MyBytes", "mybytes"),
                    T("Empty", "empty"),
                ]
            )
        if r < 0.9:
            inner = self.typ(depth + 1)
            if rng.random() < 0.5:
                return T(
                    f"Box[{inner.go}]",
                    "struct",
                    fields=[("V", inner), ("N", T("int8", "int8"))],
                    comparable=inner.comparable,
                )
            k = rng.choice([T("string", "string"), T("int32", "int32")])
            return T(
                f"Pair[{k.go},{inner.go}]",
                "struct",
                fields=[("Key", k), ("Val", inner)],
                comparable=inner.comparable,
            )
        if r < 0.93:
            return T("unsafe.Pointer", "unsafe")
        return T("Empty", "empty")

    # ---- values --------------------------------------------------------------
    def value(self, t: T, depth: int = 0) -> str:
        """A Go expression of type ``t``."""
        rng = self.rng
        k = t.kind
        if k in INT_KINDS:
            lo, hi = INT_KINDS[k]
            v = rng.choice([0, 1, -1, lo, hi, rng.randint(lo, hi), rng.randint(-300, 300)])
            v = min(max(v, lo), hi)
            return f"{t.go}({v})"
        if k == "bool":
            return rng.choice(["true", "false"])
        if k in FLOAT_KINDS:
            return f"{t.go}({self.float_lit()})"
        if k in COMPLEX_KINDS:
            return f"{t.go}(complex({self.float_lit()}, {self.float_lit()}))"
        if k == "string":
            return f"{t.go}({self.string_lit()})"
        if k == "mybytes":
            return rng.choice(["MyBytes(nil)", f"MyBytes({self.string_lit()})"])
        if k == "empty":
            return "Empty{}"
        if k == "unsafe":
            return rng.choice(["unsafe.Pointer(nil)", "unsafe.Pointer(&sink)"])
        if k == "slice":
            assert t.elem is not None
            if rng.random() < 0.15:
                return f"{t.go}(nil)"
            n = rng.choice([0, 1, 2, 3, 5])
            return f"{t.go}{{{', '.join(self.value(t.elem, depth + 1) for _ in range(n))}}}"
        if k == "array":
            assert t.elem is not None
            return f"{t.go}{{{', '.join(self.value(t.elem, depth + 1) for _ in range(t.length))}}}"
        if k == "struct":
            inits = ", ".join(f"{n}: {self.value(ft, depth + 1)}" for n, ft in t.fields if n != "_")
            return f"{t.go}{{{inits}}}"
        if k == "pointer":
            assert t.elem is not None
            if rng.random() < 0.2:
                return f"({t.go})(nil)"
            return f"ptr[{t.elem.go}]({self.value(t.elem, depth + 1)})"
        if k == "map":
            assert t.elem is not None and t.key is not None
            if rng.random() < 0.15:
                return f"{t.go}(nil)"
            keys = {self.value(t.key, depth + 1) for _ in range(rng.choice([0, 1, 2, 4]))}
            seen: set[str] = set()
            entries = []
            for key in keys:
                norm = key.split("(", 1)[1]
                if norm in seen:
                    continue
                seen.add(norm)
                entries.append(f"{key}: {self.value(t.elem, depth + 1)}")
            return f"{t.go}{{{', '.join(entries)}}}"
        if k == "chan":
            assert t.elem is not None
            if rng.random() < 0.2:
                return f"({t.go})(nil)"
            cap = rng.choice([0, 1, 3])
            n = rng.randint(0, cap)
            vs = "".join(", " + self.value(t.elem, depth + 1) for _ in range(n))
            return f"({t.go})(mkchan[{t.elem.go}]({cap}{vs}))"
        if k == "func":
            if rng.random() < 0.3:
                return f"({t.go})(nil)"
            return "helperAdd" if t.go == "FnInt" else "helperNop"
        if k == "iface":
            if rng.random() < 0.2:
                return f"{t.go}(nil)"
            if t.go == "error":
                return rng.choice(['errors.New("boom")', "CodeErr{Code: 7}", "&CodeErr{Code: -2}"])
            if t.go == "Shaper":
                return rng.choice(["Sq{S: 4}", '&Circ{R: 2, Name: "c"}', "Empty{}", "&Sq{S: -1}"])
            choice = rng.random()
            if choice < 0.15:
                return "Empty{}"
            if choice < 0.22:
                return "[0]int{}"
            if choice < 0.3:
                return "any(any(MyInt(5)))"
            if choice < 0.4:
                made = rng.choice(MADE)
                inner = self.typ(depth + 1)
                return f"{made}({self.value(inner, depth + 1)})"
            inner = self.typ(depth + 1)
            return f"any({self.value(inner, depth + 1)})"
        raise AssertionError(k)

    def float_lit(self) -> str:
        return self.rng.choice(
            [
                "0",
                "1",
                "-1",
                "0.5",
                "-2.25",
                "1e+21",
                "1.5e-07",
                "3.140625",
                "-0",
                "65504",
                str(round(self.rng.uniform(-1e6, 1e6), 3)),
            ]
        )

    def string_lit(self) -> str:
        rng = self.rng
        n = rng.choice([0, 1, 5, 12, 40])
        alphabet = 'abcxyz ABC019_-é€"\\\n'
        return json.dumps("".join(rng.choice(alphabet) for _ in range(n)), ensure_ascii=False)


def make_func(seed: int, index: int) -> Func:
    """Function ``index`` of ``seed``: its declarations and two calls."""
    rng = random.Random(f"{seed}:{index}")
    name = f"F{index}"
    g = Gen(rng, name)
    shape = rng.random()
    n_params = rng.choice([0, 1, 2, 3, 4, 6, 8])
    exhaust = rng.random() < 0.2
    params: list[tuple[str, T]] = []
    for i in range(n_params):
        params.append((f"p{i}", g.typ()))
    if exhaust:  # run the registers out: 10+ ints or 16+ floats, then more
        many = rng.choice(["int", "float64", "mixed"])
        for i in range(rng.choice([10, 12, 16, 17])):
            k = many if many != "mixed" else rng.choice(["int", "float64", "string", "int8"])
            params.append((f"q{i}", T(k, k)))
        for i in range(rng.choice([1, 2, 3])):
            params.append((f"s{i}", g.typ()))
    rng.shuffle(params)
    n_results = rng.choice([0, 1, 1, 2, 3, 4])
    results = [g.typ() for _ in range(n_results)]
    named = rng.random() < 0.4
    use_defer = rng.random() < 0.3
    use_recover = use_defer and rng.random() < 0.4
    rnames = (
        [f"res{i}" for i in range(n_results)]
        if named
        else [("@return" if n_results == 1 else f"r{i}") for i in range(n_results)]
    )
    # Shown names: godi shows one result as @return, several by name.
    shown = ["@return"] if n_results == 1 else rnames
    kind = "plain"
    if shape < 0.15:
        kind = "generic"
    elif shape < 0.3:
        kind = "method"
    receiver: tuple[str, T] | None = None
    tparams = ""
    gparams = params
    if kind == "generic" and params:
        # The first parameter's type becomes the type parameter T.
        tparams = "[T any]"
        gparams = [(params[0][0], T("T", "typeparam")), *params[1:]]
    sig_params = ", ".join(f"{n} {t.go}" for n, t in gparams)
    if named:
        sig_results = (
            "(" + ", ".join(f"{n} {t.go}" for n, t in zip(rnames, results, strict=True)) + ")"
        )
    elif n_results == 1:
        sig_results = results[0].go
    elif n_results:
        sig_results = "(" + ", ".join(t.go for t in results) + ")"
    else:
        sig_results = ""
    body: list[str] = []
    for n, t in gparams:
        r = rng.random()
        if r < 0.3:
            body.append(f"\tkeep({n})")
        elif r < 0.45 and t.kind in INT_KINDS and t.go == t.kind:
            body.append(f"\tsink += int({n})")
        elif r < 0.55 and t.kind in ("string", "slice", "map"):
            body.append(f"\tsink += len({n})")
    if use_defer:
        inner = ["\t\tsink++"]
        if use_recover:
            inner.append("\t\tif e := recover(); e != nil {")
            inner.append("\t\t\tsink--")
            if named:
                for n, t in zip(rnames, results, strict=True):
                    if rng.random() < 0.5:
                        inner.append(f"\t\t\t{n} = {g.value(t)}")
            inner.append("\t\t}")
        elif named and results and rng.random() < 0.5:
            inner.append(f"\t\t{rnames[0]} = {g.value(results[0])}")
        body.append("\tdefer func() {\n" + "\n".join(inner) + "\n\t}()")
    if use_recover:
        body.append('\tif sink >= 0 {\n\t\tpanic("fuzz")\n\t}')
    if n_results:
        if named and rng.random() < 0.5:
            for n, t in zip(rnames, results, strict=True):
                body.append(f"\t{n} = {g.value(t)}")
            body.append("\treturn")
        else:
            body.append("\treturn " + ", ".join(g.value(t) for t in results))
    if kind == "method":
        rt = g.struct(1)
        ptr_recv = rng.random() < 0.5
        recv_t = T("*" + rt.go, "pointer", elem=rt) if ptr_recv else rt
        receiver = ("r", recv_t)
        head = f"func (r {recv_t.go}) M({sig_params}) {sig_results}"
        probe_where = {
            "typeName": f"main.{recv_t.go}".replace("main.*", "*main."),
            "methodName": "M",
        }
    else:
        head = f"func {name}{tparams}({sig_params}) {sig_results}"
        probe_where = {"methodName": f"main.{name}" + ("[...]" if tparams else "")}
    decl = "//go:noinline\n" + head + " {\n" + "\n".join(body) + "\n}"
    if use_recover and not n_results and not body:
        pass
    calls: list[str] = []
    for _call in range(2):
        lines = ["\t{"]
        argn = []
        for n, t in ([receiver] if receiver else []) + params:
            lines.append(f"\t\tvar {n} {t.go} = {g.value(t)}")
            argn.append(n)
        rv = [f"v{i}" for i in range(n_results)]
        callee = f"{receiver[0]}.M" if receiver else name
        actuals = ", ".join(n for n, _ in params)
        call = f"{callee}({actuals})"
        if rv:
            lines.append(f"\t\t{', '.join(rv)} := {call}")
        else:
            lines.append(f"\t\t{call}")
        names = ", ".join(json.dumps(n) for n in argn)
        ptrs = ", ".join("&" + n for n in argn)
        lines.append(
            f"\t\trecord({json.dumps(name)}, []string{{{names}}}, []any{{{ptrs}}}, "
            f"[]string{{{', '.join(json.dumps(n) for n in shown if n_results)}}}, "
            f"[]any{{{', '.join('&' + v for v in rv)}}})"
        )
        lines.append("\t}")
        calls.append("\n".join(lines))
    if n_results > 1:
        pass
    probe = {
        "id": name,
        "where": probe_where,
        "captureSnapshot": True,
        "sampling": {"snapshotsPerSecond": 1000},
        "capture": {
            "maxReferenceDepth": 20,
            "maxCollectionSize": 100,
            "maxLength": 255,
            "maxFieldCount": 50,
        },
    }
    return Func(
        name=name,
        probe=probe,
        decls="\n".join(g.decls) + "\n\n" + decl,
        calls="\n".join(calls),
        params=([receiver] if receiver else []) + params,
        results=list(
            zip(shown if n_results > 1 else ["@return"] * n_results, results, strict=True)
        ),
        receiver=receiver,
        type_param=params[0][0] if tparams else None,
    )


def program(funcs: list[Func]) -> str:
    """The main package calling every function of ``funcs`` twice."""
    parts = [
        "package main\n",
        'import (\n\t"errors"\n\t"reflect"\n\t"unsafe"\n)\n',
        "var _ = errors.New\nvar _ unsafe.Pointer\nvar _ = reflect.TypeOf\n",
        PRELUDE,
    ]
    parts += [f.decls for f in funcs]
    parts.append("func main() {")
    parts += [f.calls for f in funcs]
    parts.append("}\n")
    return "\n".join(parts)


def write(out_dir: Path, seed: int, indices: list[int], go_version: str = "1.21") -> list[Func]:
    """Write the program of ``indices`` (main.go, view.go, go.mod, probes.json)."""
    funcs = [make_func(seed, i) for i in indices]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "main.go").write_text(program(funcs))
    (out_dir / "view.go").write_text(VIEW_GO)
    (out_dir / "go.mod").write_text("module fuzz\n\ngo 1.21\n")
    (out_dir / "probes.json").write_text(json.dumps([f.probe for f in funcs], indent=1))
    return funcs
