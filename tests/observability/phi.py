"""Vignette patients made recognisable: a distinctive name, identifier value and birth date, and lab
values nudged to distinctive decimals, so that any of them found in a log line is a leak (a number
counts only as a whole number: "0.05371" is not found in a timing like "0.0537154 s").

The birth date keeps the vignette's year and moves 5 July to 13 July (both after T's 15 January: the
age at T, which the rules use, is unchanged). Lab values move by +0.00371 in magnitude: what a card
would show (two decimals) is unchanged, and the raw value becomes a string no log line has otherwise.
A value leaks as its raw form ("11.20371") or as a card shows it with its unit ("11.2 mg/dL").
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from rules.windows import fmt_num
from tests.vignettes import VIGNETTES, Vignette

Json = dict[str, Any]
FAMILY = "Quillfeather"
NUDGE = 0.00371


@dataclass(frozen=True, slots=True)
class Enriched:
    vignette: Vignette
    bundle: Json
    secrets: frozenset[str]  # strings that must never appear in a log line

    @property
    def patient_id(self) -> str:
        return str(self.resources("Patient")[0]["id"])

    def resources(self, resource_type: str) -> list[Json]:
        return [e["resource"] for e in self.bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def _nudge(quantity: Json, secrets: set[str]) -> None:
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or value == 0:
        return
    nudged = round(value + math.copysign(NUDGE, value), 6)
    quantity["value"] = nudged
    secrets.add(orjson.dumps(nudged).decode())
    unit = quantity.get("unit") or quantity.get("code")
    if unit:
        secrets.add(f"{fmt_num(nudged)} {unit}")


def enrich(v: Vignette) -> Enriched:
    bundle = copy.deepcopy(v.bundle())
    secrets: set[str] = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            given = f"Ysolde{v.id}"
            resource["name"] = [{"use": "official", "family": FAMILY, "given": [given]}]
            mrn = f"MRN-7Q3X9-{v.id}"
            resource["identifier"] = [{"system": "urn:oid:2.16.840.1.113883.3.9999.1", "value": mrn}]
            birth = str(resource.get("birthDate", "1960-07-05"))
            resource["birthDate"] = birth[:4] + "-07-13"
            secrets |= {FAMILY, given, mrn, resource["birthDate"]}
        if resource["resourceType"] == "Observation":
            if "valueQuantity" in resource:
                _nudge(resource["valueQuantity"], secrets)
            for component in resource.get("component", []):
                if "valueQuantity" in component:
                    _nudge(component["valueQuantity"], secrets)
    return Enriched(v, bundle, frozenset(secrets))


def enriched_vignettes() -> list[Enriched]:
    return [enrich(v) for v in VIGNETTES]


NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
SHOWN = re.compile(r"(-?\d+(?:\.\d+)?) (.+)")


def leaks(texts: list[str], patients: list[Enriched], extra: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(secret, line) for every secret found in a line. A number counts only as a whole number token
    (all its digits), alone or followed by its unit; any other secret, as a substring."""
    numbers: set[str] = set()
    units: dict[str, set[str]] = {}
    others: set[str] = set(extra)
    for secret in {s for p in patients for s in p.secrets}:
        if NUMBER.fullmatch(secret):
            numbers.add(secret)
        elif shown := SHOWN.fullmatch(secret):
            units.setdefault(shown.group(1), set()).add(shown.group(2))
        else:
            others.add(secret)
    found: list[tuple[str, str]] = []
    for line in texts:
        found += [(s, line) for s in others if s in line]
        for token in NUMBER.finditer(line):
            number = token.group(0)
            if number in numbers:
                found.append((number, line))
            rest = line[token.end() :]
            found += [(f"{number} {u}", line) for u in units.get(number, ()) if rest.startswith(f" {u}")]
    return found
