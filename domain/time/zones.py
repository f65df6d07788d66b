"""The IANA zones: which names are zones (:func:`is_iana_zone`), and the zones of a phone
number (phonenumbers' timezone data, names canonical).

Pure computations but for reading the system's time zone data once.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezone

__all__ = ["iana_zone_names", "is_iana_zone", "zones_for_number"]

_UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers when it knows no zone


#: Names that are files of a zoneinfo directory but no place's time: ``localtime`` (the
#: host's own setting, a link a distribution adds), ``posixrules`` (zic's default rules) and
#: ``Factory`` (the tz database's placeholder, "-00", for a host whose zone is not set).
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def is_iana_zone(name: str) -> bool:
    """Whether ``name`` is a time zone of the IANA tz database: see :func:`iana_zone_names`."""
    return name in iana_zone_names()


@functools.cache
def iana_zone_names() -> frozenset[str]:
    """Every name the tz database defines as a place's time: its ``Zone`` and ``Link``
    lines (``America/New_York``, ``UTC``, and the older links such as ``US/Eastern``),
    but for :data:`NOT_ZONES`; each one zoneinfo can load.

    The names come from ``tzdata.zi`` (the tz source zic compiles, which the system's tz
    data and the ``tzdata`` package both ship) where zoneinfo finds it; otherwise from
    ``zoneinfo.available_timezones()``. So no ``posix/`` or ``right/`` copy, no path
    (``../../etc/passwd``) and nothing a host added to its zoneinfo directory is a zone.
    """
    names: set[str] = set()
    for raw in _zone_data_files("tzdata.zi")[:1]:
        for line in raw.decode("utf-8").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "Z":  # Z NAME STDOFF RULES FORMAT [UNTIL]
                names.add(fields[1])
            elif len(fields) >= 3 and fields[0] == "L":  # L TARGET LINK-NAME
                names.add(fields[2])
    if not names:
        names = set(available_timezones())
    return frozenset(name for name in names - NOT_ZONES if _loadable(name))


def zones_for_number(e164: str) -> tuple[str, ...]:
    """Sorted, de-duplicated IANA zones phonenumbers gives for the number; ``()`` if unknown.

    Only names ``ZoneInfo`` can load are kept.  A legacy name that is not in the tz
    database's ``zone.tab`` (``Asia/Katmandu``, ``Asia/Calcutta``) is replaced by the
    ``zone.tab`` name of the number's country with identical zone data
    (``Asia/Kathmandu``); it is kept as it is when the system has no such data.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    region = phonenumbers.region_code_for_number(number) or ""
    zones: set[str] = set()
    for name in phone_timezone.time_zones_for_number(number):
        if name != _UNKNOWN_ZONE and _loadable(name):
            zones.add(_canonical_zone(name, region))
    return tuple(sorted(zones))


@functools.cache
def _loadable(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@functools.cache
def _canonical_zone(name: str, region: str) -> str:
    """``name`` itself when in zone.tab, else the zone.tab name with the same data, if unique.

    Two names are the same zone when their TZif files are byte-identical (a tz "Link"
    is a hard or symbolic link to its target's file).  A name of the number's own
    country is preferred (``Africa/Asmera`` -> ``Africa/Asmara`` for Eritrea, not one of
    the other East African names sharing its data).
    """
    table = _zone_table()
    if not table or name in table:
        return name
    data = _tzif_bytes(name)
    if data is None:
        return name
    same = sorted(zone for zone in table if _tzif_bytes(zone) == data)
    local = [zone for zone in same if region in table[zone]]
    for choice in (local, same):
        if len(choice) == 1:
            return choice[0]
    return name


def _zone_data_files(filename: str) -> list[bytes]:
    """``filename`` read from each place zoneinfo looks for zone data, in its order."""
    found: list[bytes] = []
    for directory in TZPATH:
        path = os.path.join(directory, filename)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                found.append(handle.read())
    try:  # the ``tzdata`` package, zoneinfo's fallback when the system has no data
        resource = importlib.resources.files("tzdata").joinpath("zoneinfo", filename)
        found.append(resource.read_bytes())
    except (ImportError, OSError, ValueError):
        pass
    return found


@functools.cache
def _zone_table() -> dict[str, frozenset[str]]:
    """zone.tab: each zone name for users -> the country codes it serves ({} if absent)."""
    for raw in _zone_data_files("zone.tab")[:1]:
        table: dict[str, set[str]] = {}
        for line in raw.decode("utf-8").splitlines():
            fields = line.split("\t")
            if line.startswith("#") or len(fields) < 3:
                continue
            table.setdefault(fields[2], set()).update(fields[0].split(","))
        return {zone: frozenset(codes) for zone, codes in table.items()}
    return {}


@functools.cache
def _tzif_bytes(name: str) -> bytes | None:
    files = _zone_data_files(name) if ".." not in name else []
    return files[0] if files else None
