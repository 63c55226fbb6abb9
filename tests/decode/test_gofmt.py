"""Go's spelling of floats and complex numbers (checked against Go 1.23 output)."""

from __future__ import annotations

import math
import struct

import pytest

from stages.decode.gofmt import format_complex, format_float32, format_float64


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (100.0, "100"),
        (-2.25, "-2.25"),
        (0.1, "0.1"),
        (1 / 3, "0.3333333333333333"),
        (123456.0, "123456"),
        (999999.0, "999999"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (1e100, "1e+100"),
        (0.0001, "0.0001"),
        (0.000123, "0.000123"),
        (1e-5, "1e-05"),
        (1.23e-5, "1.23e-05"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_float64(x: float, text: str) -> None:
    assert format_float64(x) == text


def _f32(x: float) -> float:
    v: float = struct.unpack("<f", struct.pack("<f", x))[0]
    return v


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.1, "0.1"),
        (-2.25, "-2.25"),
        (1.5, "1.5"),
        (3.14159, "3.14159"),
        (1e6, "1e+06"),
        (16777216.0, "1.6777216e+07"),
        (3.4028234663852886e38, "3.4028235e+38"),
        (1e-7, "1e-07"),
        (1.401298464324817e-45, "1e-45"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_float32(x: float, text: str) -> None:
    assert format_float32(_f32(x)) == text


def test_float32_round_trips() -> None:
    for bits in range(0x3F800000, 0x3F800000 + 5000, 7):
        (x,) = struct.unpack("<f", struct.pack("<I", bits))
        assert _f32(float(format_float32(x))) == x


@pytest.mark.parametrize(
    ("re", "im", "text"),
    [
        (1.0, 2.0, "(1+2i)"),
        (1.0, -2.0, "(1-2i)"),
        (0.0, 0.0, "(0+0i)"),
        (-1.5, math.inf, "(-1.5+Infi)"),
        (math.inf, -math.inf, "(+Inf-Infi)"),
        (math.nan, math.nan, "(NaN+NaNi)"),
        (1e21, 1e-7, "(1e+21+1e-07i)"),
    ],
)
def test_complex(re: float, im: float, text: str) -> None:
    assert format_complex(format_float64(re), format_float64(im)) == text
