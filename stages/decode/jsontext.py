"""Snapshot JSON written as text, exactly as msgspec encodes the snapshot Structs.

Decode renders each snapshot straight to JSON text instead of building Structs and
encoding them: per event, most of a snapshot is a few strings joined. The text
must be byte for byte what ``msgspec.json.encode`` gives for the same Structs
(members in declaration order, unset ones left out, no spaces, non-ASCII as
UTF-8), which the tests check by decoding every snapshot and encoding it again.
Where an object is needed (conditions, templates, the one-line message), the text
is read back with msgspec: the text is the one implementation of the contract.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Mapping
from typing import Any

import msgspec

from ..snapshot import CapturedValue, NotCapturedReason

quote = json.encoder.encode_basestring
"""A str as a JSON string literal, escaped as msgspec escapes it (``"`` ``\\`` and
control characters only; every code point checked)."""

UNAVAILABLE = ',"notCapturedReason":"unavailable"}'
"""The end of a value whose bytes were not captured."""

_value_decoder = msgspec.json.Decoder(CapturedValue)
_encoder = msgspec.json.Encoder()


class _Keys(dict[str, str]):
    """``"name":`` by name, made on first use (names repeat); looking one up is a
    plain dict lookup."""

    LIMIT = 4096

    def __missing__(self, name: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        text = self[name] = quote(name) + ":"
        return text


_KEYS = _Keys()


def head(type_name: str) -> str:
    """The start of a captured value of type ``type_name``: ``{"type":"..."``."""
    return '{"type":' + quote(type_name)


def value_text(type_name: str, reason: NotCapturedReason) -> str:
    """A value that is only its type and ``notCapturedReason``."""
    return f'{head(type_name)},"notCapturedReason":"{reason}"}}'


def key(name: str) -> str:
    """``"name":``, the start of an object member."""
    return _KEYS[name]


def members(values: Mapping[str, str]) -> str:
    """An object from member names to their JSON texts."""
    keys = _KEYS
    return "{" + ",".join([keys[k] + v for k, v in values.items()]) + "}"


def captured_value(text: str) -> CapturedValue:
    """The ``CapturedValue`` a rendered value's text stands for."""
    return _value_decoder.decode(text)


def encode(obj: Any) -> str:
    """Any snapshot Struct (or list, dict of them) as JSON text."""
    return _encoder.encode(obj).decode()
