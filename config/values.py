"""What the text of a setting means: the parsers and checks of values that are more
than a number or a word (outcome weights, retry schedules, URL templates), shared by
:mod:`config.settings` and the tests."""

from __future__ import annotations

from urllib.parse import urlsplit

#: Dial statuses a simulated call may end with.
SIMULATED_STATUSES = (
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "voicemail",
    "opted-out",
)


def url_template(value: str, schemes: tuple[str, ...], what: str) -> str:
    """``value`` if it is a URL template of ``schemes`` whose only placeholders are
    ``{callAgentId}`` and ``{dialId}``; else the error saying ``what`` it must be."""
    try:
        filled = value.format(callAgentId="agent", dialId="dial")
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            "a URL template whose only placeholders are {callAgentId} and {dialId}"
        ) from None
    parts = urlsplit(filled)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(what)
    return value


def parse_outcome_weights(text: str) -> dict[str, float]:
    """Parse ``completed=70,no-answer=20`` into ``{"completed": 70.0, ...}``."""
    weights: dict[str, float] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in SIMULATED_STATUSES:
            raise ValueError(
                f"expected status=weight pairs separated by commas, statuses among "
                f"{', '.join(SIMULATED_STATUSES)}; got {part!r}"
            )
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"weight of {name!r} is not a number: {value!r}") from None
        if weight < 0:
            raise ValueError(f"weight of {name!r} must be >= 0, got {weight}")
        weights[name] = weight
    if not weights or sum(weights.values()) <= 0:
        raise ValueError("at least one outcome needs a positive weight")
    return weights


#: Default of BATCHDIAL_WEBHOOK_RETRY_SECONDS: about 25 h in all over 7 retries.
DEFAULT_WEBHOOK_RETRY_SECONDS = "5,300,1800,7200,18000,36000,36000"


def parse_retry_seconds(text: str) -> tuple[int, ...]:
    """``5,300,1800`` -> ``(5, 300, 1800)``: whole seconds 0..604800, at least one."""
    out: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part.isdigit() or int(part) > 604_800:
            raise ValueError(
                f"expected whole seconds 0..604800 separated by commas (such as "
                f"{DEFAULT_WEBHOOK_RETRY_SECONDS}); got {part!r}"
            )
        out.append(int(part))
    return tuple(out)


def parse_sentinels(text: str) -> tuple[tuple[str, int], ...]:
    """``h1:26379,h2:26379`` -> ``(("h1", 26379), ("h2", 26379))``; empty -> ``()``.

    A host may be a name, an IPv4 address or a bracketed IPv6 address (``[::1]:26379``).
    """
    out: list[tuple[str, int]] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or any(c.isspace() for c in host) or not port.isdigit():
            raise ValueError(
                f"expected host:port pairs separated by commas (such as "
                f"sentinel-1:26379,sentinel-2:26379); got {part!r}"
            )
        if not 0 < int(port) < 65536:
            raise ValueError(f"port of {part!r} is not 1..65535")
        out.append((host, int(port)))
    return tuple(out)


def sentinel_pair_problem(sentinels: bool, master: bool, redis_url: str) -> str | None:
    """What is wrong with the Sentinel settings together, or None (the names of the
    variables are in the message: a check of the whole settings names no field)."""
    if sentinels and not master:
        return (
            "BATCHDIAL_REDIS_SENTINELS needs BATCHDIAL_REDIS_SENTINEL_MASTER "
            "(the name the Sentinels monitor the primary under)"
        )
    if master and not sentinels:
        return "BATCHDIAL_REDIS_SENTINEL_MASTER needs BATCHDIAL_REDIS_SENTINELS (host:port, …)"
    if sentinels and redis_url.startswith("memory://"):
        return "BATCHDIAL_REDIS_SENTINELS cannot go with a memory:// BATCHDIAL_REDIS_URL"
    return None
