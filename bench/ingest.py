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
from pathlib import Path
from typing import Any

import httpx
import phonenumbers

from bench.common import Figure, Scratch, Section, distinct_numbers, median, runs_text, scratch
from bench.suite import Ctx

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


def measure_http(url: str, rows: int, runs: int, tmp: Path, log: Any = None) -> dict[str, Any]:
    """Creates through a real API process, each followed by a baseline measurement."""
    from tests.e2e.procs import api_server, env_for  # noqa: PLC0415 -- e2e process helpers

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
                s.client.unlink(*s.keys.script_keys(ws_id, job)[:10])
    return {"rates": rates, "baselines": baselines, "body_mb": len(body) / 1e6}


def measure_stages(s: Scratch, rows: int, repeats: int) -> dict[str, Any]:
    """The same create in this process, timed by stage without a profiler (median of
    ``repeats``, in seconds per ``rows``), then once under cProfile."""
    from producer.jobs import _parse, encode_row  # noqa: PLC0415 -- timing its stages
    from producer.models import JobCreate  # noqa: PLC0415

    created = s.producer.workspaces.create("bench-stages", 100, ["+12125550100"])
    ws_id, pn_id = created["workspaceId"], created["phoneNumbers"][0]["id"]
    numbers = distinct_numbers(rows)
    body = job_body(numbers, pn_id)
    context = s.producer._commands._context(ws_id)
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        t0 = time.perf_counter()
        spec = _parse(JobCreate, body, context)
        t1 = time.perf_counter()
        for row in spec.rows:
            encode_row(row.toNumber, row.inputs)
        t2 = time.perf_counter()
        del spec
        json.loads(body)
        t3 = time.perf_counter()
        job = s.producer.create_job(ws_id, body)["id"]
        t4 = time.perf_counter()
        s.client.unlink(*s.keys.script_keys(ws_id, job)[:10])
        times["validate"].append(t1 - t0)
        times["encode"].append(t2 - t1)
        times["json_parse"].append(t3 - t2)
        times["total"].append(t4 - t3)
        times["phonenumbers"].append(rows / _baseline(numbers))
    stages: dict[str, Any] = {k: median(v) for k, v in times.items()}
    stages["redis"] = max(0.0, stages["total"] - stages["validate"] - stages["encode"])

    profiler = cProfile.Profile()
    profiler.enable()
    job = s.producer.create_job(ws_id, body)["id"]
    profiler.disable()
    s.client.unlink(*s.keys.script_keys(ws_id, job)[:10])
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    stages["profile"] = text.getvalue()
    return stages


def bench_ingest(ctx: Ctx) -> Section:
    """Figure 3: rows/s of a 100k-row create over HTTP vs phonenumbers' own rate."""
    rows = 20_000 if ctx.quick else 100_000
    section = Section("ingest", "3. Ingest")
    http = measure_http(ctx.url, rows, ctx.runs, ctx.tmp, ctx.log)
    stage_rows = min(rows, 30_000)
    ctx.log(f"ingest: in-process stages ({stage_rows:,} rows) and cProfile")
    with scratch(ctx.url) as s:
        st = measure_stages(s, stage_rows, 1 if ctx.quick else 3)
    scale = rows / stage_rows  # the stages are linear in the rows
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
        ("validation (pydantic model, every rule)", us["validate"]),
        ("  of which phonenumbers parse+validate alone", us["phonenumbers"]),
        ("  for scale: json.loads of the same body", us["json_parse"]),
        ("row encoding (json.dumps per row)", us["encode"]),
        ("Redis writes (pipelined chunks of 5,000), commit, the rest", us["redis"]),
        ("in-process create, total", us["total"]),
        ("HTTP layer: API process, body, response (HTTP - in-process)", http_us - us["total"]),
        ("create over HTTP (median above)", http_us),
    ]
    section.notes += [
        f"Where the time of a create goes, per row: in-process stages timed without a "
        f"profiler on {stage_rows:,} rows (median of {1 if ctx.quick else 3}; linear in the "
        f"rows, x{scale:g} for the {rows:,}-row job), HTTP from the median above:",
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
