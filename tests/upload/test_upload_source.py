"""Reading upload inputs item by item: both formats, offsets, resuming, bad input."""

from __future__ import annotations

import io
import json
import random

import pytest

from stages.errors import UploadInputError
from stages.upload import source
from stages.upload.source import Position, iter_items


def objects(n: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    return [
        {
            "id": i,
            "s": "h\u00e9llo \u2713 \U0001f600 " * rng.randint(0, 40),
            "tricky": 'a "quoted" ,] } { [ \\ string',
            "n": [1, -2.5e3, None, True, False, {"deep": []}],
        }
        for i in range(n)
    ]


def array_bytes(objs: list[dict[str, object]], indent: int | None) -> bytes:
    return b"\xef\xbb\xbf \n" + json.dumps(objs, indent=indent, ensure_ascii=False).encode() + b"\n"


@pytest.fixture(autouse=True)
def tiny_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # A window smaller than an item: every item, and multi-byte characters, get cut.
    monkeypatch.setattr(source, "CHUNK", 97)


@pytest.mark.parametrize("indent", [None, 2])
def test_array_items_offsets_and_resume(indent: int | None) -> None:
    objs = objects(400)
    data = array_bytes(objs, indent)
    items = list(iter_items(io.BytesIO(data), "x"))
    assert [json.loads(i.raw) for i in items] == objs
    for it in items:
        assert data[it.end - len(it.raw) : it.end] == it.raw  # raw bytes, as in the file
    for k in (0, 1, 57, 398, 399):
        rest = list(iter_items(io.BytesIO(data), "x", Position(k + 1, items[k].end)))
        assert [i.index for i in rest] == list(range(k + 1, 400))
        assert [json.loads(i.raw) for i in rest] == objs[k + 1 :]


def test_json_lines_skip_blank_lines_and_resume() -> None:
    objs = objects(50)
    data = b"".join(json.dumps(o, ensure_ascii=False).encode() + b"\n\n" for o in objs)
    items = list(iter_items(io.BytesIO(data), "x.jsonl"))
    assert [json.loads(i.raw) for i in items] == objs
    assert [i.index for i in items] == list(range(50))
    rest = list(iter_items(io.BytesIO(data), "x", Position(10, items[9].end)))
    assert [json.loads(i.raw) for i in rest] == objs[10:]


def test_last_line_without_newline_and_bad_lines_are_items() -> None:
    data = b'{"a": 1}\n[1, 2]\n{"cut": \n{"b": 2}'
    assert [i.raw for i in iter_items(io.BytesIO(data), "x")] == [
        b'{"a": 1}',
        b"[1, 2]",
        b'{"cut":',
        b'{"b": 2}',
    ]


@pytest.mark.parametrize("data", [b"", b"  \n", b"[]", b" [ ] \n"])
def test_empty_inputs(data: bytes) -> None:
    assert list(iter_items(io.BytesIO(data), "x")) == []


def test_numbers_cut_by_the_window_are_read_whole() -> None:
    data = b"[" + b"1" * 300 + b", 2]"
    assert [i.raw for i in iter_items(io.BytesIO(data), "x")] == [b"1" * 300, b"2"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"a":1},]', "item 1: malformed JSON at byte 9"),
        (b'[{"a":1} {"b":2}]', "expected ',' or ']' after item 0, found '{' at byte 9"),
        (b'[{"a":tru}]', "item 0: malformed JSON at byte 6"),
        (b'[{"a":1}', "found the end of the input at byte 8"),
        (b'[{"a":1}] x', "unexpected 'x' after the array at byte 10"),
        (b"hello", "not a JSON array nor JSON lines"),
        (b'[{"a": "never ends', "Unterminated string"),
    ],
)
def test_malformed_arrays_name_the_byte(data: bytes, message: str) -> None:
    with pytest.raises(UploadInputError, match=message.replace("[", r"\[")):
        list(iter_items(io.BytesIO(data), "x"))


def test_items_before_a_malformed_spot_are_read() -> None:
    data = b'[{"a":1}, {"b":2}, oops]'
    got = []
    with pytest.raises(UploadInputError):
        for item in iter_items(io.BytesIO(data), "x"):
            got.append(item.raw)
    assert got == [b'{"a":1}', b'{"b":2}']


def test_an_item_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_ITEM_BYTES", 1000)
    data = b'[{"a": "' + b"x" * 5000 + b'"}]'
    with pytest.raises(UploadInputError, match="larger than 1000 bytes"):
        list(iter_items(io.BytesIO(data), "x"))
    with pytest.raises(UploadInputError, match="longer than 1000 bytes"):
        list(iter_items(io.BytesIO(data[1:-1] + b"\n"), "x"))
