"""Operating osteoalert: Prometheus metrics, PHI-safe structured logs, request and task telemetry.

`metrics` and `logging` depend on nothing of ours (the worker imports them too); `http` is the API's
middleware and /metrics route; `tasks` records background task attempts (worker and embedded outbox).
"""
