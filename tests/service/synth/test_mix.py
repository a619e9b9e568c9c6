"""The synthetic population's mix of findings is real: every patient, evaluated on its own lines
through the FHIR adapter and the engine, gives exactly the findings its archetype promises, on
patient-view and in batch scope (RULES.md 1.5), and the mix covers every rule a population
export can show (all but the draft-order rule)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from rules import Hook, Parameters
from rules.scope import SCOPE
from service.adapters.codesets import load_codesets
from service.evaluation import Engine, evaluate_bundle
from service.synth import ARCHETYPES, MANIFEST, SynthOptions, generate_population
from service.synth.codes import ARCHETYPE_SYSTEM

AT = datetime(2026, 1, 15, 12, tzinfo=UTC)
PATIENTS = 1500  # with this seed every archetype, even the rarest, has patients
SEED = 20260115
NAMES = [a.name for a in ARCHETYPES]


@dataclass
class Population:
    expected: dict[str, dict[str, dict[str, str]]]  # archetype → hook → rule id → indicator
    patients: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    archetype_of: dict[str, str] = field(default_factory=dict)

    def of(self, archetype: str) -> list[str]:
        return sorted(pid for pid, name in self.archetype_of.items() if name == archetype)


def _owner(resource: dict[str, object]) -> str:
    if resource["resourceType"] == "Patient":
        return str(resource["id"])
    subject = resource["subject"]
    assert isinstance(subject, dict)
    return str(subject["reference"]).removeprefix("Patient/")


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    folder: Path = tmp_path_factory.mktemp("mix")
    generate_population(SynthOptions(PATIENTS, folder, AT, seed=SEED))
    manifest = orjson.loads((folder / MANIFEST).read_bytes())
    pop = Population({a["name"]: a["expected"] for a in manifest["archetypes"]})
    for entry in manifest["files"]:
        for line in (folder / entry["file"]).read_bytes().splitlines():
            resource = orjson.loads(line)
            pid = _owner(resource)
            pop.patients[pid].append(line)
            if resource["resourceType"] == "Patient":
                (tag,) = resource["meta"]["tag"]
                assert tag["system"] == ARCHETYPE_SYSTEM
                pop.archetype_of[pid] = tag["code"]
    return pop


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_codesets(), Parameters())


def test_every_archetype_is_represented(population: Population) -> None:
    assert {name for name in NAMES if not population.of(name)} == set()


@pytest.mark.parametrize("hook", [Hook.PATIENT_VIEW, Hook.BATCH], ids=lambda h: h.value)
@pytest.mark.parametrize("name", NAMES)
def test_each_patient_gives_exactly_the_findings_of_its_archetype(
    name: str, hook: Hook, population: Population, engine: Engine
) -> None:
    expected = population.expected[name][hook.value]
    wrong = {}
    for pid in population.of(name):
        data = b"".join(population.patients[pid])
        result = evaluate_bundle(engine, data, at=AT, hook=hook)
        got = {f.rule_id: f.indicator.value for f in result.findings}
        if got != expected or result.failures:
            wrong[pid] = (got, [f.rule_id for f in result.failures])
    assert wrong == {}, f"expected {expected}"


def test_the_mix_covers_every_rule_a_population_export_can_show() -> None:
    shown = {rule for a in ARCHETYPES for rule in a.fires}
    assert shown == SCOPE[Hook.PATIENT_VIEW]
    assert SCOPE[Hook.BATCH] <= shown


def test_batch_expectations_are_the_patient_view_ones_in_batch_scope() -> None:
    for a in ARCHETYPES:
        assert a.expected(Hook.BATCH) == {r: i for r, i in a.fires.items() if r in SCOPE[Hook.BATCH]}
        assert a.expected(Hook.PATIENT_VIEW) == dict(a.fires)


def test_plain_and_trap_archetypes_promise_no_finding() -> None:
    silent = {a.name for a in ARCHETYPES if not a.fires}
    assert {"nothing-to-find", "trap-pediatric", "trap-deceased", "dialysis-pth-within-target"} <= silent
