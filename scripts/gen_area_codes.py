"""Write domain/rules/us_area_codes.json: each US area code -> its state (two letters).

From phonenumbers' geocoder data (the version pinned in requirements.lock): the area
code's own entry ("1305" -> "Florida"), else the state most of its longer prefixes name
("New York, NY"). Run again after upgrading phonenumbers:
    .venv/bin/python scripts/gen_area_codes.py
"""

from __future__ import annotations

import collections
import json
import pathlib

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA

STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY", "Washington D.C.": "DC", "Washington State": "WA",
}  # fmt: skip
CODES = set(STATES.values())


def state_of(description: str) -> str | None:
    if description in STATES:
        return STATES[description]
    tail = description.rsplit(", ", 1)[-1]
    return tail if tail in CODES else None


def main() -> None:
    votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    own: dict[str, str] = {}
    for prefix, names in GEOCODE_DATA.items():
        if not prefix.startswith("1") or len(prefix) < 4 or not names or "en" not in names:
            continue
        npa = prefix[1:4]
        state = state_of(names["en"])
        if state is None:
            continue
        if len(prefix) == 4:
            own[npa] = state
        else:
            votes[npa][state] += 1
    table = {}
    for npa in sorted(set(own) | set(votes)):
        example = phonenumbers.parse(f"+1{npa}2010123", None)
        if phonenumbers.region_code_for_number(example) != "US":
            continue
        table[npa] = own.get(npa) or votes[npa].most_common(1)[0][0]
    out = pathlib.Path(__file__).resolve().parent.parent / "domain/rules/us_area_codes.json"
    out.write_text(
        json.dumps(
            {"generatedFrom": f"phonenumbers {phonenumbers.__version__}", "areaCodes": table},
            indent=0,
            sort_keys=True,
        )
        + "\n"
    )
    print(f"{len(table)} area codes -> {out}")  # noqa: T201 -- a script's report


if __name__ == "__main__":
    main()
