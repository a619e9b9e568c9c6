"""Counts of a sweep (per shard, then summed): what the MeasureReport and report.html show.

Counts only, never patients: a tally's size depends on the rules, age bands and reasons, not on
the population.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from rules import Hook
from rules.scope import ALL_RULE_IDS, SCOPE

AGE_BANDS = ("18-39", "40-49", "50-59", "60-69", "70-79", "80+")
UNDER_18 = "<18"
UNKNOWN_AGE = "unknown"
SEXES = ("female", "male", "other", "unknown")
BATCH_RULES = tuple(r for r in ALL_RULE_IDS if r in SCOPE[Hook.BATCH])


def per_thousand(n: int, of: int) -> float:
    return round(1000 * n / of, 1) if of else 0.0


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SweepInfo:
    """What the outputs say about the run itself."""

    at: datetime
    source: str
    strict: bool = False
    extra_problems: tuple[Path, ...] = ()  # NDJSON files of problems found before evaluation


def age_band(age: int | None) -> str:
    if age is None:
        return UNKNOWN_AGE
    if age < 18:
        return UNDER_18
    if age < 40:
        return AGE_BANDS[0]
    if age >= 80:
        return AGE_BANDS[-1]
    return AGE_BANDS[min(age // 10 - 3, len(AGE_BANDS) - 2)]


@dataclass
class Tally:
    patients: int = 0  # evaluated (a valid Patient and its resources)
    eligible: int = 0  # alive adults at T: the rules ran (RULES.md 1.1)
    with_findings: int = 0
    bad_patients: int = 0  # no valid Patient, two Patients, an unexpected error
    rule_failures: int = 0
    findings: dict[str, Counter[str]] = field(default_factory=dict)  # rule id → indicator → n
    # "band|sex" → [patients, eligible, with findings]
    demographics: dict[str, list[int]] = field(default_factory=dict)
    ignored: Counter[str] = field(default_factory=Counter)  # reason kind → resources left out
    lines: int = 0
    seconds: float = 0.0

    def count_patient(self, band: str, sex: str, *, eligible: bool, with_findings: bool) -> None:
        self.patients += 1
        self.eligible += eligible
        self.with_findings += with_findings
        row = self.demographics.setdefault(f"{band}|{sex}", [0, 0, 0])
        row[0] += 1
        row[1] += eligible
        row[2] += with_findings

    def count_finding(self, rule_id: str, indicator: str) -> None:
        self.findings.setdefault(rule_id, Counter())[indicator] += 1

    @property
    def total_findings(self) -> int:
        return sum(sum(c.values()) for c in self.findings.values())

    def add(self, other: Tally) -> None:
        self.patients += other.patients
        self.eligible += other.eligible
        self.with_findings += other.with_findings
        self.bad_patients += other.bad_patients
        self.rule_failures += other.rule_failures
        for rule_id, counts in other.findings.items():
            self.findings.setdefault(rule_id, Counter()).update(counts)
        for key, row in other.demographics.items():
            mine = self.demographics.setdefault(key, [0, 0, 0])
            for i, n in enumerate(row):
                mine[i] += n
        self.ignored.update(other.ignored)
        self.lines += other.lines
        self.seconds += other.seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "eligible": self.eligible,
            "with_findings": self.with_findings,
            "bad_patients": self.bad_patients,
            "rule_failures": self.rule_failures,
            "findings": {r: dict(sorted(c.items())) for r, c in sorted(self.findings.items())},
            "demographics": dict(sorted(self.demographics.items())),
            "ignored": dict(sorted(self.ignored.items())),
            "lines": self.lines,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        return cls(
            patients=data["patients"],
            eligible=data["eligible"],
            with_findings=data["with_findings"],
            bad_patients=data["bad_patients"],
            rule_failures=data["rule_failures"],
            findings={r: Counter(c) for r, c in data["findings"].items()},
            demographics={k: list(v) for k, v in data["demographics"].items()},
            ignored=Counter(data["ignored"]),
            lines=data["lines"],
            seconds=data["seconds"],
        )

    def save(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> Tally:
        return cls.from_dict(orjson.loads(path.read_bytes()))
