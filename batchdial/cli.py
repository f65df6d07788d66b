"""The ``batchdial`` command: demo, api, worker, workspace create, jobs (the HTTP API's
client, in :mod:`batchdial.jobs_cli`)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from batchdial.jobs_cli import add_jobs_parser, run_jobs
from batchdial.workspace_cli import add_actions
from batchdial.workspace_cli import run as run_workspace_action
from config.logging import configure_logging
from config.redis import redis_for
from config.settings import Settings, load_settings
from domain.errors import ConfigError, InvalidInput


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchdial",
        description="Outbound calling campaigns (batch dial jobs) on dramatiq + Redis. "
        "Settings come from BATCHDIAL_* environment variables (see the README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run a sample job end to end on an in-process Redis")
    demo.add_argument("--rows", type=int, default=300, help="rows in the sample job (300)")
    demo.add_argument("--cap", type=int, default=20, help="maxConcurrentDials of the job (20)")
    demo.add_argument(
        "--call-seconds", type=float, default=0.2, help="length of each simulated call (0.2)"
    )
    demo.add_argument(
        "--verbose",
        action="store_true",
        help="log to stderr (default: into the file --log-file names, shown at the start)",
    )
    demo.add_argument(
        "--log-file",
        metavar="FILE",
        help="where the demo's log goes (default: batchdial-demo.log in the temp directory)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        default=None,
        help="then keep running and serve the Batch Dials page until Ctrl-C "
        "(BATCHDIAL_DEMO_SERVE=1)",
    )
    demo.add_argument(
        "--host",
        help="with --serve: address of the page (BATCHDIAL_API_HOST, default 127.0.0.1)",
    )
    demo.add_argument(
        "--port",
        type=int,
        help="with --serve: port of the page (BATCHDIAL_API_PORT, default 8000)",
    )

    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument(
        "--host",
        help="address to listen on (BATCHDIAL_API_HOST, default 127.0.0.1)",
    )
    api.add_argument(
        "--port",
        type=int,
        help="port to listen on (BATCHDIAL_API_PORT, default 8000)",
    )

    worker = sub.add_parser("worker", help="run worker processes for every queue")
    worker.add_argument(
        "--processes",
        type=int,
        help="worker processes (BATCHDIAL_WORKER_PROCESSES, default 1)",
    )
    worker.add_argument(
        "--threads",
        type=int,
        help="threads per process (BATCHDIAL_WORKER_THREADS, default 8)",
    )
    worker.add_argument(
        "--queues",
        metavar="LIST",
        help="queues to consume, a comma list of dial, pump, webhooks (default all): "
        "e.g. --queues webhooks for processes that only deliver webhooks",
    )
    worker.add_argument("--child", action="store_true", help=argparse.SUPPRESS)

    add_jobs_parser(sub)

    ws = sub.add_parser("workspace", help="manage workspaces")
    ws_sub = ws.add_subparsers(dest="ws_command", required=True, metavar="ACTION")
    create = ws_sub.add_parser("create", help="create a workspace and print it as JSON")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--dial-limit",
        type=int,
        required=True,
        help="simultaneous dials over all the workspace's jobs",
    )
    create.add_argument(
        "--number",
        action="append",
        default=[],
        metavar="E164",
        help="a caller-ID number of the workspace (repeat for several)",
    )
    create.add_argument(
        "--per-number-limit",
        type=int,
        default=None,
        help="simultaneous dials per number (default: the dial limit)",
    )
    add_actions(ws_sub)
    return parser


#: Options whose default is a setting (so that a bad value is reported by its variable's
#: name, like every other setting): option -> field of :class:`Settings`.
_DEFAULTS_FROM_SETTINGS = {
    "host": "api_host",
    "port": "api_port",
    "processes": "worker_processes",
    "threads": "worker_threads",
    "serve": "demo_serve",
}


def _fill_defaults(args: argparse.Namespace, settings: Settings) -> None:
    """Give each such option that was not on the command line its setting's value."""
    given = vars(args)
    for option, field in _DEFAULTS_FROM_SETTINGS.items():
        if option in given and given[option] is None:
            setattr(args, option, getattr(settings, field))


def _workspace_create(settings: Settings, args: argparse.Namespace) -> int:
    from domain.keys import Keys  # noqa: PLC0415
    from producer.workspaces import Workspaces  # noqa: PLC0415

    client = redis_for(settings)
    try:
        created = Workspaces(client, Keys(settings.namespace)).create(
            args.name, args.dial_limit, args.number, args.per_number_limit
        )
    except InvalidInput as exc:
        for problem in exc.problems:
            sys.stderr.write(f"batchdial: --{_flag(problem.path)}: {problem.message}\n")
        return 2
    sys.stdout.write(json.dumps(created) + "\n")
    return 0


def _flag(path: str) -> str:
    return {"name": "name", "dialLimit": "dial-limit", "perNumberLimit": "per-number-limit"}.get(
        path, "number" if path.startswith("numbers") else path
    )


#: The GIL switch interval of ``batchdial api`` (seconds; Python's default is 0.005).
API_SWITCH_INTERVAL_S = 0.001


def _api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from config.broker import BrokerOutbox, make_broker  # noqa: PLC0415
    from producer.http.app import create_app  # noqa: PLC0415
    from producer.http.routes.providers import CarrierAuth  # noqa: PLC0415
    from producer.service import limits_of  # noqa: PLC0415

    secret = settings.dialer_secret.get_secret_value() if settings.dialer_secret else None
    # The workers' broker (same Redis and namespace): a provider's callback sends the
    # next dial messages from here at once.
    broker = make_broker(redis_for(settings, decode=False), settings.namespace)
    app = create_app(
        redis_for(settings),
        settings.namespace,
        limits=limits_of(settings),
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout_s=settings.body_read_timeout_seconds,
        dialer_secret=secret,
        outbox=BrokerOutbox(broker),
        max_streams_per_key=settings.max_streams_per_key,
        carriers=CarrierAuth.from_settings(settings),
        webhook_allow_private=settings.webhook_allow_private,
        max_dials_per_second=settings.max_dials_per_second,
        min_replicas=settings.redis_min_replicas,
        admin_key=settings.admin_key.get_secret_value() if settings.admin_key else None,
    )
    # A thread that computes (an event stream encoding a page of its backlog) keeps the
    # GIL up to the switch interval whenever a thread back from Redis wants it: at the
    # default 5 ms per reply, requests took 50-250 ms while streams caught up (issue 13).
    sys.setswitchinterval(API_SWITCH_INTERVAL_S)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        # Event streams never finish by themselves: on SIGTERM they get this long, then
        # are closed (clients resume after their last event id). A create cut short
        # leaves nothing visible (see docs/layout.md).
        timeout_graceful_shutdown=5,
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from worker.runtime import ALL_QUEUES, parse_queues  # noqa: PLC0415

    try:
        queues = parse_queues(args.queues) if args.queues is not None else ALL_QUEUES
    except ConfigError as exc:
        sys.stderr.write(f"batchdial: {exc}\n")
        return 2
    if args.child:
        from worker.runtime import run_process  # noqa: PLC0415

        return run_process(settings, args.threads, supervised=True, queues=queues)
    from worker.supervisor import run_workers  # noqa: PLC0415

    try:
        return run_workers(settings, args.processes, args.threads, args.queues)
    except ConfigError as exc:
        sys.stderr.write(f"batchdial: {exc}\n")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``batchdial`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "jobs":
        # A client of the API: the server's settings (and their logging) are not its own.
        return run_jobs(args)
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"batchdial: {exc}\n")
        return 2
    _fill_defaults(args, settings)
    if args.command == "demo":
        return _demo(settings, args)
    configure_logging(settings.log_level)
    return _serve_or_manage(settings, args)


def _serve_or_manage(settings: Settings, args: argparse.Namespace) -> int:
    """``workspace …``, ``api`` or ``worker``, with settings loaded and logging set."""
    if args.command == "workspace":
        if args.ws_command != "create":
            return run_workspace_action(settings, args)
        return _workspace_create(settings, args)
    if args.command == "api":
        return _api(settings, args)
    if args.command == "worker":
        return _worker(settings, args)
    raise AssertionError(f"unknown command {args.command}")  # pragma: no cover


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    """The demo; its log (two lines a dial) goes to a file unless ``--verbose``, so that
    the progress display stays readable (issue 18)."""
    from batchdial.demo import Serve, run_demo  # noqa: PLC0415

    serve = Serve(args.host, args.port) if args.serve else None
    if args.verbose:
        configure_logging(settings.log_level)
        return run_demo(args.rows, args.cap, args.call_seconds, serve=serve)
    path = Path(args.log_file or Path(tempfile.gettempdir()) / "batchdial-demo.log")
    try:
        log = path.open("w", encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"batchdial demo: cannot write the log to {path}: {exc}\n")
        return 2
    with log:
        configure_logging(settings.log_level, json=True, stream=log)
        note = f"log: {path} (--verbose to see it here)"
        return run_demo(args.rows, args.cap, args.call_seconds, serve=serve, log_note=note)
