"""The sweep's files: a worklist a team can act on, a valid MeasureReport, a self-contained report."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.measurereport import MeasureReport

from service.sweep.outputs import WORKLIST_COLUMNS, worklist_row
from service.sweep.run import SweepOptions, SweepResult, auto_shards, sweep
from service.sweep.sources import NdjsonSource, SourceFile
from tests.service.sweep.population import SAMPLES_AT, default_engine, read_ndjson, samples_folder


@pytest.fixture(scope="module")
def samples_sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    root = tmp_path_factory.mktemp("samples")
    folder = samples_folder(root / "in")
    return sweep(
        default_engine(), NdjsonSource.of(folder), SweepOptions(out=root / "out", at=SAMPLES_AT, workers=2)
    )


def worklist(result: SweepResult) -> list[dict[str, str]]:
    with (result.outputs.out / "worklist.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_worklist_has_one_row_per_finding_most_urgent_first(samples_sweep: SweepResult) -> None:
    rows = worklist(samples_sweep)
    assert tuple(rows[0]) == WORKLIST_COLUMNS
    assert (
        len(rows)
        == samples_sweep.outputs.tally.total_findings
        == len(read_ndjson(samples_sweep.outputs.out / "findings.ndjson"))
    )
    ranks = {"critical": 0, "warning": 1, "info": 2}
    assert [ranks[r["indicator"]] for r in rows] == sorted(ranks[r["indicator"]] for r in rows)
    for indicator_rule in {(r["indicator"], r["rule_id"]) for r in rows}:
        ids = [r["patient_id"] for r in rows if (r["indicator"], r["rule_id"]) == indicator_rule]
        assert ids == sorted(ids)


def test_a_worklist_row_shows_the_key_values_with_their_dates_and_what_to_do(
    samples_sweep: SweepResult,
) -> None:
    rows = [r for r in worklist(samples_sweep) if r["rule_id"] == "osteoporosis-untreated"]
    row = next(r for r in rows if "T-score" in r["key_values_and_dates"])
    assert row["indicator"] == "warning"
    assert row["rule"] == "Osteoporosis not treated"
    assert re.search(r"T-score \w+ -\d+(\.\d+)? \S+ \(\d{4}-\d{2}-\d{2}\)", row["key_values_and_dates"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["latest_evidence_date"])
    assert row["suggested_action"]
    assert row["age"].isdigit() and row["sex"] in {"female", "male", "other", "unknown"}


@pytest.mark.parametrize("patient", ['=HYPERLINK("http://x")', "+1+1", "@SUM(A1)", "-cmd"])
def test_worklist_cells_never_start_a_spreadsheet_formula(patient: str) -> None:
    finding: dict[str, Any] = {"rule_id": "x", "indicator": "info", "summary": "=1+1", "evidence": [],
                               "suggestions": []}  # fmt: skip
    row = worklist_row({"patient": f"Patient/{patient}", "age": 70, "sex": "female"}, finding)
    assert row[0] == "'" + patient
    assert row[6] == "'=1+1"


def test_the_measure_report_validates_with_r4b_and_counts_each_batch_rule(samples_sweep: SweepResult) -> None:
    data = orjson.loads((samples_sweep.outputs.out / "measure_report.json").read_bytes())
    MeasureReport.model_validate(data)
    assert (data["status"], data["type"]) == ("complete", "summary")
    tally = samples_sweep.outputs.tally
    for group in data["group"]:
        rule = group["code"]["coding"][0]["code"]
        populations = {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}
        count = sum(tally.findings.get(rule, {}).values())
        assert populations == {"initial-population": 45, "denominator": tally.eligible, "numerator": count}
        assert group["measureScore"]["value"] == round(1000 * count / tally.eligible, 1)


def test_the_report_is_one_self_contained_page_with_charts(samples_sweep: SweepResult) -> None:
    html = (samples_sweep.outputs.out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 3
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "Osteoporosis not treated" in html


def test_text_from_the_data_is_escaped_in_the_report(tmp_path: Path) -> None:
    folder = samples_folder(tmp_path / "<b>in")
    sweep(
        default_engine(),
        NdjsonSource.of(folder),
        SweepOptions(out=tmp_path / "out", at=SAMPLES_AT, workers=1),
    )
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;in" in html and "<b>in" not in html


def test_the_shard_count_grows_with_the_data_so_a_shard_stays_small(tmp_path: Path) -> None:
    small, big = tmp_path / "Observation.ndjson", tmp_path / "Observation.2.ndjson"
    small.write_bytes(b"{}\n")
    with big.open("wb") as fh:  # sparse: 1 GiB on paper, nothing on disk
        fh.truncate(1024**3)
    assert auto_shards([SourceFile(small, "Observation")], workers=2) == 4
    assert auto_shards([SourceFile(big, "Observation")], workers=2) == 16
