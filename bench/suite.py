"""The benchmark suite: runs the benchmarks, prints a table, writes RESULTS.md.

``python -m bench`` runs everything (about 10 minutes on 2 cores) and writes
``bench/RESULTS.md``; ``--only NAME[,NAME]`` runs some (and writes RESULTS.md only
with ``--out``); ``--quick`` uses one run and smaller sizes (about 4 minutes).
Benchmarks never assert on speed: they measure, compare with a baseline measured in
the same run, and say whether the target is met.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_REDIS_URL, ROOT, Ctx, Section
from bench.procs import machine_facts
from bench.report import print_table, write_results
from config.logging import configure_logging
from config.redis import make_redis

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PY_SPY_CANDIDATES = ("/tmp/venv-tools/bin/py-spy",)


def _registry() -> dict[str, tuple[str, Callable[[Ctx], Section]]]:
    from bench import (  # noqa: PLC0415 -- heavy imports, once (not for --help)
        append,
        ingest,
        latency,
        memory,
        pacing,
        provider,
        throughput,
        utilisation,
        webhooks,
    )

    return {
        "utilisation": ("1. Slot utilisation", utilisation.bench_utilisation),
        "throughput": (
            "2. Dial throughput, round trips, 6. scale-out",
            throughput.bench_throughput,
        ),
        "ingest": ("3. Ingest", ingest.bench_ingest),
        "memory": ("4. Memory", memory.bench_memory),
        "latency": ("5. Latency: window opening, pause", latency.bench_latency),
        "provider": (
            "7. The provider's side: utilisation and slot refill",
            provider.bench_provider,
        ),
        "pacing": ("8. Pacing accuracy", pacing.bench_pacing),
        "webhooks": (
            "9. Webhooks: deliveries/s, the outbox's cost on dialing",
            webhooks.bench_webhooks,
        ),
        "append": ("10. Append and export (issue 17)", append.bench_append),
    }


ALIASES = {"scaleout": "throughput", "scale-out": "throughput", "window": "latency"}
ORDER = (
    "utilisation",
    "throughput",
    "ingest",
    "memory",
    "latency",
    "provider",
    "pacing",
    "webhooks",
    "append",
)


def find_py_spy() -> str | None:
    """py-spy, if installed (it is never a project dependency)."""
    found = shutil.which("py-spy")
    if found:
        return found
    for candidate in PY_SPY_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


# -- running ----------------------------------------------------------------------
def _sigterm(*_: Any) -> None:
    raise KeyboardInterrupt  # so that every try/finally cleans up its namespace


def main(argv: Sequence[str] | None = None, default_only: str | None = None) -> int:
    """Run the suite (``python -m bench``); returns an exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=default_only,
        help=f"comma-separated benchmarks to run: {', '.join(ORDER)} (scaleout = throughput)",
    )
    parser.add_argument("--quick", action="store_true", help="one run, smaller sizes")
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="runs per figure (default 3; 2 for utilisation, the longest)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile a worker with py-spy (if installed) during a throughput run",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the results (default bench/RESULTS.md for a full run)",
    )
    args = parser.parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    names = [ALIASES.get(n.strip(), n.strip()) for n in (args.only or ",".join(ORDER)).split(",")]
    registry = _registry()
    unknown = [n for n in names if n not in registry]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    names = [n for n in ORDER if n in names]
    out = args.out or (RESULTS if not args.only or set(names) == set(ORDER) else None)
    runs = args.runs or (1 if args.quick else 3)

    configure_logging("WARNING")
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _sigterm)
    client = make_redis(args.redis_url)
    facts = machine_facts(client)
    extra = (" --quick" if args.quick else "") + (f" --runs {args.runs}" if args.runs else "")
    py_spy = find_py_spy() if args.profile else None
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="batchdial-bench-") as tmp:
        ctx = Ctx(
            args.redis_url,
            Path(tmp),
            args.quick,
            runs,
            args.profile,
            py_spy,
            extra,
            runs_given=args.runs is not None,
        )
        ctx.log(f"running {', '.join(names)} ({runs} run(s) each{', quick' if args.quick else ''})")
        sections = _run_all(ctx, names, registry)
        if sections is None:
            return 130
    facts["load"] += f" at start; {' '.join(f'{x:.2f}' for x in _loadavg())} at end"
    facts["suite wall time"] = f"{time.monotonic() - started:.0f} s"
    print()
    print_table(sections)
    if out is not None:
        write_results(out, sections, facts, ctx, argv_list)
        print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if any(s.error for s in sections) else 0


def _run_all(
    ctx: Ctx, names: list[str], registry: dict[str, tuple[str, Callable[[Ctx], Section]]]
) -> list[Section] | None:
    """Run the benchmarks one after the other; a failure is reported, not fatal.
    None when interrupted (every namespace is cleaned up on the way out)."""
    sections: list[Section] = []
    for name in names:
        title, bench = registry[name]
        t0 = time.monotonic()
        ctx.log(f"{name}: start")
        try:
            section = bench(ctx)
        except KeyboardInterrupt:
            ctx.log("interrupted: namespaces cleaned up")
            return None
        except Exception:
            section = Section(name, title, error=traceback.format_exc())
            ctx.log(f"{name}: FAILED\n{section.error}")
        section.seconds = time.monotonic() - t0
        sections.append(section)
        ctx.log(f"{name}: done in {section.seconds:.0f} s")
    return sections


def _loadavg() -> tuple[float, float, float]:
    import os  # noqa: PLC0415

    return os.getloadavg()
