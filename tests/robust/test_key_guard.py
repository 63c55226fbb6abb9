"""The BPF key guard's normalisation and hash mirror stages.redaction.

``godi_key_redacted`` in bpf/godi.h folds each key byte through ``fold_table`` and
hashes the kept bytes with FNV-1a; this replays that on the table capture loads
and checks it gives ``key_hash(normalise(key))`` exactly when the key is ASCII
without NUL (NUL pads what the guard read, so it never counts).

Decode normalises with Python's ``str.lower``, which maps two non-ASCII
characters to ASCII (U+212A KELVIN SIGN to ``k``; U+0130 to ``i`` and U+0307)
and lower-cases every other script, while BPF folds ASCII alone. So capture loads
the hash of every spelling BPF can see of each identifier (``guard_hashes``):
every key decode redacts is one of them, and its value never reaches the dump.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stages.redaction import (
    CASED_LIMIT,
    DEFAULT_IDENTIFIERS,
    _preimages,
    fold_table,
    guard_hashes,
    key_hash,
    normalise,
)

LOWER, KEEP = fold_table()


def guard_hash(key: bytes) -> tuple[int, int]:
    """(hash, bytes kept) as the BPF loop computes them."""
    h = 0xCBF29CE484222325
    kept = 0
    for b in key:
        h = ((h ^ LOWER[b]) * (1 + (0x100000001B3 - 1) * KEEP[b])) & 0xFFFFFFFFFFFFFFFF
        kept += KEEP[b]
    return h, kept


@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=64))
def test_guard_hash_is_the_hash_of_the_normalised_key(key: str) -> None:
    h, kept = guard_hash(key.encode())
    assert h == key_hash(normalise(key))
    assert kept == len(normalise(key))


def test_spellings_of_redacted_names_hit() -> None:
    hashes = {key_hash(n) for n in DEFAULT_IDENTIFIERS}
    for key in ("Authorization", "x-api-key", "API_KEY", "$password", "@Token", "Set-Cookie"):
        assert guard_hash(key.encode())[0] in hashes, key
    for key in ("user", "passwords", "Accept", "api_keys"):
        assert guard_hash(key.encode())[0] not in hashes, key


def test_lower_casing_is_searched_over_all_of_unicode() -> None:
    """No character at or above CASED_LIMIT changes under str.lower, and the
    non-ASCII characters it maps to ASCII are exactly these two."""
    for cp in range(CASED_LIMIT, 0x110000):
        if not 0xD800 <= cp < 0xE000:
            assert chr(cp).lower() == chr(cp), hex(cp)
    to_ascii = {
        chr(cp)
        for cp in range(128, CASED_LIMIT)
        if not 0xD800 <= cp < 0xE000 and any(ord(c) < 128 for c in chr(cp).lower())
    }
    assert to_ascii == {"\u0130", "\u212a"}


DEFAULT_HASHES, DEFAULT_LONGEST = guard_hashes(sorted(DEFAULT_IDENTIFIERS), 8192)


def test_every_character_decode_lower_cases_into_a_name_hits() -> None:
    """Exhaustively: each redacted name with any one of its characters (or two,
    for U+0130) replaced by any character str.lower makes it, BPF's hash is in
    the set (as are the ASCII spellings: the Kelvin sign is the one that was not)."""
    pre = _preimages()
    tried = 0
    for name in DEFAULT_IDENTIFIERS:
        for at in range(len(name)):
            for width in (1, 2):
                for c in pre.get(name[at : at + width], ()):
                    key = name[:at] + c + name[at + width :]
                    if normalise(key) != name:
                        continue
                    h, kept = guard_hash(key.encode())
                    assert h in DEFAULT_HASHES, (name, key)
                    assert kept <= DEFAULT_LONGEST
                    tried += 1
    assert tried > 2 * sum(map(len, DEFAULT_IDENTIFIERS))
    assert guard_hash("X-API-\u212aEY".encode())[0] in DEFAULT_HASHES
    assert guard_hash("X-API-\u212aEY".encode())[0] != key_hash("xapikey")


USER_NAMES = ["contraseña", "κωδικός", "пароль", "i\u0307d", "geheimschlüssel"]


@st.composite
def spelled(draw: st.DrawFn) -> tuple[str, str]:
    """A redacted name and a key spelling it: each character by any character that
    str.lower makes it, separators anywhere."""
    pre = _preimages()
    name = draw(st.sampled_from(sorted(DEFAULT_IDENTIFIERS) + USER_NAMES))
    out, at = [], 0
    while at < len(name):
        width = 2 if name[at : at + 2] in pre and draw(st.booleans()) else 1
        part = name[at : at + width]
        out.append(draw(st.sampled_from(sorted({*pre.get(part, ()), *part[:width]}))))
        out.append(draw(st.sampled_from(["", "", "_", "-", "$", "@"])))
        at += width
    return name, "".join(out)


USER_HASHES, USER_LONGEST = guard_hashes(sorted(DEFAULT_IDENTIFIERS) + USER_NAMES, 8192)


@given(spelled())
def test_keys_decode_redacts_are_in_the_guard_set(case: tuple[str, str]) -> None:
    name, key = case
    if normalise(key) != name:  # U+0307 or final sigma drawn where they do not fit
        return
    h, kept = guard_hash(key.encode())
    assert h in USER_HASHES, key
    assert kept <= USER_LONGEST
