"""osteoalert's pure rule engine.

Frozen dataclasses in (`PatientSnapshot`), findings out (`EvaluationResult`). Nothing here does I/O,
reads a clock, logs, or imports a framework: everything arrives as arguments. See RULES.md for the
clinical specification these modules implement.
"""

from rules.engine import evaluate
from rules.findings import EvaluationResult, Evidence, Finding, Ignored, RuleFailure, Suggestion
from rules.params import Parameters
from rules.snapshot import (
    Analyte,
    ConditionRecord,
    DxaEvent,
    DxaScore,
    Hook,
    LabResult,
    MedicationExposure,
    PatientSnapshot,
    ProcedureRecord,
)

__all__ = [
    "Analyte",
    "ConditionRecord",
    "DxaEvent",
    "DxaScore",
    "EvaluationResult",
    "Evidence",
    "Finding",
    "Hook",
    "Ignored",
    "LabResult",
    "MedicationExposure",
    "Parameters",
    "PatientSnapshot",
    "ProcedureRecord",
    "RuleFailure",
    "Suggestion",
    "evaluate",
]
