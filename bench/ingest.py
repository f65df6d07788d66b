"""Ingest benchmark: create a 100k-row job through a real `batchdial api` process.

Rows/s (median of several runs) next to a baseline measured in the same run:
phonenumbers parsing and validating the same numbers in one process, which is the
floor of the work a create must do. Then where the time goes: the same create
in-process, timed by stage (validation, row encoding, Redis writes), and a cProfile.
Uses its own namespace on the Redis and deletes it afterwards.

Reproduce: .venv/bin/python -m bench.ingest [--rows 100000] [--runs 3]
       or: .venv/bin/python -m bench --only ingest
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import re
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
import redis

from bench.common import Ctx, Figure, Section, median, runs_text
from bench.profiling import py_spy, summarize_pyspy
from bench.scratch import Scratch, distinct_numbers, scratch
from producer.service import Producer
from producer.validation import Limits

TARGET = 25_000


def _baseline(numbers: list[str]) -> float:
    """Rows/s of phonenumbers' own parse + validate + format (E.164), one process."""
    started = time.perf_counter()
    for text in numbers:
        parsed = phonenumbers.parse(text, None)
        phonenumbers.is_valid_number(parsed)
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return len(numbers) / (time.perf_counter() - started)


def job_body(numbers: list[str], pn_id: str, inputs: bool = True) -> bytes:
    """The JSON body of a create, every row with two inputs (like the README's example)."""
    return json.dumps(
        {
            "name": "ingest",
            "callAgentId": "agent",
            "maxConcurrentDials": 10,
            "fromPhoneNumberIds": [pn_id],
            "rows": [
                {"toNumber": n, "inputs": {"customer_name": f"Customer {i}", "account_id": f"A{i}"}}
                if inputs
                else {"toNumber": n}
                for i, n in enumerate(numbers)
            ],
        }
    ).encode()


def _api_pid(port: int) -> int | None:
    """The pid of the ``batchdial api --port PORT`` process (from /proc)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"batchdial" in args and b"api" in args and str(port).encode() in args:
            return int(cmdline.parent.name)
    return None


def measure_http(
    url: str, rows: int, runs: int, tmp: Path, *, log: Any = None, spy: str | None = None
) -> dict[str, Any]:
    """Creates through a real API process, each followed by a baseline measurement."""
    from tests.support.procs import api_server, env_for  # noqa: PLC0415 -- e2e process helpers

    with scratch(url) as s:
        created = s.producer.workspaces.create("bench-ingest", 100, ["+12125550100"])
        numbers = distinct_numbers(rows)
        ws_id, pn_id = created["workspaceId"], created["phoneNumbers"][0]["id"]
        body = job_body(numbers, pn_id)
        env = env_for(
            s.namespace,
            url,
            BATCHDIAL_MAX_ROWS_PER_JOB=str(rows),
            BATCHDIAL_MAX_BODY_BYTES=str(len(body) + 1024),
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        rates: list[float] = []
        baselines: list[float] = []
        with api_server(env, tmp / "api.log") as base, httpx.Client(timeout=600) as http:
            for run in range(runs):
                baselines.append(_baseline(numbers))
                started = time.perf_counter()
                response = http.post(
                    f"{base}/api/batch_dial_jobs",
                    content=body,
                    headers={"api_key": created["apiKey"], "content-type": "application/json"},
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise RuntimeError(
                        f"create failed: {response.status_code} {response.text[:500]}"
                    )
                rates.append(rows / elapsed)
                if log:
                    log(f"ingest run {run + 1}: {rows / elapsed:,.0f} rows/s over HTTP")
                # Drop the job's rows at once (the namespace goes at the end anyway).
                job = response.json()["id"]
                s.client.unlink(*s.keys.job_keys(ws_id, job))
            profile: list[str] = []
            pid = _api_pid(int(base.rsplit(":", 1)[1])) if spy else None
            if spy and pid:
                if log:
                    log("ingest: one more create, under py-spy")
                out = tmp / "api.pyspy.txt"
                with py_spy(spy, pid, rows / median(rates) + 1, out):
                    response = http.post(
                        f"{base}/api/batch_dial_jobs",
                        content=body,
                        headers={"api_key": created["apiKey"], "content-type": "application/json"},
                    )
                profile = summarize_pyspy(out, f"the API process during a {rows:,}-row create")
    return {
        "rates": rates,
        "baselines": baselines,
        "body_mb": len(body) / 1e6,
        "profile": profile,
    }


def _timed_client(url: str, clock: dict[str, float]) -> redis.Redis:
    """A Redis client that adds the time spent in each command and pipeline to
    ``clock["redis"]`` (send, wait, parse: everything a create spends on Redis)."""

    class Timed(redis.Redis):
        def execute_command(self, *args: Any, **options: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
            finally:
                clock["redis"] += time.perf_counter() - t0

        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
            pipe = super().pipeline(transaction, shard_hint)
            inner = pipe.execute

            def execute(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return inner(*args, **kwargs)
                finally:
                    clock["redis"] += time.perf_counter() - t0

            pipe.execute = execute  # type: ignore[method-assign]
            return pipe

    return Timed.from_url(url, decode_responses=True)


@contextmanager
def _stage_clocks(clock: dict[str, float]) -> Iterator[None]:
    """Time producer.jobs' validation and row encoding while a create runs (wrapping
    them in this process only; the product code is unchanged)."""
    from producer import jobs  # noqa: PLC0415

    parse, encode = jobs._parse, jobs.encode_row

    def timed_parse(*args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return parse(*args)
        finally:
            clock["validate"] += time.perf_counter() - t0

    def timed_encode(*args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return encode(*args)
        finally:
            clock["encode"] += time.perf_counter() - t0

    jobs._parse, jobs.encode_row = timed_parse, timed_encode  # type: ignore[assignment]
    try:
        yield
    finally:
        jobs._parse, jobs.encode_row = parse, encode


def measure_stages(s: Scratch, rows: int, repeats: int) -> dict[str, Any]:
    """The create in this process, timed by stage (median of ``repeats``; seconds for
    ``rows``), next to phonenumbers alone and json.loads of the body; then a cProfile."""
    created = s.producer.workspaces.create("bench-stages", 100, ["+12125550100"])
    ws_id, pn_id = created["workspaceId"], created["phoneNumbers"][0]["id"]
    numbers = distinct_numbers(rows)
    body = job_body(numbers, pn_id)
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        clock = {"redis": 0.0, "validate": 0.0, "encode": 0.0}
        client = _timed_client(s.url, clock)
        producer = Producer(client, s.namespace, Limits(max_rows=rows))
        with _stage_clocks(clock):
            t0 = time.perf_counter()
            job = producer.create_job(ws_id, body)["id"]
            total = time.perf_counter() - t0
        client.close()
        s.client.unlink(*s.keys.job_keys(ws_id, job))
        times["total"].append(total)
        for name, spent in clock.items():
            times[name].append(spent)
        times["rest"].append(total - sum(clock.values()))
        times["phonenumbers"].append(rows / _baseline(numbers))
        t0 = time.perf_counter()
        json.loads(body)
        times["json_parse"].append(time.perf_counter() - t0)
    stages: dict[str, Any] = {k: median(v) for k, v in times.items()}

    profiler = cProfile.Profile()
    profiler.enable()
    job = s.producer.create_job(ws_id, body)["id"]
    profiler.disable()
    s.client.unlink(*s.keys.job_keys(ws_id, job))
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    stages["profile"] = text.getvalue()
    return stages


def bench_ingest(ctx: Ctx) -> Section:
    """Figure 3: rows/s of a 100k-row create over HTTP vs phonenumbers' own rate."""
    rows = 20_000 if ctx.quick else 100_000
    section = Section("ingest", "3. Ingest")
    http = measure_http(ctx.url, rows, ctx.runs, ctx.tmp, log=ctx.log, spy=ctx.py_spy)
    stage_rows = min(rows, 30_000)
    ctx.log(f"ingest: in-process stages ({stage_rows:,} rows) and cProfile")
    with scratch(ctx.url) as s:
        st = measure_stages(s, stage_rows, 1 if ctx.quick else 2)
    rate, floor = median(http["rates"]), median(http["baselines"])
    section.figures.append(
        Figure(
            label=f"ingest, {rows // 1000}k-row create over HTTP",
            value=rate,
            unit="rows/s",
            digits=0,
            target=f">= {TARGET:,} rows/s",
            met=rate >= TARGET,
            baseline_label="phonenumbers parse+validate",
            baseline=floor,
            ratio=rate / floor,
            runs=http["rates"],
            command=ctx.command("ingest"),
            note=(
                f"body {http['body_mb']:.1f} MB (two inputs per row); baseline runs "
                f"{runs_text(http['baselines'])} rows/s"
            ),
        )
    )
    http_us = 1e6 / rate
    us = {k: v / stage_rows * 1e6 for k, v in st.items() if isinstance(v, float)}
    parts = [
        ("validation: JSON parse + pydantic model + every rule", us["validate"]),
        ("  for scale: phonenumbers parse+validate alone", us["phonenumbers"]),
        ("  for scale: json.loads of the same body", us["json_parse"]),
        ("row encoding (json.dumps per row)", us["encode"]),
        ("Redis: pipelined writes (chunks of 5,000), commit script, reads", us["redis"]),
        ("the rest (building the chunks, job id, view)", us["rest"]),
        ("in-process create, total", us["total"]),
        ("HTTP layer: API process, body, response (HTTP - in-process)", http_us - us["total"]),
        ("create over HTTP (median above)", http_us),
    ]
    section.notes += [
        f"Where the time of a create goes, per row: the in-process create timed by stage "
        "(validation and row encoding wrapped with a clock, every Redis command and "
        f"pipeline timed by the client; no profiler) on {stage_rows:,} rows, median of "
        f"{1 if ctx.quick else 2} (the stages are linear in the rows), next to the HTTP "
        "create's median above:",
        "",
        "| stage | us per row | share of the HTTP create |",
        "| --- | --- | --- |",
        *(f"| {name} | {v:.1f} | {v / http_us:.0%} |" for name, v in parts),
        "",
        "cProfile of the in-process create (top 12 by own time; the profiler inflates "
        "many small calls such as phonenumbers'):",
        "",
        "```",
        *_trim_profile(str(st["profile"])),
        "```",
        "",
        *http["profile"],
    ]
    if rate < TARGET:
        section.holdback = [
            f"- phonenumbers alone parses and validates {floor:,.0f} numbers/s in one "
            "thread on this CPU: that is the ceiling of any create that validates each "
            f"number in one thread, {'below' if floor < TARGET else 'not far above'} the "
            f"{TARGET:,} target. The create runs in one thread of the API process.",
            f"- In the create, validation takes {us['validate']:.0f} of {us['total']:.0f} us "
            f"per row in-process ({us['validate'] / us['total']:.0%}): phonenumbers "
            f"({us['phonenumbers']:.0f} us alone), the JSON parse with its duplicate-key "
            "check, pydantic's model with the inputs rules; Redis writes "
            f"{us['redis']:.0f} us per row ({us['redis'] / us['total']:.0%}, mostly "
            "redis-py packing 5,000-field HSETs in Python), row encoding "
            f"{us['encode']:.0f} us; "
            + (
                f"the HTTP layer adds {http_us - us['total']:.0f} us."
                if http_us > us["total"]
                else "the HTTP layer's own cost is within the noise (the HTTP create was "
                "faster than the in-process one)."
            ),
            "- Reaching 25k rows/s on this machine needs the number checks off the single "
            "thread (several processes, or a cheaper check than a full parse for numbers "
            "that are already E.164); the other stages are an order of magnitude smaller.",
        ]
    return section


def _trim_profile(text: str) -> list[str]:
    lines = text.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    out = []
    for line in lines[start:]:
        if line.strip():
            short = re.sub(r"/\S*/site-packages/", "", line)
            out.append(re.sub(r"/\S*/lib/python3\.\d+/", "", short).rstrip()[:140])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure_http(args.redis_url, args.rows, args.runs, Path(tmp))
    rates, baselines = result["rates"], result["baselines"]
    rate, floor = statistics.median(rates), statistics.median(baselines)
    print(f"ingest: {args.rows} rows, body {result['body_mb']:.1f} MB, {args.runs} runs")
    print(f"  create through HTTP : {rate:10.0f} rows/s (median; runs: {runs_text(rates)})")
    print(f"  baseline phonenumbers parse+validate only: {floor:10.0f} rows/s")
    print(f"  ratio create / baseline: {rate / floor:.2f}")
    print(f"  target >= {TARGET} rows/s: {'met' if rate >= TARGET else 'NOT met'}")
    print(f"  reproduce: .venv/bin/python -m bench.ingest --rows {args.rows} --runs {args.runs}")


if __name__ == "__main__":
    main()
