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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_REDIS_URL, ROOT, Figure, Section, machine_facts
from config.logging import configure_logging
from config.redis import make_redis

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PY_SPY_CANDIDATES = ("/tmp/venv-tools/bin/py-spy",)


@dataclass
class Ctx:
    """What every benchmark gets: where Redis is, how hard to try, where to put files."""

    url: str
    tmp: Path
    quick: bool
    runs: int
    profile: bool
    py_spy: str | None
    extra_args: str = ""
    #: True when --runs was given (utilisation otherwise uses 2 runs, to fit 10 minutes).
    runs_given: bool = False

    def command(self, name: str) -> str:
        """The command that reproduces the figures of benchmark ``name``."""
        return f".venv/bin/python -m bench --only {name}{self.extra_args}"

    def log(self, text: str) -> None:
        """Progress on stderr."""
        sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
        sys.stderr.flush()


def _registry() -> dict[str, tuple[str, Callable[[Ctx], Section]]]:
    from bench import engine, ingest, memory  # noqa: PLC0415 -- heavy imports, once

    return {
        "utilisation": ("1. Slot utilisation", engine.bench_utilisation),
        "throughput": ("2. Dial throughput, round trips, 6. scale-out", engine.bench_throughput),
        "ingest": ("3. Ingest", ingest.bench_ingest),
        "memory": ("4. Memory", memory.bench_memory),
        "latency": ("5. Latency: window opening, pause", engine.bench_latency),
    }


ALIASES = {"scaleout": "throughput", "scale-out": "throughput", "window": "latency"}
ORDER = ("utilisation", "throughput", "ingest", "memory", "latency")


def find_py_spy() -> str | None:
    """py-spy, if installed (it is never a project dependency)."""
    found = shutil.which("py-spy")
    if found:
        return found
    for candidate in PY_SPY_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


# -- output ---------------------------------------------------------------------
def _met(figure: Figure) -> str:
    return {True: "met", False: "NOT met", None: "-"}[figure.met]


def _rows(sections: list[Section]) -> list[list[str]]:
    rows = []
    for section in sections:
        for f in section.figures:
            rows.append(
                [
                    f.label,
                    f.show(),
                    f.target or "-",
                    _met(f),
                    (f"{f.baseline_label}: {f.show_baseline()}" if f.baseline_label else "-"),
                    f"{f.ratio:.2f}" if f.ratio is not None else "-",
                ]
            )
        if section.error:
            rows.append([section.title, "FAILED", "-", "-", section.error.splitlines()[-1], "-"])
    return rows


HEADER = ["figure", "value (median)", "target", "", "baseline (same run)", "ratio"]


def print_table(sections: list[Section]) -> None:
    """The figures as a plain-text table on stdout."""
    rows = [HEADER, *_rows(sections)]
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(len(HEADER))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for i, row in enumerate(rows):
        print("  ".join(cell[:60].ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print(line)
    print(line)


def _paragraphs(lines: list[str]) -> list[str]:
    """Markdown: a blank line between blocks (prose lines, tables, lists, code)."""
    out: list[str] = []
    in_code = False
    previous: str | None = None
    for line in lines:
        if in_code or line.startswith("```"):
            kind: str | None = "code"
        elif line.startswith("|"):
            kind = "table"
        elif line.startswith("- "):
            kind = "list"
        else:
            kind = "prose" if line else None
        joined = kind == previous and kind in ("table", "list", "code")
        if out and out[-1] and kind and not joined:
            out.append("")
        out.append(line)
        if line.startswith("```"):
            in_code = not in_code
        previous = kind
    return out


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def write_results(
    path: Path, sections: list[Section], facts: dict[str, str], ctx: Ctx, argv: Sequence[str]
) -> None:
    """RESULTS.md: machine facts, the table, then each benchmark's details and notes."""
    out = [
        "# Benchmark results",
        "",
        f"Written by `{' '.join(['.venv/bin/python -m bench', *argv])}`"
        " (the README's Benchmarks section says how to run them). Figures are medians of "
        f"{ctx.runs} run(s) ({'the same' if ctx.runs_given else min(ctx.runs, 2)} for "
        "utilisation) unless said otherwise; every baseline was measured in the same run, "
        "on the same machine, interleaved with the figure it is compared with.",
        "",
        "## Machine",
        "",
        "| fact | value |",
        "| --- | --- |",
        *(f"| {k} | {_md_escape(v)} |" for k, v in facts.items()),
        "",
        "The machine is shared: other test suites ran on it and on the same Redis during the "
        "run (see the load averages), so figures move by 10-30 % from run to run; the ratios "
        "against same-run baselines are the steadier numbers.",
        "",
        "## Figures",
        "",
        "| " + " | ".join([*HEADER[:3], "met?", *HEADER[4:]]) + " |",
        "| " + " | ".join("---" for _ in HEADER) + " |",
        *("| " + " | ".join(_md_escape(c) for c in row) + " |" for row in _rows(sections)),
        "",
    ]
    held = [s for s in sections if s.holdback]
    if held:
        out += ["## What holds back the figures not met", ""]
        for section in held:
            out += [f"### {section.title}", "", *_paragraphs(section.holdback), ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        out.append(f"Took {section.seconds:.0f} s.")
        out.append("")
        if section.error:
            out += ["**Failed:**", "", "```", section.error.strip()[-3000:], "```", ""]
        for f in section.figures:
            runs = ", ".join(f"{v:,.{f.digits}f}" for v in f.runs)
            line = f"- **{f.label}**: {f.show()}"
            if runs and len(f.runs) > 1:
                line += f" (runs: {runs})"
            if f.target:
                line += f" (target {f.target}: {_met(f)})"
            if f.baseline_label:
                line += f"; {f.baseline_label}: {f.show_baseline()}"
                if f.ratio is not None:
                    line += f", ratio {f.ratio:.2f}"
            if f.note:
                line += f". {f.note.rstrip('.')}"
            if f.command:
                line += f". Reproduce: `{f.command}`"
            out.append(line)
        if section.figures:
            out.append("")
        out += _paragraphs(section.notes)
        out.append("")
    path.write_text("\n".join(out).rstrip() + "\n")


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
