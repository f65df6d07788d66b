"""A wall clock a whole number of seconds off, shared by a test's own processes: Redis
(whose TIME is the engine's clock), the API, the workers and the CLI all read the same
shifted time of day, so a test can place "now" just before a minute boundary instead of
waiting for a real one. ``clockshift.c`` beside this file is the preload that does it
(libfaketime cannot start Debian's redis-server, see there); it is built here with the
system's C compiler. Where it cannot be built, :func:`build` says so and the test runs
on the real clock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from tests.support.redis_server import own_redis

#: The preload's source, next to this module.
SOURCE = Path(__file__).with_name("clockshift.c")
#: The variable the preload reads its shift (whole seconds, may be negative) from.
SHIFT_VAR = "CLOCK_SHIFT_SECONDS"


def build(directory: Path) -> Path | None:
    """Compile the preload into ``directory``; its path, or None (and why on stderr)
    when there is no C compiler or the build fails, or it does not shift a process."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        print("clockshift: no C compiler; the test runs on the real clock", file=sys.stderr)
        return None
    directory.mkdir(parents=True, exist_ok=True)
    lib = directory / "libclockshift.so"
    done = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(lib), str(SOURCE), "-ldl"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        print(f"clockshift: the build failed: {done.stderr[-2000:]}", file=sys.stderr)
        return None
    shift = 1000
    probe = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=shifted({}, lib, shift),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    now = datetime.now(UTC).timestamp()
    if probe.returncode != 0 or abs(float(probe.stdout or 0) - now - shift) > 5:
        print(f"clockshift: the preload did not shift a clock: {probe}", file=sys.stderr)
        return None
    return lib


def shifted(env: dict[str, str], lib: Path, seconds: int) -> dict[str, str]:
    """``env`` for a process whose wall clock is ``seconds`` ahead of the real one."""
    return {**env, "LD_PRELOAD": str(lib), SHIFT_VAR: str(seconds)}


class Clock:
    """The time of day of the shifted processes, as read in the (unshifted) test."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def now(self) -> datetime:
        """Now, by the shifted clock (UTC)."""
        return datetime.now(UTC) + timedelta(seconds=self.seconds)


def shift_to_lead(lead_s: float, now: datetime | None = None) -> int:
    """A shift in [0, 240) s that puts shifted-now ``lead_s`` (under 60) seconds before
    a minute boundary, within a second, and that boundary minutes away from midnight
    (a schedule's slot cannot cross it)."""
    assert 0 < lead_s < 60
    now = now or datetime.now(UTC)
    into_minute = now.second + now.microsecond / 1e6
    shift = round((60 - lead_s - into_minute) % 60)
    near = now + timedelta(seconds=shift + lead_s + 30)  # half a minute past the boundary
    if near.strftime("%H:%M") in ("23:59", "00:00", "00:01"):
        shift += 180
    return shift


@dataclass(frozen=True)
class ShiftedRedis:
    """A Redis of the test's own on a shifted clock: the clock, the server's URL and
    client, the preload and the environment that puts a process on the same clock."""

    clock: Clock
    url: str
    client: redis.Redis
    lib: Path
    env: dict[str, str]


@contextmanager
def shifted_redis(directory: Path, lead_s: float) -> Iterator[ShiftedRedis | None]:
    """A ``redis-server`` whose clock is ``lead_s`` seconds before a minute boundary now
    (see :func:`shift_to_lead`), checked by its TIME; None (nothing started) where the
    preload cannot be built or there is no ``redis-server``."""
    lib = build(directory / "clockshift") if shutil.which("redis-server") else None
    if lib is None:
        yield None
        return
    shift = shift_to_lead(lead_s)
    clock = Clock(shift)
    with own_redis(directory / "redis", shifted(dict(os.environ), lib, shift)) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            seconds, micros = client.time()
            redis_now = datetime.fromtimestamp(seconds + micros / 1e6, UTC)
            assert abs((redis_now - clock.now()).total_seconds()) < 2, "Redis is not shifted"
            yield ShiftedRedis(clock, server.url, client, lib, shifted({}, lib, shift))
        finally:
            client.close()
