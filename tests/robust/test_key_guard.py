"""The BPF key guard's normalisation and hash mirror stages.redaction (ASCII keys).

``godi_key_redacted`` in bpf/godi.h folds each key byte through ``fold_table`` and
hashes the kept bytes with FNV-1a; this replays that on the table capture loads
and checks it gives ``key_hash(normalise(key))`` exactly when the key has no NUL
(NUL pads what the guard read, so it never counts).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stages.redaction import DEFAULT_IDENTIFIERS, fold_table, key_hash, normalise

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
