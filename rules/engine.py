"""Run the rules in scope for a snapshot, apply the interactions of 1.5/section 7, return data.

A rule that raises becomes a `RuleFailure`; the other rules still run (one rule's bug never
silences the rest).
"""

from __future__ import annotations

from collections.abc import Sequence

from rules.catalog import CATALOG
from rules.facts import Facts
from rules.findings import EvaluationResult, Finding, RuleFailure
from rules.params import DEFAULT_PARAMETERS, Parameters
from rules.rule import Rule
from rules.scope import SCOPE, SPECIFIC_DXA_RULES
from rules.snapshot import Hook, PatientSnapshot


def is_gated_out(facts: Facts) -> bool:
    """Deceased patients and patients under 18 get no rule at all (1.1)."""
    s = facts.s
    if s.deceased or (s.deceased_at is not None and s.deceased_at <= s.at):
        return True
    return facts.age is not None and facts.age < facts.p.age_adult


def suppress(findings: Sequence[Finding]) -> tuple[list[Finding], list[str]]:
    """Generic DXA reminders give way to specific ones (RULES.md 1.5 and section 7)."""
    if not findings:  # most patients
        return [], []
    fired = {f.rule_id for f in findings}
    specific = bool(fired & SPECIFIC_DXA_RULES) or any(
        f.rule_id == "phpt-surgical-criteria" and f.data.get("requests_dxa") == "true" for f in findings
    )
    dropped: set[str] = set()
    if specific:
        dropped |= {"osteoporosis-screening-due", "bone-risk-condition-dxa-due"}
    if "bone-risk-condition-dxa-due" in fired:
        dropped.add("osteoporosis-screening-due")
    kept = [f for f in findings if f.rule_id not in dropped]
    return kept, sorted(dropped & fired)


# The catalog's rules in scope for each hook, in catalog order (the engine's default rule list).
_CATALOG_SCOPE: dict[Hook, tuple[Rule, ...]] = {
    hook: tuple(rule for rule in CATALOG if rule.id in ids) for hook, ids in SCOPE.items()
}


def evaluate(
    snapshot: PatientSnapshot,
    params: Parameters = DEFAULT_PARAMETERS,
    rules: Sequence[Rule] = CATALOG,
) -> EvaluationResult:
    facts = Facts(snapshot, params)
    findings: list[Finding] = []
    failures: list[RuleFailure] = []
    if not is_gated_out(facts):
        if rules is CATALOG:
            in_scope: Sequence[Rule] = _CATALOG_SCOPE[snapshot.hook]
        else:
            scope = SCOPE[snapshot.hook]
            in_scope = [rule for rule in rules if rule.id in scope]
        for rule in in_scope:
            try:
                finding = rule.evaluate(facts, params)
            except Exception as exc:
                failures.append(RuleFailure(rule.id, f"{type(exc).__name__}: {exc}"))
                continue
            if finding is not None:
                findings.append(finding)
    kept, suppressed = suppress(findings)
    return EvaluationResult(
        patient=snapshot.patient,
        at=snapshot.at,
        hook=snapshot.hook.value,
        findings=tuple(kept),
        failures=tuple(failures),
        ignored=snapshot.ignored,
        suppressed=tuple(suppressed),
    )
