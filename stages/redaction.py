"""Redaction: sensitive identifiers and types are never shown (snapshot-format.md).

A variable, struct field or string map key whose name, normalised (lower-cased,
``_ - $ @`` removed), is on the identifier list renders as
``{"type": T, "notCapturedReason": "redactedIdent"}``; a value whose type is on the
redacted-types list as ``{"type": T, "notCapturedReason": "redactedType"}``.

The list is ``DEFAULT_IDENTIFIERS`` (Datadog's 85 names), plus the comma-separated
names of ``DD_DYNAMIC_INSTRUMENTATION_REDACTED_IDENTIFIERS``, minus those of
``DD_DYNAMIC_INSTRUMENTATION_REDACTION_EXCLUDED_IDENTIFIERS``. Types come from
``DD_DYNAMIC_INSTRUMENTATION_REDACTED_TYPES``: exact Go type names as DWARF spells
them (``main.Credentials``), or prefixes ending in ``*`` (``github.com/org/vault.*``).

``is_redacted_ident`` and ``is_redacted_type`` answer for the current environment,
so that codegen can leave such values out of the capture altogether; decode takes a
``Redaction`` (``Redaction.from_env()`` by default) and applies it while rendering.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import lru_cache

__all__ = [
    "DEFAULT_IDENTIFIERS",
    "ENV_EXCLUDED_IDENTIFIERS",
    "ENV_REDACTED_IDENTIFIERS",
    "ENV_REDACTED_TYPES",
    "Redaction",
    "fold_table",
    "guard_hashes",
    "is_redacted_ident",
    "is_redacted_type",
    "key_hash",
    "key_spellings",
    "normalise",
]

ENV_REDACTED_IDENTIFIERS = "DD_DYNAMIC_INSTRUMENTATION_REDACTED_IDENTIFIERS"
ENV_EXCLUDED_IDENTIFIERS = "DD_DYNAMIC_INSTRUMENTATION_REDACTION_EXCLUDED_IDENTIFIERS"
ENV_REDACTED_TYPES = "DD_DYNAMIC_INSTRUMENTATION_REDACTED_TYPES"

DEFAULT_IDENTIFIERS = frozenset(
    {
        "2fa",
        "accesstoken",
        "aiohttpsession",
        "apikey",
        "apisecret",
        "apisignature",
        "appkey",
        "applicationkey",
        "auth",
        "authorization",
        "authtoken",
        "ccnumber",
        "certificatepin",
        "cipher",
        "clientid",
        "clientsecret",
        "connectionstring",
        "connectsid",
        "cookie",
        "credentials",
        "creditcard",
        "csrf",
        "csrftoken",
        "cvv",
        "databaseurl",
        "dburl",
        "encryptionkey",
        "encryptionkeyid",
        "geolocation",
        "gpgkey",
        "ipaddress",
        "jti",
        "jwt",
        "licensekey",
        "masterkey",
        "mysqlpwd",
        "nonce",
        "oauth",
        "oauthtoken",
        "otp",
        "passhash",
        "passwd",
        "password",
        "passwordb",
        "pemfile",
        "pgpkey",
        "phpsessid",
        "pin",
        "pincode",
        "pkcs8",
        "privatekey",
        "publickey",
        "pwd",
        "recaptchakey",
        "refreshtoken",
        "routingnumber",
        "salt",
        "secret",
        "secretkey",
        "secrettoken",
        "securityanswer",
        "securitycode",
        "securityquestion",
        "serviceaccountcredentials",
        "session",
        "sessionid",
        "sessionkey",
        "setcookie",
        "signature",
        "signaturekey",
        "sshkey",
        "ssn",
        "symfony",
        "token",
        "transactionid",
        "twiliotoken",
        "usersession",
        "voterid",
        "xapikey",
        "xauthtoken",
        "xcsrftoken",
        "xforwardedfor",
        "xrealip",
        "xsrf",
        "xsrftoken",
    }
)

_STRIP = str.maketrans("", "", "_-$@")


def normalise(name: str) -> str:
    """``name`` lower-cased with ``_ - $ @`` removed: ``X-Api_Key`` -> ``xapikey``."""
    return name.lower().translate(_STRIP)


def key_hash(normalised: str) -> int:
    """FNV-1a 64 of a normalised identifier's UTF-8 bytes: what the BPF key guard
    (bpf/godi.h, godi_key_redacted) computes of a map key, ASCII-lower-cased
    without ``_ - $ @``, to look it up in the redaction set (which holds every
    spelling of each identifier BPF can see: ``guard_hashes``)."""
    h = 0xCBF29CE484222325
    for c in normalised.encode():
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fold_table() -> tuple[bytes, bytes]:
    """The BPF key guard's byte table (bpf/godi.h, ``struct godi_fold``): each byte
    ASCII-lower-cased (0 when it does not count), and whether it counts: not
    ``_ - $ @``, nor NUL, which pads what the guard read."""
    skip = set(b"_-$@\0")
    keep = bytes(0 if c in skip else 1 for c in range(256))
    lower = bytes((c + 32 if 65 <= c <= 90 else c) * keep[c] for c in range(256))
    return lower, keep


CASED_LIMIT = 0x20000
"""No code point at or above this changes under ``str.lower`` (a test checks it
over all of Unicode): the preimages of lower-casing are found below it."""


@lru_cache(maxsize=1)
def _preimages() -> dict[str, tuple[str, ...]]:
    """For each string ``str.lower`` gives of some character, every character it
    gives it for (``k``: ``k``, ``K`` and U+212A KELVIN SIGN; ``i`` U+0307: U+0130).
    Python lower-cases U+03A3 (capital sigma) to U+03C2 (final sigma) at the end of
    a word, else to U+03C3."""
    out: dict[str, set[str]] = {}
    for cp in range(CASED_LIMIT):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        low = c.lower()
        out.setdefault(low, set()).add(c)
        if low == "\u03c3":  # U+03C2 at the end of a word
            out.setdefault("\u03c2", set()).add(c)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _fold(c: str) -> bytes:
    """What the BPF key guard makes of character ``c``: its UTF-8 bytes through
    ``fold_table``."""
    lower, keep = fold_table()
    return bytes(lower[b] for b in c.encode() if keep[b])


def key_spellings(name: str, limit: int = 4096) -> set[bytes]:
    """The bytes the BPF key guard hashes (``fold_table``, ``key_hash``) for every
    map key that ``normalise`` makes ``name`` (a normalised identifier): BPF folds
    ASCII only, so ``APIKEY`` and ``apikey`` give ``b"apikey"``, ``API\u212aEY``
    (KELVIN SIGN) its own bytes. Raises ``ValueError`` past ``limit`` spellings
    (each cased non-ASCII letter doubles them)."""
    pre = _preimages()
    ways: list[list[bytes]] = [[] for _ in range(len(name) + 1)]
    ways[len(name)] = [b""]
    for at in range(len(name) - 1, -1, -1):
        found: set[bytes] = set()
        for width in (1, 2):
            part = name[at : at + width]
            if len(part) < width or not ways[at + width]:
                continue
            heads = {_fold(c) for c in pre.get(part, ())}
            if width == 1 and part.lower() == part:
                heads.add(_fold(part))
            found |= {h + rest for h in heads for rest in ways[at + width]}
            if len(found) > limit:
                raise ValueError(f"more than {limit} spellings of the redacted name {name!r}")
        ways[at] = sorted(found)
    return set(ways[0])


def guard_hashes(names: Iterable[str], limit: int) -> tuple[set[int], int]:
    """What the BPF key guard looks map keys up in for the normalised identifiers
    ``names``: the ``key_hash`` of each of their ``key_spellings``, and the most
    bytes one of them has. A key that ``normalise`` makes one of ``names`` has one
    of these hashes: BPF never sends a value that decode would redact. Raises
    ``ValueError`` past ``limit`` hashes."""
    hashes: set[int] = set()
    longest = 0
    for name in names:
        for spelling in key_spellings(name, limit):
            h = 0xCBF29CE484222325
            for c in spelling:
                h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            hashes.add(h)
            longest = max(longest, len(spelling))
        if len(hashes) > limit:
            raise ValueError(f"more than {limit} spellings of the redacted identifiers")
    return hashes, longest


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class Redaction:
    """Which identifiers and type names are redacted.

    ``identifiers`` are compared after ``normalise``; ``types`` are exact names or
    prefixes ending in ``*``.
    """

    def __init__(self, identifiers: Iterable[str] = DEFAULT_IDENTIFIERS, types: Iterable[str] = ()):
        self.identifiers = frozenset(normalise(i) for i in identifiers)
        types = list(types)
        self.exact_types = frozenset(t for t in types if not t.endswith("*"))
        self.type_prefixes = tuple(sorted({t[:-1] for t in types if t.endswith("*")}))
        self._idents: dict[str, bool] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Redaction:
        """The redaction the three ``DD_DYNAMIC_INSTRUMENTATION_*`` variables ask for
        (``os.environ`` when ``env`` is None)."""
        env = os.environ if env is None else env
        excluded = {normalise(n) for n in _split(env.get(ENV_EXCLUDED_IDENTIFIERS))}
        added = {normalise(n) for n in _split(env.get(ENV_REDACTED_IDENTIFIERS))}
        return cls((DEFAULT_IDENTIFIERS - excluded) | added, _split(env.get(ENV_REDACTED_TYPES)))

    def type_patterns(self) -> list[str]:
        """The redacted types as given: exact names and ``prefix*`` patterns, sorted."""
        return sorted({*self.exact_types, *(p + "*" for p in self.type_prefixes)})

    def including(self, identifiers: Iterable[str], types: Iterable[str] = ()) -> Redaction:
        """This policy with ``identifiers`` and ``types`` redacted too (those a
        capture redacted)."""
        extra = frozenset(normalise(i) for i in identifiers)
        patterns = set(self.type_patterns())
        more_types = set(types) - patterns
        if extra <= self.identifiers and not more_types:
            return self
        return Redaction(self.identifiers | extra, sorted(patterns | more_types))

    @property
    def any_types(self) -> bool:
        """Whether any type is redacted at all."""
        return bool(self.exact_types or self.type_prefixes)

    def ident(self, name: str) -> bool:
        """Whether a variable, field or map key called ``name`` is redacted."""
        hit = self._idents.get(name)
        if hit is None:
            if len(self._idents) > 65536:
                self._idents.clear()
            hit = self._idents[name] = normalise(name) in self.identifiers
        return hit

    def type(self, name: str) -> bool:
        """Whether values of the Go type called ``name`` are redacted."""
        return name in self.exact_types or (
            bool(self.type_prefixes) and name.startswith(self.type_prefixes)
        )


@lru_cache(maxsize=8)
def _policy(added: str | None, excluded: str | None, types: str | None) -> Redaction:
    return Redaction.from_env(
        {
            k: v
            for k, v in (
                (ENV_REDACTED_IDENTIFIERS, added),
                (ENV_EXCLUDED_IDENTIFIERS, excluded),
                (ENV_REDACTED_TYPES, types),
            )
            if v is not None
        }
    )


def current() -> Redaction:
    """The policy of the current environment (read now: later changes to it are not
    seen by the returned object)."""
    env = os.environ
    return _policy(
        env.get(ENV_REDACTED_IDENTIFIERS),
        env.get(ENV_EXCLUDED_IDENTIFIERS),
        env.get(ENV_REDACTED_TYPES),
    )


def is_redacted_ident(name: str) -> bool:
    """Whether a variable, struct field or string map key called ``name`` is redacted
    under the current environment."""
    return current().ident(name)


def is_redacted_type(name: str) -> bool:
    """Whether values of the Go type ``name`` are redacted under the current
    environment."""
    return current().type(name)
