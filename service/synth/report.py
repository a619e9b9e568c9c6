"""The manifest of a synthetic population (`synth-manifest.json`): what was generated and what a
sweep of it must find. Deterministic like the data (no clock, no host names)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rules import Hook
from service.synth.codes import ARCHETYPE_SYSTEM
from service.synth.record import TYPES
from service.synth.registry import ARCHETYPES

FORMAT = "osteoalert-synth/1"
HOOKS = (Hook.PATIENT_VIEW, Hook.BATCH)


def manifest(
    *, patients: int, seed: int, at: datetime, gz: bool, archetypes: Mapping[str, int],
    resources: Mapping[str, int], suffix: str,
) -> dict[str, Any]:  # fmt: skip
    findings: dict[str, Counter[str]] = {hook.value: Counter() for hook in HOOKS}
    with_findings: Counter[str] = Counter()
    rows = []
    for a in ARCHETYPES:
        count = archetypes.get(a.name, 0)
        expected = {hook.value: a.expected(hook) for hook in HOOKS}
        for hook, fired in expected.items():
            for rule in fired:
                findings[hook][rule] += count
            with_findings[hook] += count if fired else 0
        rows.append(
            {
                "name": a.name,
                "title": a.title,
                "vignette": a.vignette,
                "weight": a.weight,
                "patients": count,
                "expected": expected,
            }
        )
    return {
        "format": FORMAT,
        "description": "Synthetic patients written by `osteoalert synth`; each Patient carries its "
        f"archetype as a meta.tag of system {ARCHETYPE_SYSTEM}. Evaluate at `at`.",
        "patients": patients,
        "seed": seed,
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gzip": gz,
        "archetype_tag_system": ARCHETYPE_SYSTEM,
        "files": [
            {"type": name, "file": f"{name}{suffix}", "resources": resources.get(name, 0)} for name in TYPES
        ],
        "archetypes": rows,
        "expected_findings": {hook: dict(sorted(c.items())) for hook, c in findings.items()},
        "expected_patients_with_findings": dict(with_findings),
    }
