"""``callerId: "local"``: what the claim needs to prefer a pool number near the recipient.

The claim script matches the recipient's area code against the pool numbers' area codes
and, failing that, its state against theirs. It gets both from the worker as two
strings (ARGV[13], ARGV[14] of ``claim.lua``), made here once per job configuration:
each pool number's ``areaCode:state`` in pool order, and ``areaCode:state`` for every
area code of the states the pool covers (so the recipient's state is known exactly when
some pool number shares it).
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.rules.tcpa import area_codes, state_for_number

__all__ = ["local_hints"]


def _area_code(e164: str) -> str:
    return e164[2:5] if e164.startswith("+1") and len(e164) == 12 else ""


def local_hints(numbers: Sequence[str | None]) -> tuple[str, str]:
    """(pool hint, area hint) for the pool's numbers (E.164, None when unknown)."""
    pool, states = [], set()
    for number in numbers:
        if number is None:
            pool.append(":")
            continue
        state = state_for_number(number) or ""
        if state:
            states.add(state)
        pool.append(f"{_area_code(number)}:{state}")
    areas = [f"{npa}:{st}" for npa, st in sorted(area_codes().items()) if st in states]
    return ",".join(pool), ",".join(areas)
