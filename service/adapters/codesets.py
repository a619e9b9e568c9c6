"""Load the code sets: the package's JSON files, then a site's extension files (same format), merged.

Reading happens here (importlib.resources for the package data); the model and the matching are
pure (`rules.codesets`). The result is cached per directory: code sets are read once per process.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rules.codesets import CodeSetError, CodeSets, build_codesets

PACKAGE = "rules.codesets"


def _parse(origin: str, text: str) -> tuple[str, dict[str, object]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CodeSetError(f"{origin}: not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CodeSetError(f"{origin}: expected a JSON object")
    return origin, value


def package_documents() -> list[tuple[str, dict[str, object]]]:
    files = sorted(
        (f for f in resources.files(PACKAGE).iterdir() if f.name.endswith(".json")),
        key=lambda f: f.name,
    )
    return [_parse(f"{PACKAGE}/{f.name}", f.read_text(encoding="utf-8")) for f in files]


def site_documents(site_dir: Path) -> list[tuple[str, dict[str, object]]]:
    if not site_dir.is_dir():
        raise CodeSetError(f"{site_dir}: site code-set directory not found")
    return [_parse(str(p), p.read_text(encoding="utf-8")) for p in sorted(site_dir.glob("*.json"))]


@lru_cache(maxsize=8)
def _load(site_dir: Path | None) -> CodeSets:
    documents = package_documents()
    if site_dir is not None:
        documents += site_documents(site_dir)
    return build_codesets(documents)


def load_codesets(site_dir: Path | None = None) -> CodeSets:
    """Package code sets, extended by `site_dir/*.json` (in file-name order) when given; cached."""
    return _load(None if site_dir is None else site_dir.resolve())
