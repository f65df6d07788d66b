"""Ingest benchmark: create a 100k-row job through a real `batchdial api` process.

Prints rows/s (median of several runs) next to a baseline measured in the same run:
phonenumbers parsing and validating the same numbers in one process, which is the
floor of the work a create must do. Uses its own namespace on the Redis at
BATCHDIAL_REDIS_URL (default 127.0.0.1:6379) and deletes it afterwards.

Reproduce: .venv/bin/python -m bench.ingest [--rows 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import phonenumbers

from config.redis import make_redis
from domain.keys import Keys
from producer.workspaces import Workspaces
from tests.e2e.procs import api_server, env_for


def _numbers(n: int) -> list[str]:
    """``n`` distinct, valid NANP numbers (212-555-0000, 212-555-0001, ...)."""
    out = []
    for ac in (212, 213, 312, 415, 503, 617, 646, 702, 718, 917, 303, 404, 206, 305, 713):
        for ex in (555, 234, 345, 456, 567, 678, 789, 890):
            out += [f"+1{ac}{ex}{i:04d}" for i in range(10_000)]
            if len(out) >= n:
                return out[:n]
    raise ValueError(f"at most {len(out)} numbers")


def _baseline(numbers: list[str]) -> float:
    started = time.perf_counter()
    for text in numbers:
        parsed = phonenumbers.parse(text, None)
        phonenumbers.is_valid_number(parsed)
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return len(numbers) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    namespace = f"bench-{secrets.token_hex(4)}"
    client = make_redis(args.redis_url)
    ws = Workspaces(client, Keys(namespace)).create("bench", 100, ["+12125550100"])
    numbers = _numbers(args.rows)
    body = json.dumps(
        {
            "name": "ingest",
            "callAgentId": "agent",
            "maxConcurrentDials": 10,
            "fromPhoneNumberIds": [ws["phoneNumbers"][0]["id"]],
            "rows": [
                {"toNumber": n, "inputs": {"customer_name": f"Customer {i}", "account_id": f"A{i}"}}
                for i, n in enumerate(numbers)
            ],
        }
    ).encode()
    env = env_for(
        namespace,
        args.redis_url,
        BATCHDIAL_MAX_ROWS_PER_JOB=str(args.rows),
        BATCHDIAL_MAX_BODY_BYTES=str(len(body) + 1024),
        BATCHDIAL_LOG_LEVEL="WARNING",
    )
    rates, baselines = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp, api_server(env, Path(tmp) / "api.log") as base:
            for _ in range(args.runs):
                baselines.append(_baseline(numbers))
                started = time.perf_counter()
                response = httpx.post(
                    f"{base}/api/batch_dial_jobs",
                    content=body,
                    timeout=600,
                    headers={"api_key": ws["apiKey"], "content-type": "application/json"},
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise SystemExit(f"create failed: {response.status_code} {response.text[:500]}")
                rates.append(args.rows / elapsed)
    finally:
        for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            client.delete(key)
    rate, floor = statistics.median(rates), statistics.median(baselines)
    print(f"ingest: {args.rows} rows, body {len(body) / 1e6:.1f} MB, {args.runs} runs")
    print(
        f"  create through HTTP : {rate:10.0f} rows/s (median; runs: "
        f"{', '.join(f'{r:.0f}' for r in rates)})"
    )
    print(f"  baseline phonenumbers parse+validate only: {floor:10.0f} rows/s")
    print(f"  ratio create / baseline: {rate / floor:.2f}")
    print(f"  reproduce: .venv/bin/python -m bench.ingest --rows {args.rows} --runs {args.runs}")


if __name__ == "__main__":
    main()
