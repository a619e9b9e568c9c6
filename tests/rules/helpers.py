"""How the rule test modules run a rule: one place, so that every module asserts the same things.

- `rule_ids_fired` / `findings_by_rule`: every rule through the engine (interactions and
  suppressions included); the rule under test must not have failed.
- `finding_of` / `findings_of`: only the given rule(s) through the engine; none may fail.
- `run_rule`: the rule's own `evaluate` on `Facts`, without the engine's suppressions.
- `vignette_patient`: a RULES.md section 9 patient, as tests/vignettes.py builds it (one source).

Bind the rule with `functools.partial` at the top of a test module.
"""

from __future__ import annotations

from rules import Finding, Parameters, evaluate
from rules.facts import Facts
from rules.params import DEFAULT_PARAMETERS
from rules.rule import Rule
from rules.snapshot import PatientSnapshot
from tests.builders import PatientBuilder
from tests.vignettes import BY_ID


def rule_ids_fired(
    b: PatientBuilder, hook: str = "patient-view", selections: frozenset[str] | None = None, *, rule: str
) -> frozenset[str]:
    """The ids of every rule that fired, all rules evaluated."""
    result = evaluate(b.snapshot(hook, selections))
    assert rule not in {f.rule_id for f in result.failures}
    return result.rule_ids


def findings_by_rule(b: PatientBuilder, hook: str = "patient-view", *, rule: str) -> dict[str, Finding]:
    """rule id → finding, all rules evaluated."""
    result = evaluate(b.snapshot(hook))
    assert rule not in {f.rule_id for f in result.failures}
    return {f.rule_id: f for f in result.findings}


def findings_of(
    b: PatientBuilder, params: Parameters = DEFAULT_PARAMETERS, hook: str = "patient-view",
    *, rules: tuple[Rule, ...],
) -> dict[str, Finding]:  # fmt: skip
    """rule id → finding, only `rules` evaluated."""
    result = evaluate(b.snapshot(hook), params, rules=rules)
    assert not result.failures
    return {f.rule_id: f for f in result.findings}


def finding_of(
    b: PatientBuilder, params: Parameters = DEFAULT_PARAMETERS, hook: str = "patient-view", *, rule: Rule
) -> Finding | None:
    """The finding of `rule` alone, or None."""
    return findings_of(b, params, hook, rules=(rule,)).get(rule.id)


def run_rule(
    rule: Rule, b: PatientBuilder | PatientSnapshot, hook: str = "patient-view",
    params: Parameters = DEFAULT_PARAMETERS, selections: frozenset[str] | None = None,
) -> Finding | None:  # fmt: skip
    """`rule.evaluate` on the facts of `b` (a builder, or a snapshot already built)."""
    snapshot = b if isinstance(b, PatientSnapshot) else b.snapshot(hook, selections)
    return rule.evaluate(Facts(snapshot, params), params)


def vignette_patient(vignette_id: str) -> PatientBuilder:
    """A fresh builder of the vignette's patient (builders are mutable)."""
    return BY_ID[vignette_id].builder()
