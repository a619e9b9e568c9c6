"""Naming what could not be decoded: the resource type from the first bytes, and one-line errors."""

from __future__ import annotations

import re

import msgspec

from service.adapters import fhir_model as fm

_HEAD = msgspec.json.Decoder(fm.Head)
_PREFIX = b'{"resourceType":"'
_EXPECTED = re.compile(r"Expected `([^`]*)`, got `([^`]*)`")
_WORDS = {
    "float": "a number", "int": "an integer", "str": "a string", "bool": "true or false",
    "array": "an array", "object": "an object",
}  # fmt: skip


def describe_error(resource_type: str, exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `float | null`, got `str` - at `$.a.b`"
    → "Type.a.b: expected a number, got str"."""
    message, _, where = str(exc).partition(" - at `$")
    path = where.rstrip("`")
    match = _EXPECTED.fullmatch(message)
    if match is not None:
        wanted = [_WORDS.get(t.strip(), t.strip()) for t in match[1].split("|") if t.strip() != "null"]
        message = f"expected {' or '.join(wanted)}, got {match[2]}"
    else:
        message = message.replace("`", "")
    return f"{resource_type}{path}: {message}"


def peek_type(raw: bytes | msgspec.Raw) -> tuple[str | None, str | None]:
    """(resourceType, id) without decoding the resource; id only when the fast prefix misses."""
    start = raw[:128] if isinstance(raw, bytes) else bytes(memoryview(raw)[:128])
    if start[:17] != _PREFIX:  # pretty-printed: drop the blanks around '{', the key and ':'
        start = b"".join(start.split())
    if start[:17] == _PREFIX:
        end = start.find(b'"', 17)
        if end > 17 and b"\\" not in start[17:end]:
            return start[17:end].decode(), None
    head = _HEAD.decode(raw)
    return head.resource_type, head.id


def ref_for(raw: bytes | msgspec.Raw, rtype: str, rid: str | None, full_url: str | None, where: str) -> str:
    """The name a rejected resource would have had if accepted (see `References.register`)."""
    if rid is None:
        try:
            rid = _HEAD.decode(raw).id
        except msgspec.DecodeError:
            rid = None
    return f"{rtype}/{rid}" if rid else (full_url or f"{rtype}/#{where}")
