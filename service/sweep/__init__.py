"""Population sweeps (issue #5): Bulk Data NDJSON (a folder or a $export) in, worklist and report out.

sources       NDJSON folders (plain or .gz; layers for incremental exports)
partition     stream every file once into per-shard files (hash of the patient reference)
evaluate      one shard: group by patient, the one engine with the batch scope (RULES.md 1.5)
tally         the counts (per shard, then summed): never patients
outputs       worklist.csv, findings.ndjson, problems.ndjson, MeasureReport, report.html
report_html   the self-contained report page (inline SVG charts)
bulk_export   the FHIR Bulk Data $export client (kick-off, poll, download, delete)
export_store  where exports land and what is remembered per source (status URL, transactionTime)
write_back    `--write-back`: DetectedIssues by conditional create, as the subscription path
run           the use case: source → partition → evaluate (local pool or Celery) → outputs
command       what `osteoalert sweep` does around it (export, write-back, progress bar)
"""
