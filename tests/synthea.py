"""The public Synthea fixture (../shared/fixtures/synthea-r4-2019) grouped by patient, for the tests and
the benchmarks: read plainly from the JSON, independently of the product's own grouping
(`fhir_assemble.patient_reference`), so that the two can be compared."""

from __future__ import annotations

import gzip
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import orjson

SYNTHEA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "synthea-r4-2019"
# The resource types of its NDJSON export that the rules read.
TYPES = ("Patient", "Observation", "DiagnosticReport", "MedicationRequest", "Condition", "Procedure")


def owner_of(resource: Mapping[str, object]) -> str | None:
    """The id of the Patient a resource is, or is about (its subject, else its patient)."""
    if resource.get("resourceType") == "Patient":
        return str(resource["id"])
    ref = resource.get("subject") or resource.get("patient")
    if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
        return str(ref["reference"]).removeprefix("Patient/")
    return None


def ndjson_patients(folder: Path) -> dict[str, bytes]:
    """Patient id → its NDJSON lines (of `TYPES`), from a folder of `<Type>.ndjson.gz` files."""
    lines: dict[str, list[bytes]] = defaultdict(list)
    for rtype in TYPES:
        with gzip.open(folder / f"{rtype}.ndjson.gz", "rb") as fh:
            for raw in fh:
                line = raw.strip()
                pid = owner_of(orjson.loads(line)) if line else None
                if pid is not None:
                    lines[pid].append(line)
    return {pid: b"\n".join(v) for pid, v in lines.items()}
