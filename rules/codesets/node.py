"""A parsed JSON object with typed accessors whose errors name the file and the place."""

from __future__ import annotations

from collections.abc import Mapping

from rules.codesets.model import Entry


class CodeSetError(ValueError):
    """A code-set document that cannot be used; the message names the file and the place."""


class Node:
    """A JSON object with typed accessors whose errors say where the problem is."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, Mapping):
            raise CodeSetError(f"{where}: expected an object")
        self.value: Mapping[str, object] = value
        self.where = where

    def fail(self, message: str) -> CodeSetError:
        return CodeSetError(f"{self.where}: {message}")

    def text(self, name: str, default: str | None = None) -> str:
        value = self.value.get(name, default)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{name!r} must be a non-empty string")
        return value

    def opt_text(self, name: str) -> str | None:
        return self.text(name) if name in self.value and self.value[name] is not None else None

    def flag(self, name: str, default: bool | None = None) -> bool:
        value = self.value.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(f"{name!r} must be true or false")
        return value

    def number(self, name: str) -> float | None:
        value = self.value.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{name!r} must be a number")
        return float(value)

    def strings(self, name: str) -> list[str]:
        value = self.value.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{name!r} must be a list of strings")
        return list(value)

    def nodes(self, name: str) -> list[Node]:
        value = self.value.get(name, [])
        if not isinstance(value, list):
            raise self.fail(f"{name!r} must be a list")
        return [Node(item, f"{self.where}.{name}[{i}]") for i, item in enumerate(value)]

    @property
    def disabled(self) -> bool:
        return self.flag("disabled", False)

    def entry(self, section: str, system: str, code: str, origin: str) -> Entry:
        display, note = self.value.get("display") or "", self.value.get("note") or ""
        return Entry(section, system, code, str(display), self.flag("verified"), str(note), origin)
