"""The suite's output: the table on stdout and ``bench/RESULTS.md``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.common import Ctx, Figure, Section


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
        " (docs/benchmarks.md says how to run them). Figures are medians of "
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
