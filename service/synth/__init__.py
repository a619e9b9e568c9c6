"""Synthetic population generator (`osteoalert synth`): realistic Bulk Data NDJSON with a known mix
of findings, for benchmarks, demos and sweep tests at any scale. See `population` for the writer,
`archetypes_*` for the patients and the findings each must give."""

from service.synth.population import (
    MANIFEST,
    SynthOptions,
    SynthSummary,
    generate_population,
    patient_charts,
)
from service.synth.registry import ARCHETYPES, Archetype

__all__ = [
    "ARCHETYPES",
    "MANIFEST",
    "Archetype",
    "SynthOptions",
    "SynthSummary",
    "generate_population",
    "patient_charts",
]
