"""Append benchmark (issue 17): rows appended to a job through a real `batchdial api`.

For NDJSON and CSV uploads of the same rows: rows/s of the append over HTTP (body
streamed in chunks, as a client sending a file does) next to a baseline measured in
the same run, phonenumbers parsing and validating the same numbers in one thread (the
floor of the work an append must do; the issue's target is >= 0.8 x). The API
process's RSS is sampled during each upload and during a results export of the job
(all rows, NDJSON): the growth over its RSS before is what an upload of this size
costs the API (the issue's bound: <= 100 MiB for 1M rows). Uses its own namespace on
the Redis and deletes it afterwards.

Reproduce: .venv/bin/python -m bench.append [--rows 200000] [--runs 1]
       or: .venv/bin/python -m bench --only append
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import Ctx, Figure, Section, runs_text
from bench.ingest import _baseline
from bench.procs import rss_kb
from bench.scratch import distinct_numbers, scratch

#: The issue's target: append ingest >= this share of the phonenumbers rate.
TARGET_RATIO = 0.8
#: The issue's bound on API RSS growth for a 1M-row upload (MiB).
RSS_BOUND_MIB = 100
#: Rows a body chunk carries (what a client streaming a file sends at a time).
CHUNK_ROWS = 2_000


def ndjson_body(numbers: list[str]) -> Iterator[bytes]:
    for start in range(0, len(numbers), CHUNK_ROWS):
        yield "".join(
            f'{{"toNumber":"{n}","inputs":{{"customer_name":"Customer {i}",'
            f'"account_id":"A{i}"}}}}\n'
            for i, n in enumerate(numbers[start : start + CHUNK_ROWS], start)
        ).encode()


def csv_body(numbers: list[str]) -> Iterator[bytes]:
    yield b"toNumber,customer_name,account_id\n"
    for start in range(0, len(numbers), CHUNK_ROWS):
        yield "".join(
            f"{n},Customer {i},A{i}\n"
            for i, n in enumerate(numbers[start : start + CHUNK_ROWS], start)
        ).encode()


class RssSampler:
    """The peak RSS (kB) of a process while a block runs, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = rss_kb(pid) or 0
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            value = rss_kb(self.pid)
            if value:
                self.peak = max(self.peak, value)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / 1024


def measure(
    url: str, rows: int, runs: int, tmp: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """Appends (NDJSON, CSV) and an export through a real API process."""
    from tests.support.procs import api_process, env_for  # noqa: PLC0415 -- e2e process helpers

    out: dict[str, Any] = {"rates": {"ndjson": [], "csv": []}, "rss": {}, "baselines": []}
    with scratch(url) as s:
        created = s.producer.workspaces.create("bench-append", 100, ["+12125550100"])
        numbers = distinct_numbers(rows)
        env = env_for(
            s.namespace,
            url,
            BATCHDIAL_MAX_ROWS_PER_JOB=str(rows),
            BATCHDIAL_LOG_LEVEL="WARNING",
        )
        headers = {"api_key": created["apiKey"]}
        with api_process(env, tmp / "api.log") as api, httpx.Client(timeout=600) as http:
            pn_id = created["phoneNumbers"][0]["id"]
            body = {
                "name": "append",
                "callAgentId": "agent",
                "maxConcurrentDials": 10,
                "fromPhoneNumberIds": [pn_id],
            }
            for run in range(runs):
                for kind, make, ctype in (
                    ("ndjson", ndjson_body, "application/x-ndjson"),
                    ("csv", csv_body, "text/csv"),
                ):
                    out["baselines"].append(_baseline(numbers))
                    job = http.post(f"{api.base}/api/batch_dial_jobs", json=body, headers=headers)
                    job_id = job.json()["id"]
                    with RssSampler(api.pid) as rss:
                        started = time.perf_counter()
                        answer = http.post(
                            f"{api.base}/api/batch_dial_jobs/{job_id}/rows",
                            content=make(numbers),
                            headers={**headers, "content-type": ctype},
                        )
                        elapsed = time.perf_counter() - started
                    if answer.status_code != 200 or answer.json()["appended"] != rows:
                        raise RuntimeError(
                            f"append failed: {answer.status_code} {answer.text[:300]}"
                        )
                    out["rates"][kind].append(rows / elapsed)
                    out["rss"].setdefault(kind, []).append(rss.growth_mib)
                    log(
                        f"append run {run + 1} {kind}: {rows / elapsed:,.0f} rows/s, "
                        f"API RSS +{rss.growth_mib:.1f} MiB"
                    )
                    if kind == "csv" and run == runs - 1:
                        with RssSampler(api.pid) as rss:
                            started = time.perf_counter()
                            lines = 0
                            with http.stream(
                                "GET",
                                f"{api.base}/api/batch_dial_jobs/{job_id}/results",
                                headers=headers,
                            ) as streamed:
                                for chunk in streamed.iter_bytes():
                                    lines += chunk.count(b"\n")
                            export_s = time.perf_counter() - started
                        out["export"] = {
                            "rate": lines / export_s,
                            "rss": rss.growth_mib,
                            "lines": lines,
                        }
                        rate = lines / export_s
                        log(f"export: {rate:,.0f} rows/s, API RSS +{rss.growth_mib:.1f} MiB")
                    s.client.unlink(*s.keys.job_keys(created["workspaceId"], job_id))
    return out


def bench_append(ctx: Ctx) -> Section:
    """Appends over HTTP (NDJSON, CSV) vs phonenumbers; API RSS of uploads and export."""
    rows = 50_000 if ctx.quick else 200_000
    section = Section("append", "Append (issue 17)")
    got = measure(ctx.url, rows, ctx.runs, ctx.tmp, ctx.log)
    floor = statistics.median(got["baselines"])
    for kind in ("ndjson", "csv"):
        rate = statistics.median(got["rates"][kind])
        section.figures.append(
            Figure(
                label=f"append, {rows // 1000}k rows as {kind.upper()} over HTTP",
                value=rate,
                unit="rows/s",
                digits=0,
                target=f">= {TARGET_RATIO} x phonenumbers",
                met=rate / floor >= TARGET_RATIO,
                baseline_label="phonenumbers parse+validate",
                baseline=floor,
                ratio=rate / floor,
                runs=got["rates"][kind],
                command=ctx.command("append"),
                note=f"API RSS growth during the upload: {runs_text(got['rss'][kind], 1)} MiB",
            )
        )
    export = got["export"]
    section.notes.append(
        f"Results export of {export['lines']:,} rows (NDJSON): {export['rate']:,.0f} rows/s, "
        f"API RSS growth {export['rss']:.1f} MiB. The upload's RSS does not grow with the "
        f"rows (one chunk of {CHUNK_ROWS:,} rows is held at a time), so a 1M-row upload is "
        f"bounded the same way (<= {RSS_BOUND_MIB} MiB wanted); it needs "
        "BATCHDIAL_MAX_ROWS_PER_JOB=1000000 and about 5x the time above."
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        got = measure(args.url, args.rows, args.runs, Path(tmp), print)
    floor = statistics.median(got["baselines"])
    for kind in ("ndjson", "csv"):
        rate = statistics.median(got["rates"][kind])
        print(f"{kind}: {rate:,.0f} rows/s = {rate / floor:.2f} x phonenumbers ({floor:,.0f}/s)")


if __name__ == "__main__":
    main()
