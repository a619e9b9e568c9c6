"""The `osteoalert` command line.

    osteoalert evaluate FILE [--at ISO] [--hook HOOK] [--selections ID,...] [--format json|text] [--strict]
    osteoalert demo [--no-serve] [--port 8000]
    osteoalert hook-request FILE [--hook HOOK] [--at ISO]      (a CDS Hooks request for curl)
    osteoalert serve [--host 127.0.0.1] [--port 8000]
    osteoalert worker [celery worker options] | osteoalert beat [celery beat options]
    osteoalert subscriptions create [--topic URL] [--payload id-only|full-resource|empty] [--endpoint URL]
    osteoalert subscriptions list [--all] | delete ID
    osteoalert synth --patients N --out DIR [--seed S] [--at ISO] [--gzip]
    osteoalert sweep SOURCE_DIR --out DIR [--at ISO] [--shards N] [--workers N] [--strict] [--write-back]
    osteoalert sweep --export URL [--since auto|ISO] --out DIR [...]

Bad input exits with code 2 and one clear line on stderr; never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from rules import Hook
from service.adapters.codesets import load_codesets
from service.adapters.fhir_decode import FhirInputError
from service.adapters.findings_json import result_to_dict
from service.adapters.findings_text import result_to_text
from service.evaluation import Engine, evaluate_bundle
from service.settings import Settings
from service.sweep.bulk_export import BulkExportError
from service.sweep.command import SweepRequest, run_sweep_command
from service.sweep.run import ShardRunner, SweepError
from service.sweep.sources import SourceError
from service.synth import SynthOptions, generate_population

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def parse_instant(text: str) -> datetime:
    """ISO 8601 date or date-time; a naive value is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--at: {text!r} is not an ISO 8601 date-time (e.g. 2026-01-15T12:00:00Z)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _selections(text: str) -> frozenset[str]:
    return frozenset(s.strip() for s in text.split(",") if s.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osteoalert", description="Bone and mineral clinical decision support over FHIR R4."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="run the rules on one patient's FHIR Bundle")
    ev.add_argument("file", help="a Bundle (any type) or NDJSON of one patient; - for stdin")
    ev.add_argument("--at", type=parse_instant, help="evaluation instant T (default: now)")
    ev.add_argument(
        "--hook",
        choices=[h.value for h in Hook],
        default=Hook.PATIENT_VIEW.value,
        help="invocation whose rule scope applies (RULES.md 1.5)",
    )
    ev.add_argument(
        "--selections",
        type=_selections,
        help="order-select: the selected draft orders, e.g. MedicationRequest/abc,MedicationRequest/def",
    )
    ev.add_argument("--format", choices=["json", "text"], default="text")
    ev.add_argument("--strict", action="store_true", help="validate every resource with the full FHIR models")
    ev.set_defaults(handler=cmd_evaluate)

    demo = sub.add_parser(
        "demo", help="evaluate the bundled sample patients (the RULES.md vignettes), then serve them"
    )
    demo.add_argument("--no-serve", action="store_true", help="only print the evaluation table")
    demo.add_argument("--port", type=_port, default=8000, help="TCP port of the demo service (default 8000)")
    demo.set_defaults(handler=cmd_demo)
    add_hook_request_parser(sub)
    add_synth_parser(sub)
    add_sweep_parser(sub)
    add_serve_parser(sub)
    add_celery_parsers(sub)
    add_subscriptions_parser(sub)
    return parser


def _engine() -> Engine:
    try:
        settings = Settings()
        return Engine(load_codesets(settings.codesets_dir), settings.parameters())
    except (ValidationError, ValueError, KeyError, TypeError, OSError) as exc:
        first = str(exc).splitlines()[0]
        raise CliError(f"configuration: {first}") from None


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise CliError(f"{name}: cannot read: {exc.strerror}") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    engine = _engine()
    data = _read_input(args.file)
    at = args.at or datetime.now(UTC)
    try:
        result = evaluate_bundle(
            engine, data, at=at, hook=Hook(args.hook), selections=args.selections,
            strict=args.strict,
        )  # fmt: skip
    except FhirInputError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(result_to_dict(result), option=orjson.OPT_INDENT_2))
        sys.stdout.buffer.write(b"\n")
    else:
        sys.stdout.write(result_to_text(result))
    return 0


def _samples() -> list[dict[str, Any]]:
    index = resources.files("service.samples").joinpath("index.json").read_text("utf-8")
    samples: list[dict[str, Any]] = json.loads(index)["samples"]
    return samples


def cmd_demo(args: argparse.Namespace) -> int:
    """Evaluate every bundled sample and show what fired next to what RULES.md expects; then serve."""
    engine = _engine()
    folder = resources.files("service.samples")
    mismatches = 0
    print(f"{'id':<5}{'hook':<14}{'fired (indicator)':<70}expected")
    for sample in _samples():
        data = folder.joinpath(sample["file"]).read_bytes()
        selections = frozenset(sample.get("selections") or []) or None
        result = evaluate_bundle(
            engine, data, at=parse_instant(sample["at"]), hook=Hook(sample["hook"]),
            selections=selections,
        )  # fmt: skip
        fired = sorted(f"{f.rule_id} ({f.indicator.value})" for f in result.findings)
        ok = {f.rule_id for f in result.findings} == set(sample["expected"])
        mismatches += not ok
        print(
            f"{sample['id']:<5}{sample['hook']:<14}{', '.join(fired) or '-':<70}{'ok' if ok else 'DIFFERS'}"
        )
    total = len(_samples())
    print(f"\n{total - mismatches}/{total} sample patients give the result RULES.md section 9 expects.")
    print("Try one yourself:  osteoalert evaluate service/samples/V01.json --at 2026-01-15T12:00:00Z")
    if mismatches or args.no_serve:
        return 0 if mismatches == 0 else 1
    print(
        "\nServing the CDS Hooks service on embedded defaults (SQLite, no Redis, no JWT) at "
        f"http://127.0.0.1:{args.port}/cds-services. In another terminal:\n"
        "  .venv/bin/osteoalert hook-request service/samples/V01.json --at 2026-01-15T12:00:00Z | \\\n"
        "    curl -s -H 'Content-Type: application/json' -d @- "
        f"http://127.0.0.1:{args.port}/cds-services/osteoalert-patient-view\n"
        "Ctrl-C stops it.\n"
    )
    return cmd_serve(argparse.Namespace(host="127.0.0.1", port=args.port))


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def add_synth_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sy = sub.add_parser(
        "synth", help="write a synthetic population as Bulk Data NDJSON, with a known mix of findings"
    )
    sy.add_argument("--patients", type=_non_negative, required=True, help="number of patients N")
    sy.add_argument("--out", type=Path, required=True, help="output folder (created when missing)")
    sy.add_argument(
        "--seed", type=_non_negative, default=0,
        help="random seed (default 0); the same N, seed and --at give byte-identical files",
    )  # fmt: skip
    sy.add_argument(
        "--at", type=parse_instant,
        help="instant T the data is dated against (default: today 00:00 UTC); sweep with the same T",
    )  # fmt: skip
    sy.add_argument("--gzip", action="store_true", help="write .ndjson.gz files")
    sy.set_defaults(handler=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    at = args.at or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    options = SynthOptions(args.patients, args.out, at, seed=args.seed, gzip=args.gzip)
    started = time.perf_counter()
    try:
        summary = generate_population(options)
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror or exc}") from None
    elapsed = time.perf_counter() - started
    print(
        f"wrote {summary.patients} patients ({sum(summary.resources.values())} resources) to "
        f"{args.out} in {elapsed:.1f} s; manifest {summary.manifest}; "
        f"evaluate at {at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    return 0


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_sweep_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sw = sub.add_parser(
        "sweep", help="run the batch rules over a population (Bulk Data NDJSON or $export): worklist + report"
    )
    sw.add_argument("source", nargs="?", type=Path, help="folder of <Type>.ndjson(.gz) files (Bulk Data)")
    sw.add_argument(
        "--export",
        metavar="URL",
        help="Bulk Data $export kick-off URL: [base]/$export, Patient/$export, Group/<id>/$export",
    )
    sw.add_argument(
        "--since", help='with --export: "auto" (the previous export\'s transactionTime) or an instant'
    )
    sw.add_argument("--out", type=Path, required=True, help="output folder (created when missing)")
    sw.add_argument("--at", type=parse_instant, help="evaluation instant T (default: now)")
    sw.add_argument("--shards", type=_positive, help="number of shards (default: from the data size)")
    sw.add_argument("--workers", type=_positive, help="local worker processes (default: CPU count)")
    sw.add_argument("--strict", action="store_true", help="validate every resource with the full FHIR models")
    sw.add_argument(
        "--work-dir", type=Path, help="shard folder (default <out>/.sweep-work); Celery workers must see it"
    )
    sw.add_argument("--keep-work", action="store_true", help="keep the shard files after the sweep")
    sw.add_argument(
        "--write-back", action="store_true",
        help="write each finding to OSTEOALERT_FHIR_BASE_URL as a DetectedIssue (conditional create)",
    )  # fmt: skip
    sw.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    if (args.source is None) == (args.export is None):
        raise CliError("sweep: give a SOURCE_DIR or --export URL (one of them)")
    if args.since is not None and args.export is None:
        raise CliError("sweep: --since goes with --export")
    engine = _engine()
    settings = Settings()
    runner: ShardRunner | None = None
    if settings.redis_url:  # the configured Celery workers evaluate the shards
        from worker.celery_app import make_celery  # noqa: PLC0415 - the CLI is the one place service meets worker
        from worker.sweeps import CeleryShardRunner  # noqa: PLC0415

        runner = CeleryShardRunner(make_celery(settings), queue=settings.celery_queue)
    request = SweepRequest(
        out=args.out, at=args.at or datetime.now(UTC), source=args.source, export_url=args.export,
        since=args.since, shards=args.shards, workers=args.workers, strict=args.strict,
        work=args.work_dir, keep_work=args.keep_work, write_back=args.write_back,
    )  # fmt: skip
    try:
        result = run_sweep_command(settings, engine, request, runner=runner)
    except (SourceError, SweepError, BulkExportError) as exc:
        raise CliError(f"sweep: {exc}") from None
    except OSError as exc:
        raise CliError(f"sweep: {exc.filename or ''}: {exc.strerror or exc}") from None
    print(f"osteoalert sweep: {result.summary_line()}")
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


def add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sv = sub.add_parser("serve", help="run the CDS Hooks service (defaults: SQLite, no Redis, open)")
    sv.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    sv.set_defaults(handler=cmd_serve)


def add_celery_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in (
        (
            "worker",
            "run a Celery worker: subscription evaluations and sweep shards (needs OSTEOALERT_REDIS_URL)",
        ),
        ("beat", "run Celery beat: subscription gap and silence checks"),
    ):
        parser = sub.add_parser(name, help=text, description=f"{text}. Other arguments go to Celery.")
        parser.add_argument(
            "celery_args", nargs=argparse.REMAINDER, help="e.g. --concurrency 2 -Q osteoalert"
        )
        parser.set_defaults(handler=cmd_celery)


def cmd_celery(args: argparse.Namespace) -> int:
    """`osteoalert worker|beat ...`: the Celery command line on make_celery(Settings())."""
    try:
        settings = Settings()
    except (ValidationError, ValueError) as exc:
        raise CliError(f"configuration: {str(exc).splitlines()[0]}") from None
    if args.command == "worker" and settings.redis_url is None:
        raise CliError("worker: set OSTEOALERT_REDIS_URL (without it tasks run in-process in the service)")
    from worker.celery_app import make_celery  # noqa: PLC0415 - the CLI is the one place service meets worker

    make_celery(settings).start(argv=[args.command, *args.celery_args])
    return 0


def add_hook_request_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hr = sub.add_parser(
        "hook-request", help="print a CDS Hooks request (full prefetch) for one patient's Bundle, for curl"
    )
    hr.add_argument("file", help="one patient's Bundle; - for stdin")
    hr.add_argument("--hook", choices=[h.value for h in Hook if h.is_order_hook or h is Hook.PATIENT_VIEW],
                    default=Hook.PATIENT_VIEW.value)  # fmt: skip
    hr.add_argument("--at", type=parse_instant, help="shift the Bundle's dates so that its T is now")
    hr.set_defaults(handler=cmd_hook_request)


def cmd_hook_request(args: argparse.Namespace) -> int:
    """The service evaluates at its own clock: --at moves the sample's dates to now."""
    from service.adapters.hook_request import bundle_to_hook_request, shift_dates  # noqa: PLC0415

    data = _read_input(args.file)
    if args.at is not None:
        data = shift_dates(data, datetime.now(UTC) - args.at)
    try:
        request = bundle_to_hook_request(data, hook=Hook(args.hook))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise CliError(f"{args.file}: {exc}") from None
    sys.stdout.buffer.write(orjson.dumps(request) + b"\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; a bad configuration is one line on stderr, before listening."""
    _engine()  # code sets and rule parameters load, or CliError
    settings = Settings()
    # Imported here: `evaluate` and `demo` need neither the web stack nor its start-up time.
    import uvicorn  # noqa: PLC0415

    from service.main import create_app  # noqa: PLC0415
    from service.observability.logging import configure_logging  # noqa: PLC0415

    # Redacted JSON (or text) lines; uvicorn's own config and access log stay off: the app logs one
    # event per request itself, by route template (uvicorn's access line would carry raw paths/queries).
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        functools.partial(create_app, settings), factory=True, host=args.host, port=args.port,
        log_level=settings.log_level.lower(), log_config=None, access_log=False,
    )  # fmt: skip
    return 0


def add_subscriptions_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("subscriptions", help="manage our Subscriptions on the EHR's FHIR server")
    actions = sp.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", help="register a Backport-profile Subscription for the rules' codes"
    )
    create.add_argument("--topic", help="SubscriptionTopic canonical (default: OSTEOALERT_NOTIFY_TOPIC_URL)")
    create.add_argument("--payload", choices=["id-only", "full-resource", "empty"], help="payload content")
    create.add_argument("--endpoint", help="notification URL (default: <public_base_url>/fhir/notify)")
    listing = actions.add_parser("list", help="our Subscriptions (those notifying our endpoint)")
    listing.add_argument("--all", action="store_true", help="every Subscription on the server")
    delete = actions.add_parser("delete", help="delete one Subscription")
    delete.add_argument("id", help="the Subscription id")
    sp.set_defaults(handler=cmd_subscriptions)


def cmd_subscriptions(args: argparse.Namespace) -> int:
    """create | list | delete against OSTEOALERT_FHIR_BASE_URL, with the configured authentication."""
    import asyncio  # noqa: PLC0415 - only this command needs the FHIR client stack

    import httpx  # noqa: PLC0415

    from service.adapters import subscription_admin as admin  # noqa: PLC0415
    from service.adapters.fhir_auth import FhirConnection, auth_from_settings  # noqa: PLC0415
    from service.adapters.fhir_client import FhirClientError  # noqa: PLC0415

    try:
        settings = Settings()
        auth = auth_from_settings(settings)
    except (ValidationError, ValueError, OSError) as exc:
        raise CliError(f"configuration: {str(exc).splitlines()[0]}") from None
    if settings.fhir_base_url is None:
        raise CliError("subscriptions: set OSTEOALERT_FHIR_BASE_URL to the EHR's FHIR server")
    base_url = settings.fhir_base_url

    async def run() -> list[str]:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            connection = FhirConnection(base_url, http, auth, timeout=settings.fhir_timeout_seconds)
            async with connection.session() as client:
                if args.action == "create":
                    request = admin.request_from_settings(
                        settings, admin.default_tokens(settings), topic=args.topic, payload=args.payload,
                        endpoint=args.endpoint,
                    )  # fmt: skip
                    sid = await admin.create_subscription(client, admin.build_subscription(request))
                    return [f"Subscription/{sid} requested: {request.payload} to {request.endpoint}"]
                if args.action == "list":
                    endpoint = None if args.all else admin.notify_endpoint(settings)
                    found = await admin.list_subscriptions(client, endpoint)
                    return [f"Subscription/{s.id}\t{s.status}\t{s.payload}\t{s.topic}" for s in found]
                deleted = await admin.delete_subscription(client, args.id)
                return [f"Subscription/{args.id} {'deleted' if deleted else 'not found'}"]

    try:
        lines = asyncio.run(run())
    except (FhirClientError, ValueError) as exc:
        raise CliError(f"subscriptions {args.action}: {exc}") from None
    for line in lines:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] in (["worker"], ["beat"]) and not {"-h", "--help"} & set(words[1:2]):
        # Everything after `worker`/`beat` belongs to Celery, options first included
        # (argparse.REMAINDER does not take leading options such as --concurrency).
        args = argparse.Namespace(command=words[0], celery_args=words[1:], handler=cmd_celery)
    else:
        args = build_parser().parse_args(words)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except CliError as exc:
        print(f"osteoalert: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
