"""The 45 vignettes of RULES.md section 9, three ways: direct snapshot, FHIR Bundle, CLI process.

Each path must give EXACTLY the vignette's MUST-fire set of (rule id, indicator): every rule not
listed MUST NOT fire. The row's "Notable MUST NOT fire" ids get their own, readable assertion.
A transcription test re-reads section 9 and checks every row's patient, observations, medications,
conditions and expectations against the table in tests/vignettes.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from rules import EvaluationResult, Parameters, evaluate
from rules.scope import ALL_RULE_IDS, SCOPE
from service.adapters.codesets import load_codesets
from service.adapters.fhir_decode import read_patient_bundle
from service.adapters.fhir_snapshot import build_snapshot
from tests.builders import PatientBuilder, T
from tests.fhir_bundles import iso, to_bundle
from tests.vignettes import BY_ID, VIGNETTES, Vignette

ROOT = Path(__file__).resolve().parents[1]
RULES_MD = ROOT.parent / "shared" / "clinical" / "RULES.md"
IDS = [v.id for v in VIGNETTES]
Fired = frozenset[tuple[str, str]]


def fired(result: EvaluationResult) -> Fired:
    return frozenset((f.rule_id, f.indicator.value) for f in result.findings)


def assert_notables_silent(v: Vignette, got: Iterable[tuple[str, str]]) -> None:
    wrong = sorted({rule for rule, _ in got} & set(v.must_not_fire))
    assert not wrong, f"{v.id} ({v.title}) fired rules RULES.md lists as MUST NOT fire: {wrong}"


def assert_exact(v: Vignette, got: Fired, failures: object = ()) -> None:
    assert got == v.expected, (
        f"{v.id} ({v.title}): missing {sorted(v.expected - got)}, "
        f"unexpected {sorted(got - v.expected)}; rule failures: {failures}"
    )


def evaluate_bundle_bytes(data: bytes, v: Vignette) -> EvaluationResult:
    params = Parameters()
    snapshot = build_snapshot(
        read_patient_bundle(data),
        at=T,
        hook=v.hook,
        selections=v.selection_set,
        codesets=load_codesets(),
        params=params,
    )
    return evaluate(snapshot, params)


# ---- the table itself ------------------------------------------------------------------------
def test_the_table_has_the_45_vignettes_in_order() -> None:
    assert [f"V{n:02d}" for n in range(1, 46)] == IDS


@pytest.mark.parametrize("vid", IDS)
def test_expectations_name_real_rules_in_scope_and_never_contradict(vid: str) -> None:
    v = BY_ID[vid]
    assert set(v.must_fire) | set(v.must_not_fire) <= set(ALL_RULE_IDS)
    assert set(v.must_fire) <= SCOPE[v.hook]
    assert not set(v.must_fire) & set(v.must_not_fire)


@pytest.mark.parametrize("vid", IDS)
def test_order_hooks_carry_draft_orders_and_selections_name_them(vid: str) -> None:
    v = BY_ID[vid]
    drafts = {f"MedicationRequest/{m.id}" for m in v.builder().meds if m.draft}
    assert bool(drafts) is v.hook.is_order_hook
    assert (v.selections is not None) is (v.hook.value == "order-select")
    assert set(v.selections or ()) <= drafts


# ---- path 1: direct snapshot -----------------------------------------------------------------
@pytest.mark.parametrize("vid", IDS)
def test_direct_snapshot_fires_exactly_the_must_fire_set(vid: str) -> None:
    v = BY_ID[vid]
    result = evaluate(v.snapshot())
    assert_notables_silent(v, fired(result))
    assert_exact(v, fired(result), result.failures)


# ---- path 2: FHIR Bundle through the adapter -------------------------------------------------
@pytest.mark.parametrize("vid", IDS)
def test_fhir_bundle_through_the_adapter_fires_exactly_the_must_fire_set(vid: str) -> None:
    v = BY_ID[vid]
    result = evaluate_bundle_bytes(orjson.dumps(to_bundle(v.builder())), v)
    assert_notables_silent(v, fired(result))
    assert_exact(v, fired(result), result.failures)


# ---- path 3: the CLI as a process ------------------------------------------------------------
def _run_cli(path: Path, v: Vignette) -> subprocess.CompletedProcess[bytes]:
    args = ["evaluate", str(path), "--at", iso(T), "--hook", v.hook.value, "--format", "json"]
    if v.selections:
        args += ["--selections", ",".join(v.selections)]
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[bytes]]:
    """All 45 CLI processes, run a few at a time (each pays the interpreter start-up once)."""
    folder = tmp_path_factory.mktemp("vignette-bundles")
    paths = {}
    for v in VIGNETTES:
        paths[v.id] = folder / f"{v.id}.json"
        paths[v.id].write_bytes(orjson.dumps(to_bundle(v.builder())))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {v.id: pool.submit(_run_cli, paths[v.id], v) for v in VIGNETTES}
        return {vid: f.result() for vid, f in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("vid", IDS)
def test_cli_evaluate_fires_exactly_the_must_fire_set(
    vid: str, cli_runs: dict[str, subprocess.CompletedProcess[bytes]]
) -> None:
    v, proc = BY_ID[vid], cli_runs[vid]
    assert proc.returncode == 0, proc.stderr.decode()
    out: dict[str, Any] = orjson.loads(proc.stdout)
    assert out["hook"] == v.hook.value
    assert out["patient"] == f"Patient/{vid.lower()}"
    got = frozenset((f["rule_id"], f["indicator"]) for f in out["findings"])
    assert_notables_silent(v, got)
    assert_exact(v, got, out.get("failures", ()))


# ---- transcription: the table says what section 9 says ---------------------------------------
DAYS = r"d−(?P<days>\d+)(?: \((?P<hours>\d+) h ago\))?"
LAB_ITEM = re.compile(r"^(?P<name>\S+) (?P<value>−?[\d.]+)(?: (?P<unit>[^\s\[]+))?(?: \[(?P<st>[\w-]+)\])?$")
MED_ITEM = re.compile(
    r"^(?P<name>[a-z ]+?)(?: (?P<dose>[\d.]+) mg/d)?(?: \((?P<route>inhaled)\))?"
    r"(?:, active since d−(?P<since>\d+)| \*\*draft order\*\*(?:, planned (?P<planned>\d+) d)?)$"
)
CONDITION_ITEM = re.compile(r"^(?P<code>[A-Z]\d{2}(?:\.\w+)?) ")
# (section 9 name, unit as printed) → builder short name; molar units take the molar LOINC code.
SPEC_LABS: dict[tuple[str, str | None], tuple[str, str]] = {
    ("Ca", "mg/dL"): ("CA", "mg/dL"),
    ("Ca", "mmol/L"): ("CA_MOL", "mmol/L"),
    ("iCa", "mmol/L"): ("ICA", "mmol/L"),
    ("Alb", "g/dL"): ("ALB", "g/dL"),
    ("Alb", "g/L"): ("ALB", "g/L"),
    ("PTH", "pg/mL"): ("PTH", "pg/mL"),
    ("PTH", "pmol/L"): ("PTH_MOL", "pmol/L"),
    ("25OHD", "ng/mL"): ("VITD", "ng/mL"),
    ("25OHD", "nmol/L"): ("VITD_MOL", "nmol/L"),
    ("25OHD3", "nmol/L"): ("VITD3_MOL", "nmol/L"),
    ("1,25(OH)2D", "pg/mL"): ("CALCITRIOL", "pg/mL"),
    ("eGFR", None): ("EGFR", "mL/min/{1.73_m2}"),
    ("PO4", "mg/dL"): ("PO4", "mg/dL"),
    ("Mg", "mg/dL"): ("MG", "mg/dL"),
    ("TSH", "mIU/L"): ("TSH", "mIU/L"),
    ("24h-uCa", "mg/24h"): ("UCA24", "mg/24h"),
}
SITES = {"LS": "LS", "TH": "TH", "FN": "FN", "1/3R": "RAD"}


def _num(text: str) -> float:
    return float(text.replace("−", "-"))


def _days_ago(b: PatientBuilder, when: datetime) -> float:
    return round((b.at - when).total_seconds() / 86400, 3)


def _parse_row(cells: list[str]) -> dict[str, Any]:
    _, hook, pt, obs, meds, must, must_not = cells
    age, sex = pt.split()
    lines = obs.split("<br>")
    labs, dxas = [], []
    for line in lines[1:]:
        m = re.match(rf"^{DAYS}: (?P<rest>.*)$", line)
        if m is None:
            assert line == "—", line
            continue
        days = int(m["days"]) + int(m["hours"] or 0) / 24
        rest = m["rest"]
        for item in rest.removeprefix("DXA ").split(", "):
            if rest.startswith("DXA "):
                kind, site, value = item.split()
                dxas.append((kind, SITES[site], _num(value), days))
                continue
            lab = LAB_ITEM.match(item)
            assert lab is not None, item
            name, unit = SPEC_LABS[(lab["name"], lab["unit"])]
            labs.append((name, _num(lab["value"]), unit, days, lab["st"] or "final"))
    medications, conditions = [], []
    for item in meds.split("<br>"):
        if item == "—":
            continue
        if (c := CONDITION_ITEM.match(item)) is not None:
            conditions.append(c["code"])
            continue
        med = MED_ITEM.match(item)
        assert med is not None, item
        draft = med["since"] is None
        route = "*" if draft else ("inhalation" if med["route"] else "oral")
        medications.append((
            med["name"], "draft" if draft else "active", 0.0 if draft else float(med["since"]),
            None if med["dose"] is None else float(med["dose"]), route,
            None if med["planned"] is None else float(med["planned"]),
        ))  # fmt: skip
    fire = dict(re.findall(r"`([a-z0-9-]+)` \((info|warning|critical)\)", must))
    notables = {r for r in ALL_RULE_IDS if re.search(rf"(?<![\w-]){r}(?![\w-])", must_not)}
    return {
        "hook": hook, "age": int(age), "sex": {"F": "female", "M": "male"}[sex],
        "title": re.match(r"\*\*(.*?)\*\*", lines[0])[1],  # type: ignore[index]
        "labs": sorted(labs), "dxas": sorted(dxas), "meds": sorted(medications, key=repr),
        "conditions": sorted(conditions), "fire": fire, "notables": notables - set(fire),
    }  # fmt: skip


def _encoded(v: Vignette) -> dict[str, Any]:
    b = v.builder()
    meds = [
        (
            m.ingredient, m.status, _days_ago(b, m.start),
            None if m.dose_mg is None else m.dose_mg * m.per_day,
            "*" if m.draft else m.route, m.planned_days,
        )
        for m in b.meds
    ]  # fmt: skip
    return {
        "hook": v.hook.value, "age": b.age, "sex": b.sex, "title": v.title,
        "labs": sorted((s.name, float(s.value), s.unit, _days_ago(b, s.at), s.status)
                       for s in b.labs),
        "dxas": sorted((d.kind, d.site, d.value, _days_ago(b, d.at)) for d in b.dxas),
        "meds": sorted(meds, key=repr), "conditions": sorted(c.code for c in b.conditions),
        "fire": dict(v.must_fire), "notables": set(v.must_not_fire),
    }  # fmt: skip


@pytest.fixture(scope="module")
def section9() -> dict[str, dict[str, Any]]:
    if not RULES_MD.is_file():
        pytest.skip(reason=f"LOUD SKIP: RULES.md not found at {RULES_MD}")
    rows = {}
    for line in RULES_MD.read_text("utf-8").splitlines():
        if re.match(r"^\| V\d\d \|", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = _parse_row(cells)
    return rows


def test_section9_has_exactly_the_vignettes_of_the_table(section9: dict[str, Any]) -> None:
    assert list(section9) == IDS


@pytest.mark.parametrize("vid", IDS)
def test_each_vignette_is_transcribed_exactly_from_rules_md(
    vid: str, section9: dict[str, dict[str, Any]]
) -> None:
    spec, encoded = section9[vid], _encoded(BY_ID[vid])
    for key in spec:
        assert encoded[key] == spec[key], f"{vid} {key}: table {encoded[key]} != RULES.md {spec[key]}"
