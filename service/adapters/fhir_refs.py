"""Canonical references: every resource is known as "Type/id"; fullUrls (urn:uuid:, absolute URLs)
and absolute/versioned references are aliases of it (Synthea transaction Bundles use urn:uuid)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class References:
    aliases: dict[str, str] = field(default_factory=dict)  # fullUrl → canonical reference

    def register(self, resource_type: str, rid: str | None, full_url: str | None, where: str) -> str:
        """The canonical reference of a decoded resource; its fullUrl becomes an alias."""
        if rid:
            ref = f"{resource_type}/{rid}"
        elif full_url:
            ref = full_url
        else:
            ref = f"{resource_type}/#{where}"  # no id, no fullUrl: a unique local name
        if full_url and full_url != ref:
            self.aliases[full_url] = ref
        return ref

    def resolve(self, reference: str) -> str:
        """ "urn:uuid:…" / "http://…/Observation/1/_history/2" / "Observation/1" → "Observation/1"."""
        known = self.aliases.get(reference)
        if known is not None:
            return known
        if reference.count("/") == 1 or reference.startswith(("urn:", "#")):
            return reference
        base = reference.split("/_history/", 1)[0].rstrip("/")
        parts = base.rsplit("/", 2)
        return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 else base
