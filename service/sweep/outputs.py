"""Merge the shard outputs into the sweep's files in `--out`:

    worklist.csv        one row per finding: critical first, then by rule (RULES.md order), then patient
    findings.ndjson     one line per finding (`findings_json.finding_to_dict` + patient, age, sex)
    problems.ndjson     rule failures, bad patients, unreadable lines, export errors
    measure_report.json a FHIR R4B MeasureReport (summary; one group per batch rule)
    report.html         the same counts as charts (`report_html`)
    summary.json        the counts and timings as JSON

Shard outputs are each sorted by patient; `heapq.merge` streams them as one sorted sequence, and
worklist rows wait in one temporary file per (indicator, rule) before being concatenated, so
nothing here holds the population in memory. Everything but summary.json's timings is
deterministic: the same input gives byte-identical files whatever the shards and workers.
"""

from __future__ import annotations

import csv
import heapq
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import IO, Any

import orjson
from fhir.resources.R4B.measurereport import MeasureReport

from rules.findings import Indicator
from rules.scope import ALL_RULE_IDS
from rules.windows import fmt_num
from service.adapters.cds_cards import RULE_CODE_SYSTEM, rule_title
from service.sweep.evaluate import summary_path
from service.sweep.report_html import render_report
from service.sweep.tally import BATCH_RULES, SweepInfo, Tally, iso, per_thousand

MEASURE_URL = "https://osteoalert.org/fhir/Measure/osteoalert-batch"
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
WORKLIST_COLUMNS = (
    "patient_id", "age", "sex", "rule_id", "rule", "indicator", "summary", "key_values_and_dates",
    "latest_evidence_date", "suggested_action",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class SweepOutputs:
    out: Path
    tally: Tally
    problems: int = 0
    files: dict[str, Path] = field(default_factory=dict)


def _cell(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: keep data from becoming code."""
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _evidence_text(e: dict[str, Any]) -> str:
    value = e.get("value")
    shown = e["label"] if value is None else f"{e['label']} {fmt_num(value)} {e.get('unit') or ''}".strip()
    when = e.get("effective")
    return f"{shown} ({when[:10]})" if when else shown


def _action(f: dict[str, Any]) -> str:
    """The card's suggestions; else its notes (the detail's bullet lines); else the summary's advice."""
    labels = [s["label"] for s in f.get("suggestions", [])]
    if labels:
        return "; ".join(labels)
    notes = [line[2:].strip() for line in f.get("detail", "").splitlines() if line.startswith("- ")]
    if notes:
        return " ".join(notes)
    summary: str = f["summary"]
    return summary.rsplit(": ", 1)[1].rstrip(".") if ": " in summary else "Review the finding"


def worklist_row(record: dict[str, Any], f: dict[str, Any]) -> list[str]:
    dates = [e["effective"][:10] for e in f.get("evidence", []) if e.get("effective")]
    age = record.get("age")
    row = [
        record["patient"].removeprefix("Patient/"),
        "" if age is None else str(age),
        record.get("sex", ""),
        f["rule_id"],
        rule_title(f["rule_id"]),
        f["indicator"],
        f["summary"],
        "; ".join(_evidence_text(e) for e in f.get("evidence", [])),
        max(dates) if dates else "",
        _action(f),
    ]
    return [_cell(c) for c in row]


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                record = orjson.loads(line)
                yield record["patient"], record


def merged_records(shard_outputs: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every shard's patient records as one stream sorted by patient reference."""
    streams = [_records(p) for p in shard_outputs]
    for _, record in heapq.merge(*streams, key=lambda item: item[0]):
        yield record


class _Worklist:
    """Rows wait per (indicator, rule) in temporary files; `finish` concatenates them in order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.files: dict[tuple[int, int, str], tuple[IO[str], Any]] = {}

    def add(self, record: dict[str, Any], f: dict[str, Any]) -> None:
        rule = f["rule_id"]
        order = ALL_RULE_IDS.index(rule) if rule in ALL_RULE_IDS else len(ALL_RULE_IDS)
        key = (-Indicator(f["indicator"]).rank, order, rule)
        entry = self.files.get(key)
        if entry is None:
            fh = (self.folder / f"{len(self.files):03d}.csv").open("w", newline="", encoding="utf-8")
            entry = self.files[key] = (fh, csv.writer(fh))
        entry[1].writerow(worklist_row(record, f))

    def finish(self, target: Path) -> None:
        with target.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerow(WORKLIST_COLUMNS)
            for key in sorted(self.files):
                fh = self.files[key][0]
                fh.close()
                with Path(fh.name).open(encoding="utf-8", newline="") as part:
                    shutil.copyfileobj(part, out)
        shutil.rmtree(self.folder)


def _problem_lines(record: dict[str, Any]) -> Iterator[bytes]:
    patient = record["patient"]
    if "error" in record:
        kind, _, detail = record["error"].partition(": ")
        yield orjson.dumps({"kind": kind, "patient": patient, "detail": detail})
    for failure in record.get("failures", []):
        yield orjson.dumps({"kind": "rule-failure", "patient": patient, **failure})


def write_outputs(shard_outputs: list[Path], out: Path, info: SweepInfo) -> SweepOutputs:
    """Merge `shard_outputs` (see `evaluate.evaluate_shard`) into the files of the module docstring."""
    out.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    for path in shard_outputs:
        tally.add(Tally.load(summary_path(path)))
    result = SweepOutputs(out, tally)
    worklist = _Worklist(out / ".worklist-parts")
    with (out / "findings.ndjson").open("wb") as findings, (out / "problems.ndjson").open("wb") as problems:
        for record in merged_records(shard_outputs):
            for f in record.get("findings", []):
                entry = {
                    "patient": record["patient"],
                    "age": record.get("age"),
                    "sex": record.get("sex"),
                    **f,
                }
                findings.write(orjson.dumps(entry) + b"\n")
                worklist.add(record, f)
            for line in _problem_lines(record):
                problems.write(line + b"\n")
                result.problems += 1
        for extra in info.extra_problems:
            with extra.open("rb") as fh:
                for raw in fh:
                    if raw.strip():
                        problems.write(raw.rstrip(b"\n") + b"\n")
                        result.problems += 1
    worklist.finish(out / "worklist.csv")
    measure = measure_report(tally, info)
    (out / "measure_report.json").write_bytes(orjson.dumps(measure, option=orjson.OPT_INDENT_2))
    (out / "report.html").write_text(render_report(tally, info, result.problems), encoding="utf-8")
    for name in ("worklist.csv", "findings.ndjson", "problems.ndjson", "measure_report.json", "report.html"):
        result.files[name] = out / name
    return result


def _population(code: str, count: int) -> dict[str, Any]:
    return {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}, "count": count}


def measure_report(tally: Tally, info: SweepInfo) -> dict[str, Any]:
    """A summary MeasureReport: one group per batch rule (patients flagged, per 1,000 eligible),
    validated with the R4B model before it is written."""
    rules = list(BATCH_RULES) + sorted(set(tally.findings) - set(BATCH_RULES))
    groups = []
    for rule in rules:
        count = sum(tally.findings.get(rule, {}).values())
        groups.append(
            {
                "code": {
                    "coding": [{"system": RULE_CODE_SYSTEM, "code": rule, "display": rule_title(rule)}],
                    "text": rule_title(rule),
                },
                "population": [
                    _population("initial-population", tally.patients),
                    _population("denominator", tally.eligible),
                    _population("numerator", count),
                ],
                "measureScore": {
                    "value": per_thousand(count, tally.eligible),
                    "unit": "per 1,000 eligible patients",
                    "system": "http://unitsofmeasure.org",
                    "code": "/10*3",
                },
            }
        )
    stamp = info.at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = {
        "resourceType": "MeasureReport",
        "id": f"osteoalert-sweep-{stamp}",
        "status": "complete",
        "type": "summary",
        "measure": MEASURE_URL,
        "date": iso(info.at),
        "period": {"start": iso(info.at), "end": iso(info.at)},
        "group": groups,
    }
    model = MeasureReport.model_validate(raw)
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped
