"""Populations for the sweep tests: NDJSON folders written from FHIR JSON, and the per-patient
reference (each patient's lines, as `osteoalert evaluate` would be given them one by one)."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from service.adapters.codesets import load_codesets
from service.evaluation import Engine
from service.settings import Settings

Json = dict[str, Any]
SAMPLES_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def default_engine() -> Engine:
    settings = Settings()
    return Engine(load_codesets(settings.codesets_dir), settings.parameters())


def bundle_resources(bundle: Json) -> list[Json]:
    return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]


def sample_bundles() -> dict[str, bytes]:
    """The bundled vignette patients (service/samples), by file name."""
    folder = resources.files("service.samples")
    index = json.loads(folder.joinpath("index.json").read_text("utf-8"))
    return {s["file"]: folder.joinpath(s["file"]).read_bytes() for s in index["samples"]}


def write_folder(folder: Path, items: Iterable[Json], *, gz: bool = False) -> Path:
    """One `<Type>.ndjson` (or `.ndjson.gz`) per resource type, lines in the given order."""
    by_type: dict[str, list[bytes]] = defaultdict(list)
    for item in items:
        by_type[item["resourceType"]].append(orjson.dumps(item))
    folder.mkdir(parents=True, exist_ok=True)
    for rtype, lines in by_type.items():
        data = b"\n".join(lines) + b"\n"
        if gz:
            (folder / f"{rtype}.ndjson.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / f"{rtype}.ndjson").write_bytes(data)
    return folder


def samples_folder(folder: Path, *, gz: bool = False) -> Path:
    items = [r for data in sample_bundles().values() for r in bundle_resources(orjson.loads(data))]
    return write_folder(folder, items, gz=gz)


def _owner(resource: Json) -> str | None:
    if resource.get("resourceType") == "Patient":
        return f"Patient/{resource['id']}"
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            target: str = ref["reference"]
            return target if target.startswith("Patient/") else None
    return None


def lines_by_patient(folder: Path) -> dict[str, bytes]:
    """Every line of every file that names a patient, grouped by patient (the reference input)."""
    groups: dict[str, list[bytes]] = defaultdict(list)
    for path in sorted(folder.glob("*.ndjson*")):
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        for line in data.splitlines():
            if line.strip():
                owner = _owner(orjson.loads(line))
                if owner is not None:
                    groups[owner].append(line)
    return {owner: b"\n".join(lines) for owner, lines in groups.items()}


def read_ndjson(path: Path) -> list[Json]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def findings_by_patient(out: Path) -> dict[str, list[Json]]:
    """findings.ndjson back to {patient: [finding_to_dict(...), ...]} (patient, age, sex and the
    write-back identifier removed)."""
    found: dict[str, list[Json]] = defaultdict(list)
    for line in read_ndjson(out / "findings.ndjson"):
        patient = line.pop("patient")
        for extra in ("age", "sex", "identifier"):
            line.pop(extra)
        found[patient].append(line)
    return dict(found)
