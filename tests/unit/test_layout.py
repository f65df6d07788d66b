"""The layout tells the architecture: checked, so that it stays true."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["batchdial", "config", "domain", "producer", "worker", "bench"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_producer_never_imports_the_worker() -> None:
    """The producer (and config, domain) stand without the worker."""
    for package in ("producer", "config", "domain"):
        for module in _modules(package):
            assert "worker" not in _imports(module), f"{module} imports the worker"


def test_domain_and_config_do_not_import_the_producer() -> None:
    """Shared code depends on nothing above it."""
    for package in ("config", "domain"):
        for module in _modules(package):
            assert not _imports(module) & {"producer", "worker", "batchdial"}, module


def test_no_module_is_over_600_lines() -> None:
    """Modules stay small enough to read in one sitting."""
    for package in PACKAGES:
        for module in _modules(package):
            lines = len(module.read_text(encoding="utf-8").splitlines())
            assert lines <= 600, f"{module} has {lines} lines"


def test_every_lua_script_has_a_header() -> None:
    """Each Lua script opens with a comment block naming itself, then its KEYS, its ARGV
    and its return shape, in that order; a script's return line names the type of
    domain/protocol.py (or domain/protocol_rows.py) that parses it."""
    from domain import protocol, protocol_rows

    parsers = {"protocol": protocol, "protocol_rows": protocol_rows}

    scripts = sorted((ROOT / "domain" / "lua").rglob("*.lua"))
    assert {script.parent.name for script in scripts} == {"lua", "job", "engine"}
    for package in PACKAGES:
        for script in (ROOT / package).rglob("*.lua"):
            assert script.is_relative_to(ROOT / "domain" / "lua"), f"{script}: not in domain/lua"
    for script in scripts:
        lines = script.read_text(encoding="utf-8").split("\n")
        header = []
        for line in lines:
            if not line.startswith("--"):
                break
            header.append(line)
        assert header and header[0].startswith(f"-- {script.name}: "), script
        starts = {
            word: next((i for i, line in enumerate(header) if line.startswith(f"-- {word}")), -1)
            for word in ("KEYS:", "ARGV:", "Returns")
        }
        assert -1 < starts["KEYS:"] < starts["ARGV:"] < starts["Returns"], (script, starts)
        returns = header[starts["Returns"]]
        if script.name == "_lib.lua":
            assert returns.startswith("-- Returns: nothing"), script
            continue
        named = returns.removeprefix("-- Returns (").partition("):")[0]
        assert named and returns.startswith("-- Returns ("), (script, returns)
        for part in named.split(" | "):
            module, _, name = part.partition(".")
            assert module in parsers, (script, part)
            assert hasattr(parsers[module], name), (script, part)


def test_key_names_live_in_one_module() -> None:
    """No module but domain/keys.py builds namespace-prefixed key strings."""
    for package in PACKAGES:
        for module in _modules(package):
            if module.name == "keys.py":
                continue
            if module.relative_to(ROOT).as_posix() == "bench/dramatiq_baseline.py":
                # The baseline is plain dramatiq, not batchdial: its rate limiter's key is
                # dramatiq's, in a scratch namespace of its own.
                continue
            text = module.read_text(encoding="utf-8")
            assert 'f"{self.namespace}' not in text, module
            assert 'f"{namespace}:' not in text, module
