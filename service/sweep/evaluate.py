"""Evaluate one shard: group its lines by patient, then run the one engine on each patient.

The seam is the one every path uses: `fhir_decode.decode_ndjson_block` (fast typed decode of a
patient's lines in one call; `strict` validates each line with the R4B models first) →
`fhir_assemble.assemble` → `service.evaluation.evaluate_for_hook` with the batch scope of RULES.md
1.5. A rule that raises is recorded by the engine (`RuleFailure`); a patient that cannot be
assembled (no valid Patient, two Patients) or that raises anywhere else is recorded here: the shard
goes on.

Output: `<out>` holds one JSON line per patient with findings, failures or an error, sorted by
patient reference (so shards merge into one sorted stream); `<out>.summary.json` holds the
shard's `Tally`. Both are written to a temporary name and renamed: a task redelivered after a
worker died rewrites them whole.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from rules import Finding, Hook, Ignored
from rules.engine import is_gated_out
from rules.facts import Facts
from service.adapters import fhir_model as fm
from service.adapters.fhir_assemble import FhirInputError, PatientResources, assemble
from service.adapters.fhir_decode import decode_ndjson_block, iter_ndjson_resources
from service.adapters.fhir_refs import References
from service.adapters.findings_json import finding_to_dict
from service.evaluation import Engine, alert_identifier, evaluate_for_hook
from service.sweep.partition import owners_path
from service.sweep.routing import Route, route_lines
from service.sweep.sources import SourceFile, read_chunks
from service.sweep.tally import Tally, age_band

HOOK = Hook.BATCH


@dataclass(frozen=True, slots=True)
class ShardJob:
    """Everything a worker needs to evaluate a shard: paths and options, never patient data."""

    shard: str  # the shard's folder of NDJSON parts
    shared: str  # the folder of shared (patient-less) resources: Medications
    out: str  # where the shard's patient lines go; the tally goes to <out>.summary.json
    at: str  # the evaluation instant T, ISO 8601
    strict: bool = False

    def task_args(self) -> tuple[str, dict[str, Any]]:
        """(shard path, options): what goes on the broker as JSON."""
        options = asdict(self)
        return options.pop("shard"), options

    @classmethod
    def from_task(cls, shard: str, options: dict[str, Any]) -> ShardJob:
        return cls(shard=shard, **options)


def summary_path(out: Path) -> Path:
    return out.with_name(out.name + ".summary.json")


def _parts(folder: Path) -> list[SourceFile]:
    if not folder.is_dir():
        return []
    return [SourceFile(p, "") for p in sorted(folder.glob("*.ndjson"))]  # not the .owners sidecars


Blocks = dict[str, list[bytes]]  # patient reference → its lines, as pieces of bytes


def _group(folder: Path) -> tuple[Blocks, int]:
    """The shard's lines by patient reference, in file order within each patient: for each patient,
    pieces of whole lines (each ending in a newline) that joined make its NDJSON block."""
    groups: Blocks = {}
    lines = 0
    for part in _parts(folder):
        lines += _group_part(part, groups)
    return groups, lines


def _group_part(part: SourceFile, groups: Blocks) -> int:
    """Add a shard part's lines to `groups`: by the runs of its owners sidecar when it has one (no
    second JSON read, no split into lines: one slice of the part's bytes per run), else by routing
    each line again."""
    sidecar = owners_path(part.path)
    if not sidecar.exists():
        count = 0
        for chunk in read_chunks(part):
            for route, line, owner in route_lines(chunk):
                if route == Route.PATIENT:
                    groups.setdefault(owner, []).append(line + b"\n")
                    count += 1
        return count
    data = part.path.read_bytes()
    size_of_data = len(data)
    at = count = 0
    for batch in sidecar.read_bytes().splitlines():
        for owner, lines, size in orjson.loads(batch):
            end = at + size
            if end > size_of_data or data[end - 1] != 10:  # a run is whole lines: it ends in b"\n"
                raise RuntimeError(f"{part.path.name}: its lines do not match its owners sidecar")
            group = groups.get(owner)
            if group is None:
                groups[owner] = [data[at:end]]
            else:
                group.append(data[at:end])
            at = end
            count += lines
    if at != size_of_data:
        raise RuntimeError(f"{part.path.name}: more lines than its owners sidecar says")
    return count


def _shared_medications(folder: Path, strict: bool) -> list[fm.Resource]:
    lines = (line for part in _parts(folder) for chunk in read_chunks(part) for line in chunk.split(b"\n"))
    return [r for r in iter_ndjson_resources(lines, strict=strict) if isinstance(r, fm.Medication)]


_USES = (fm.MedicationRequest, fm.MedicationStatement, fm.MedicationAdministration)
_NO_ALIASES = References()


def read_patient_block(
    block: bytes, medications: Mapping[str, fm.Resource] | None = None, *, strict: bool = False
) -> PatientResources:
    """One patient's NDJSON lines as a shard holds them (`decode_ndjson_block`) → its resources, with
    the shared `medications` (by reference) that its medication records name: what a sweep hands
    to the engine for each patient."""
    by_type: dict[type[fm.Resource], list[fm.Resource]] = {}
    rejected: list[Ignored] = []
    for item in decode_ndjson_block(block, strict=strict):
        if isinstance(item, Ignored):
            rejected.append(item)
        else:
            by_type.setdefault(type(item), []).append(item)
    if medications:
        by_type[fm.Medication] = [*_referenced(by_type, medications), *by_type.get(fm.Medication, [])]
    return assemble(by_type, rejected, References())


def _referenced(
    by_type: Mapping[type[fm.Resource], list[fm.Resource]], medications: Mapping[str, fm.Resource]
) -> list[fm.Resource]:
    """The shared Medications this patient's medication records name (not the whole formulary)."""
    found: dict[str, fm.Resource] = {}
    for kind in _USES:
        for use in by_type.get(kind, ()):
            reference = use.medication_reference  # type: ignore[attr-defined]
            target = reference.reference if reference is not None else None
            if target and not target.startswith("#"):
                medication = medications.get(_NO_ALIASES.resolve(target))
                if medication is not None:
                    found[medication.ref] = medication
    return list(found.values())


class _Shard:
    def __init__(self, engine: Engine, at: datetime, strict: bool, medications: list[fm.Resource]) -> None:
        self.engine = engine
        self.at = at
        self.strict = strict
        self.medications = {m.ref: m for m in medications}  # shared by every patient of the shard
        self.tally = Tally()

    def evaluate(self, owner: str, block: bytes) -> dict[str, Any] | None:
        """One patient (`block`: its NDJSON lines, each ending in a newline): counted in the tally;
        a JSON-ready record when there is something to show."""
        try:
            return self._evaluate(owner, block)
        except FhirInputError as exc:
            self.tally.bad_patients += 1
            return {"patient": owner, "error": f"bad-patient: {exc}"}
        except Exception as exc:  # a bug for one patient must not stop the population
            self.tally.bad_patients += 1
            return {"patient": owner, "error": f"error: {type(exc).__name__}: {exc}"}

    def _evaluate(self, owner: str, block: bytes) -> dict[str, Any] | None:
        resources = read_patient_block(block, self.medications, strict=self.strict)
        done = evaluate_for_hook(self.engine, resources, at=self.at, hook=HOOK)
        snapshot, result = done.snapshot, done.result
        facts = Facts(snapshot, self.engine.params)
        tally = self.tally
        tally.count_patient(
            age_band(facts.age), snapshot.sex, eligible=not is_gated_out(facts),
            with_findings=bool(result.findings),
        )  # fmt: skip
        for f in result.findings:
            tally.count_finding(f.rule_id, f.indicator.value)
        tally.rule_failures += len(result.failures)
        for ignored in result.ignored:
            tally.ignored[ignored.reason.split(":", 1)[0]] += 1
        if not result.findings and not result.failures:
            return None
        return {
            "patient": owner,  # = result.patient; the key the shard outputs are sorted and merged by
            "age": facts.age,
            "sex": snapshot.sex,
            "findings": [
                {**finding_to_dict(f), "identifier": _identifier(owner, f)} for f in result.findings
            ],
            "failures": [{"rule_id": f.rule_id, "error": f.error} for f in result.failures],
        }


def _identifier(patient: str, finding: Finding) -> str | None:
    """The DetectedIssue identifier `--write-back` uses: the subscription path's, for the same finding.
    None when the patient id is not a FHIR id (nothing could be written back for it anyway)."""
    try:
        return alert_identifier(patient, finding)
    except ValueError:
        return None


def evaluate_shard(engine: Engine, job: ShardJob) -> Path:
    """Evaluate every patient of `job.shard`; return the output path (see the module docstring)."""
    start = time.perf_counter()
    out = Path(job.out)
    at = datetime.fromisoformat(job.at)
    shard = _Shard(engine, at, job.strict, _shared_medications(Path(job.shared), job.strict))
    groups, lines = _group(Path(job.shard))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as fh:
        for owner in sorted(groups):
            record = shard.evaluate(owner, b"".join(groups.pop(owner)))
            if record is not None:
                fh.write(orjson.dumps(record))
                fh.write(b"\n")
    shard.tally.lines = lines
    shard.tally.seconds = time.perf_counter() - start
    partial_summary = summary_path(partial)
    shard.tally.save(partial_summary)
    partial_summary.replace(summary_path(out))
    partial.replace(out)
    return out
