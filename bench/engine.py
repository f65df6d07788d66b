"""``python -m bench.engine``: the engine benchmarks of the suite (utilisation,
throughput, latency), each in a module of its own; the same as
``python -m bench --only utilisation,throughput,latency``."""

from __future__ import annotations

from bench.suite import main as suite_main


def main() -> None:
    """Run the engine benchmarks with the suite's options."""
    raise SystemExit(suite_main(default_only="utilisation,throughput,latency"))


if __name__ == "__main__":
    main()
