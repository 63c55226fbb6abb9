"""Go's spelling of numbers: what ``fmt.Print`` shows for floats and complex numbers.

Go formats a float with ``strconv.FormatFloat(f, 'g', -1, bits)``: the shortest
decimal that reads back to the same value, in ``%e`` form when the decimal exponent
is below -4 or at least 6 (``1e+06``, ``1.5e-07``, two exponent digits at least),
``+Inf``/``-Inf``/``NaN`` for the special values. ``BASE_FORMATS`` spells a value
of each base kind from its little-endian bytes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_C64 = struct.Struct("<ff")
_C128 = struct.Struct("<dd")

_Format = Callable[[memoryview | bytes, int, int], str]


def _digits(text: str) -> tuple[str, int]:
    """Split a positive finite decimal (``repr``/``%e`` text) into digits and point.

    Returns ``(digits, dp)`` with no leading or trailing zeros in ``digits`` and the
    value equal to ``0.<digits> * 10**dp``; ``("", 0)`` for zero.
    """
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    dp = len(whole) + exp
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "", 0
    return digits, dp


def _format_g(negative: bool, digits: str, dp: int) -> str:
    """Go's ``'g'`` with shortest precision, from ``_digits`` output."""
    sign = "-" if negative else ""
    if not digits:
        return sign + "0"
    exp = dp - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        esign = "-" if exp < 0 else "+"
        return f"{sign}{mantissa}e{esign}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return None


def format_float64(x: float) -> str:
    """``x`` as Go prints a float64: ``-2.25``, ``1e+21``, ``+Inf``, ``NaN``."""
    special = _special(x)
    if special is not None:
        return special
    negative = math.copysign(1.0, x) < 0
    digits, dp = _digits(repr(abs(x)))
    return _format_g(negative, digits, dp)


def _to_f32(x: float) -> float:
    try:
        v: float = _F32.unpack(_F32.pack(x))[0]
    except OverflowError:  # rounded past the largest float32
        return math.inf
    return v


def format_float32(x: float) -> str:
    """``x`` (a float32 value) as Go prints a float32: the shortest digits that
    read back to the same float32, so ``0.1`` and not ``0.10000000149011612``."""
    special = _special(x)
    if special is not None:
        return special
    negative = math.copysign(1.0, x) < 0
    a = abs(x)
    text = repr(a)
    for precision in range(1, 10):
        candidate = f"{a:.{precision - 1}e}"
        if _to_f32(float(candidate)) == a:
            text = candidate
            break
    digits, dp = _digits(text)
    return _format_g(negative, digits, dp)


def format_complex(real: str, imag: str) -> str:
    """A complex number from its formatted parts, as Go prints it: ``(1+2i)``."""
    if not imag.startswith(("+", "-")):
        imag = "+" + imag
    return f"({real}{imag}i)"


# ------------------------------------------------------- values of the base kinds


def _int_format(signed: bool) -> _Format:
    def fmt(buf: memoryview | bytes, off: int, size: int) -> str:
        return str(int.from_bytes(buf[off : off + size], "little", signed=signed))

    return fmt


def _uintptr(buf: memoryview | bytes, off: int, size: int) -> str:
    return hex(int.from_bytes(buf[off : off + size], "little"))


def _bool(buf: memoryview | bytes, off: int, size: int) -> str:
    return "true" if buf[off] else "false"


def _float32(buf: memoryview | bytes, off: int, size: int) -> str:
    return format_float32(_F32.unpack_from(buf, off)[0])


def _float64(buf: memoryview | bytes, off: int, size: int) -> str:
    return format_float64(_F64.unpack_from(buf, off)[0])


def _complex64(buf: memoryview | bytes, off: int, size: int) -> str:
    re, im = _C64.unpack_from(buf, off)
    return format_complex(format_float32(re), format_float32(im))


def _complex128(buf: memoryview | bytes, off: int, size: int) -> str:
    re, im = _C128.unpack_from(buf, off)
    return format_complex(format_float64(re), format_float64(im))


BASE_FORMATS: dict[str, _Format] = {
    # go_kind -> spelling of the value of that kind at buf[off:off+size]
    "bool": _bool,
    "uintptr": _uintptr,
    "float32": _float32,
    "float64": _float64,
    "complex64": _complex64,
    "complex128": _complex128,
    **{k: _int_format(True) for k in ("int", "int8", "int16", "int32", "int64")},
    **{k: _int_format(False) for k in ("uint", "uint8", "uint16", "uint32", "uint64")},
}
