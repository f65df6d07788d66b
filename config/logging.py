"""Logging: structlog, JSON lines off a terminal and readable console output on one.

The standard library's loggers (dramatiq, uvicorn) go through the same processors, so
every line of a process has one shape. Two processors guard what leaves the process:
phone numbers are masked down to their last four digits, and values of keys that
name secrets (api keys, authorization, secrets, signatures) are replaced.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_configured = False
_PHONE = re.compile(r"\+\d{5,15}")
_SECRET_KEYS = re.compile(r"(api_?key|authorization|secret|signature|password|token)", re.I)


def mask_phone(text: str) -> str:
    """``+12125550123`` → ``+*******0123`` wherever a number appears in ``text``."""
    return _PHONE.sub(lambda m: "+" + "*" * (len(m.group()) - 5) + m.group()[-4:], text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, dict):
        return {
            k: "[redacted]" if _SECRET_KEYS.search(str(k)) else _mask(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def scrub(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers and drop secret values."""
    for key, value in list(event.items()):
        if _SECRET_KEYS.search(key):
            event[key] = "[redacted]"
        else:
            event[key] = _mask(value)
    return event


def processors() -> list[Any]:
    """The processors every log line goes through, before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        scrub,
    ]


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's logging once per process; lines go
    to ``stream`` (default: stderr)."""
    global _configured  # noqa: PLW0603 -- configured once per process, by design
    if _configured:
        return
    target = stream if stream is not None else sys.stderr
    use_json = (not target.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(target)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *processors()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    _configured = True
