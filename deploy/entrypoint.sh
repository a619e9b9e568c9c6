#!/bin/sh
# Entry commands of the osteoalert image (deploy/Dockerfile). Configuration: OSTEOALERT_* variables.
#
#   api [ARGS]          CDS Hooks + notification HTTP service on 0.0.0.0:${PORT:-8000} (osteoalert serve);
#                       one uvicorn process per container: scale with replicas
#   worker [ARGS]       a Celery worker (prefork pool); /metrics, /healthz, /readyz on
#                       OSTEOALERT_WORKER_METRICS_PORT (9808); ARGS go to `celery worker` (--concurrency N)
#   beat [ARGS]         Celery beat (subscription gap and silence checks): run exactly ONE
#   migrate             upgrade the database to the packaged migrations' head, then exit
#   fhir-double [ARGS]  the project's FHIR test double (compose profile fhir-double; needs tests/ mounted)
#   osteoalert [ARGS]   any CLI command, e.g. `osteoalert subscriptions create`
#   anything else       executed as given (a shell for debugging)
set -eu

command="${1:-api}"
if [ "$#" -gt 0 ]; then
    shift
fi

case "$command" in
    api)
        exec osteoalert serve --host 0.0.0.0 --port "${PORT:-8000}" "$@"
        ;;
    worker)
        # The pool's child processes write their metrics here and the main process serves them all
        # (prometheus_client multiprocess mode, worker/probes.py). Stale files of a previous run go.
        PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/osteoalert-worker-metrics}"
        export PROMETHEUS_MULTIPROC_DIR
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
        exec python -m worker worker "$@"
        ;;
    beat)
        exec python -m worker beat --schedule "${BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}" "$@"
        ;;
    migrate)
        exec python -c 'import sys
from service.adapters.store import make_engine, upgrade_to_head
from service.settings import Settings
upgrade_to_head(make_engine(Settings().database_url))
print("osteoalert: database migrations at head", file=sys.stderr)'
        ;;
    fhir-double)
        exec python -m tests.fhir_double --host 0.0.0.0 "$@"
        ;;
    osteoalert)
        exec osteoalert "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
