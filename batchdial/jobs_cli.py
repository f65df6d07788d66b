"""``batchdial jobs …``: batch dial jobs over the HTTP API, for people and for scripts
(:data:`EXIT_CODES` says what each exit code means; docs/cli.md is the guide)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from batchdial.client import ApiError, Client, Retries
from batchdial.csv_rows import CsvError, read_rows, strip_lines, with_line
from batchdial.schedule_text import ScheduleTextError, describe_schedule, parse_schedule
from batchdial.watch import forecast_line, summary_line, watch

OK, REFUSED, USAGE, CANCELLED, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 4, 130

EXIT_CODES = """exit codes (every jobs command):
  0    done (watch: the job is COMPLETE)
  1    the API refused the request (its message and every detail on stderr)
  2    bad usage or input (a flag, the CSV, the schedule, no API key)
  3    watch: the job was CANCELLED
  4    the API could not be reached (after retries)
  130  interrupted (Ctrl-C)

settings: --api-url / BATCHDIAL_API_URL, --api-key / BATCHDIAL_API_KEY"""
DEFAULT_API_URL = "http://127.0.0.1:8000"
#: A person's command rides out an API restart: about 4-8 s of retries in all.
CLI_RETRIES = Retries(attempts=6)


Command = Callable[[Client, argparse.Namespace], int]


class UsageError(Exception):
    """Raised for bad input given to a ``jobs`` command (exit code 2)."""


def add_jobs_parser(sub: Any) -> None:
    """Add ``jobs`` and its commands to the ``batchdial`` parser's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        default=os.environ.get("BATCHDIAL_API_URL", DEFAULT_API_URL),
        help=f"the API (BATCHDIAL_API_URL, default {DEFAULT_API_URL})",
    )
    common.add_argument(
        "--api-key",
        default=os.environ.get("BATCHDIAL_API_KEY"),
        help="the workspace's API key (BATCHDIAL_API_KEY)",
    )
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    jobs = sub.add_parser(
        "jobs",
        help="create, follow and steer jobs over the HTTP API",
        description="Batch dial jobs over the HTTP API, for people and (--json) scripts.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmds = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")

    create = cmds.add_parser("create", parents=[common], help="create a job from a CSV")
    create.add_argument(
        "--csv",
        required=True,
        metavar="FILE",
        help="the rows: a toNumber column, optional externalId and timezone, one column "
        "per input (- reads stdin)",
    )
    create.add_argument("--name", help="the job's name (default: the CSV file's name)")
    create.add_argument("--agent", required=True, metavar="ID", help="callAgentId")
    create.add_argument("--cap", required=True, type=int, metavar="N", help="maxConcurrentDials")
    create.add_argument(
        "--pool",
        action="append",
        required=True,
        metavar="PN_ID",
        help="a caller-ID number: its id (pn_…) or its E.164 form (repeat for several)",
    )
    create.add_argument(
        "--schedule",
        metavar="TEXT",
        help="'Mon-Fri 09:00-17:00 America/New_York' or the API's JSON (none: any time)",
    )
    create.add_argument("--timezone", metavar="TZ", help="the schedule's IANA timezone")
    create.add_argument("--start", action="store_true", help="start it at once")

    cmds.add_parser("list", parents=[common], help="the workspace's jobs, newest first")
    for name, text in (
        ("get", "one job: state, counts, schedule, forecast"),
        ("start", "start an INIT job"),
        ("pause", "pause an ACTIVE job"),
        ("resume", "resume a PAUSED job"),
        ("cancel", "cancel a job (terminal)"),
    ):
        cmds.add_parser(name, parents=[common], help=text).add_argument("job")

    append = cmds.add_parser("append", parents=[common], help="append the rows of a CSV")
    append.add_argument("job")
    append.add_argument("--csv", required=True, metavar="FILE")

    watching = cmds.add_parser(
        "watch", parents=[common], help="live progress until the job ends (exit 0 / 3)"
    )
    watching.add_argument("job")
    watching.add_argument("--interval", type=float, default=1.0, help="seconds between reads")

    export = cmds.add_parser("export", parents=[common], help="write the job's results")
    export.add_argument("job")
    export.add_argument("--format", choices=("csv", "ndjson"), default=None)
    export.add_argument("-o", "--output", metavar="FILE", help="the file (default: stdout)")

    retry = cmds.add_parser("retry", parents=[common], help="dial rows with these outcomes again")
    retry.add_argument("job")
    retry.add_argument(
        "--outcome",
        action="append",
        required=True,
        metavar="OUTCOME",
        help="e.g. no-answer, busy, failed (repeat for several)",
    )


def run_jobs(args: argparse.Namespace) -> int:
    """Run one ``jobs`` command; its exit code."""
    try:
        if not args.api_key:
            raise UsageError("no API key: give --api-key or set BATCHDIAL_API_KEY")
        with Client(args.api_url, api_key=args.api_key, retries=CLI_RETRIES) as client:
            return _COMMANDS[args.jobs_command](client, args)
    except UsageError as exc:
        sys.stderr.write(f"batchdial jobs {args.jobs_command}: {exc}\n")
        return USAGE
    except ApiError as exc:
        return _refused(args, exc)
    except KeyboardInterrupt:
        return INTERRUPTED


def _refused(args: argparse.Namespace, exc: ApiError, lines: list[int] | None = None) -> int:
    if lines is not None:
        for detail in exc.details:
            if isinstance(detail.get("path"), str):
                detail["path"] = with_line(detail["path"], lines, args.csv)
    if args.json:
        error = {"status": exc.status, "code": exc.code, "message": exc.message}
        _print_json({"error": {**error, "details": exc.details}})
    prefix = f"{exc.status} {exc.code}" if exc.status else exc.code
    sys.stderr.write(f"batchdial jobs {args.jobs_command}: {prefix}: {exc.describe()}\n")
    return UNREACHABLE if exc.status == 0 else REFUSED


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _pool(client: Client, pool: list[str]) -> list[str]:
    """Pool ids, E.164 numbers among them turned into their ids."""
    if not any(p.startswith("+") for p in pool):
        return pool
    numbers = {n["number"]: n["id"] for n in client.workspace().get("phoneNumbers", [])}
    unknown = [p for p in pool if p.startswith("+") and p not in numbers]
    if unknown:
        raise UsageError(
            f"--pool {unknown[0]} is not a number of this workspace "
            f"(its numbers: {', '.join(numbers) or 'none'})"
        )
    return [numbers.get(p, p) for p in pool]


def _create(client: Client, args: argparse.Namespace) -> int:
    try:
        rows, lines = strip_lines(read_rows(_read(args.csv), args.csv))
        schedule = parse_schedule(args.schedule, args.timezone) if args.schedule else None
    except (CsvError, ScheduleTextError) as exc:
        raise UsageError(str(exc)) from None
    if not rows:
        # An empty job would complete the moment it starts: say so instead (issue 18).
        raise UsageError(f"{args.csv} has no rows: nothing to dial (add a line per number)")
    if args.timezone and not args.schedule:
        raise UsageError("--timezone is the schedule's: give --schedule too")
    body: dict[str, Any] = {
        "name": args.name or (Path(args.csv).stem if args.csv != "-" else "rows from stdin"),
        "callAgentId": args.agent,
        "maxConcurrentDials": args.cap,
        "fromPhoneNumberIds": _pool(client, args.pool),
        "rows": rows,
    }
    if schedule is not None:
        body["schedule"] = schedule
    try:
        job = client.create_job(body)
    except ApiError as exc:
        return _refused(args, exc, lines)
    if args.start:
        job = client.start_job(job["id"])
    if args.json:
        _print_json(job)
    else:
        sys.stdout.write(job["id"] + "\n")
    return OK


def _list(client: Client, args: argparse.Namespace) -> int:
    jobs = list(client.list_jobs())
    if args.json:
        _print_json(jobs)
        return OK
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "NAME", "STATUS", "FINISHED", "IN PROGRESS", "QUEUED", "CREATED"):
        table.add_column(column, no_wrap=column != "NAME")
    for job in jobs:
        c = job["counts"]
        table.add_row(
            job["id"],
            job["name"],
            job["status"],
            f"{c['finished']}/{c['rows']}",
            f"{c['inProgress']}/{job['maxConcurrentDials']}",
            str(c["queued"]),
            job["createdAt"],
        )
    _console().print(table if jobs else "no jobs yet: batchdial jobs create --csv …")
    return OK


def _console() -> Console:
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)


def _forecast(client: Client, job: dict[str, Any]) -> dict[str, Any] | None:
    if job["status"] in {"COMPLETE", "CANCELLED"}:
        return None
    try:
        return client.forecast(job["id"])
    except ApiError as exc:
        if exc.status == 0:
            raise
        return None  # an API without forecasts: the rest still shows


def _get(client: Client, args: argparse.Namespace) -> int:
    job = client.get_job(args.job)
    forecast = _forecast(client, job)
    if args.json:
        _print_json({**job, "forecast": forecast} if forecast else job)
        return OK
    lines = [
        f"{job['id']}  {job['name']}",
        f"  {summary_line(job)}",
        f"  agent {job['callAgentId']}, cap {job['maxConcurrentDials']}, "
        f"pool {', '.join(job['fromPhoneNumberIds'])}",
        f"  schedule: {describe_schedule(job.get('schedule'))}",
        f"  created {job['createdAt']}"
        + (f", started {job['startedAt']}" if job.get("startedAt") else "")
        + (f", completed {job['completedAt']}" if job.get("completedAt") else "")
        + (f", cancelled {job['cancelledAt']}" if job.get("cancelledAt") else ""),
    ]
    if job.get("pendingConfig"):
        lines.append(f"  staged (applies at the next pause): {json.dumps(job['pendingConfig'])}")
    if forecast:
        assumes = f" if {forecast['assumes']}" if forecast.get("assumes") else ""
        lines.append(f"  {forecast_line(forecast)}{assumes}")
        for day in (forecast.get("days") or [])[:7]:
            lines.append(f"    {day['date']}  {float(day['dialingHours']):.1f} h of dialing")
    sys.stdout.write("\n".join(lines) + "\n")
    return OK


def _command(name: str) -> Command:
    def run(client: Client, args: argparse.Namespace) -> int:
        job: dict[str, Any] = getattr(client, f"{name}_job")(args.job)
        if args.json:
            _print_json(job)
        else:
            sys.stdout.write(f"{job['id']} {job['status']}\n")
        return OK

    return run


def _append(client: Client, args: argparse.Namespace) -> int:
    answer = client.append_rows(args.job, csv=_read(args.csv).encode())
    if args.json:
        _print_json(answer)
    else:
        sys.stdout.write(
            f"appended {answer.get('appended', 0)}, duplicates {answer.get('duplicates', 0)}, "
            f"rows now {answer.get('rows', '?')}\n"
        )
    return OK


def _watch(client: Client, args: argparse.Namespace) -> int:
    return watch(client, args.job, interval_s=args.interval, as_json=args.json)


def _export(client: Client, args: argparse.Namespace) -> int:
    fmt: Literal["csv", "ndjson"] = args.format or (
        "ndjson" if args.json and not args.output else "csv"
    )
    if args.output:
        with Path(args.output).open("wb") as out:
            written = client.export_results(args.job, out, format=fmt)
        if args.json:
            _print_json({"jobId": args.job, "format": fmt, "file": args.output, "bytes": written})
        else:
            sys.stderr.write(f"wrote {written} bytes of {fmt} to {args.output}\n")
        return OK
    client.export_results(args.job, sys.stdout.buffer, format=fmt)
    sys.stdout.flush()
    return OK


def _retry(client: Client, args: argparse.Namespace) -> int:
    answer = client.retry_job(args.job, args.outcome)
    if args.json:
        _print_json(answer)
    else:
        sys.stdout.write(json.dumps(answer) + "\n")
    return OK


_COMMANDS: dict[str, Command] = {
    "create": _create,
    "list": _list,
    "get": _get,
    "start": _command("start"),
    "pause": _command("pause"),
    "resume": _command("resume"),
    "cancel": _command("cancel"),
    "append": _append,
    "watch": _watch,
    "export": _export,
    "retry": _retry,
}
