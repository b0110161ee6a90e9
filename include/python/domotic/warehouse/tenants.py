"""The apartment registry (``silver.apartment_registry``) and the tenants of row-level security.

Apartments are data: nothing in the pipeline lists them. This module reads the registry for the loaders and
the minutely sensor (``read_registry``), registers the apartments pidb's buildings name (``register_buildings``,
called by the weekly snapshot), and onboards / offboards by hand (``onboard``, ``onboard_many`` for many in one
transaction, ``offboard``; the command line ``python -m domotic.warehouse.tenants``, whose ``import`` reads a
CSV). Onboarding maps the owner's role ``role_<apartment_id>`` to the apartment in ``gold.tenant_membership``
and creates it (``gold.ensure_tenant_roles()``); offboarding sets ``active_to`` and removes the mapping, so the
owner's logins see nothing and the history stays. See docs/runbook.md, "Onboard and offboard an apartment".

The functions take an open psycopg connection or cursor; nothing here reads settings or the clock.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domotic.errors import ConfigurationError
from domotic.sensors.names import Apartment, ApartmentRegistry

HANDLE_RE = re.compile(r"[A-Za-z0-9.-]{1,64}")  # what a file name can carry (the table's owner_handle_format)
APARTMENT_ID_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")  # the table's apartment_id_format
_CAMEL_CASE_RE = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")
_FIRST_WORD_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")


class RegistryError(ConfigurationError):
    """An onboarding or offboarding request the registry refuses; the message says why."""


@dataclass(frozen=True)
class RegisteredApartment:
    """One row of ``silver.apartment_registry``."""

    apartment_id: str
    owner_handle: str
    building_id: int | None
    weather_site: str | None
    source_tz: str | None
    active_from: date
    active_to: date | None

    def active_on(self, day: date) -> bool:
        return self.active_from <= day and (self.active_to is None or day <= self.active_to)


# ------------------------------------------------------------------------------------------------- rules


def handle_from_house_name(house_name: str | None) -> str | None:
    """The owner handle a pidb ``buildings.houseName`` carries: its last word (``Appartement AliceMartin``,
    ``Maison AliceMartin``) when that word is a CamelCase name (``Firstname`` + ``Lastname``, as every handle of
    the sensor files is); else None (``Chez nous`` names no owner). A handle of another shape is onboarded by hand.
    """
    if not house_name or not house_name.split():
        return None
    word = house_name.split()[-1]
    return word if HANDLE_RE.fullmatch(word) and _CAMEL_CASE_RE.fullmatch(word) else None


def derive_apartment_id(handle: str, taken: Iterable[str] = ()) -> str:
    """The apartment id of a newly registered handle: its first word in lower case (CamelCase or separators
    split words; accents folded to ASCII), ``AliceMartin`` -> ``alice``; when that id is taken, the whole handle
    in lower case (``alicemartin``), then with a number (``alicemartin_2``...). Ids are never reused."""
    folded = unicodedata.normalize("NFKD", handle).encode("ascii", "ignore").decode()
    words = _FIRST_WORD_RE.findall(folded)
    whole = re.sub(r"[^a-z0-9]+", "_", folded.lower()).strip("_")
    candidates = [words[0].lower() if words else "", whole]
    used = set(taken)
    for candidate in candidates:
        candidate = _as_id(candidate)
        if candidate and candidate not in used:
            return candidate
    base, number = _as_id(whole) or "apartment", 2
    while f"{base}_{number}"[:40] in used:
        number += 1
    return f"{base}_{number}"[:40]


def _as_id(text: str) -> str:
    text = text[:40]
    if text and not text[0].isalpha():
        text = ("a" + text)[:40]
    return text if APARTMENT_ID_RE.fullmatch(text) else ""


def check_registration(handle: str, apartment_id: str, source_tz: str | None) -> None:
    """Refuse, naming the value, what the registry or the file names cannot hold."""
    if not HANDLE_RE.fullmatch(handle):
        raise RegistryError(f"owner handle {handle!r} cannot appear in a sensor file name: letters, digits, '.' "
                            "and '-' only (1 to 64)")
    if not APARTMENT_ID_RE.fullmatch(apartment_id):
        raise RegistryError(f"apartment id {apartment_id!r}: lower-case letter first, then lower-case letters, "
                            "digits or '_' (at most 40)")
    if source_tz is not None:
        try:
            ZoneInfo(source_tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise RegistryError(f"source clock {source_tz!r} is not an IANA time zone (e.g. Europe/Zurich)") from None


# ----------------------------------------------------------------------------------------------- reading

_SELECT = ("SELECT apartment_id, owner_handle, building_id, weather_site, source_tz, active_from, active_to "
           "FROM silver.apartment_registry")


def registered(conn: Any) -> list[RegisteredApartment]:
    """Every row of the registry, by apartment id."""
    rows = conn.execute(_SELECT + " ORDER BY apartment_id").fetchall()
    return [RegisteredApartment(*row) for row in rows]


def read_registry(conn: Any, active_on: date | None = None) -> ApartmentRegistry:
    """The handle -> apartment map for file names: every registered apartment (loads of any day, history
    included), or those active on ``active_on`` (what sensors_minutely predicts). One small query."""
    if active_on is None:
        rows = conn.execute(_SELECT + " ORDER BY apartment_id").fetchall()
    else:
        rows = conn.execute(_SELECT + " WHERE active_from <= %s AND (active_to IS NULL OR active_to >= %s) "
                            "ORDER BY apartment_id", (active_on, active_on)).fetchall()
    return ApartmentRegistry(Apartment(row[0], row[1], row[4]) for row in rows)


# ------------------------------------------------------------------------------------------------ writing

_INSERT = """
INSERT INTO silver.apartment_registry
    (apartment_id, owner_handle, building_id, weather_site, source_tz, active_from, origin)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""


def _map_owner_role(cur: Any, apartment_id: str, role_name: str | None = None) -> str:
    role = role_name or f"role_{apartment_id}"
    cur.execute("INSERT INTO gold.tenant_membership (role_name, apartment_id) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING", (role, apartment_id))
    return role


def ensure_roles(cur: Any) -> int:
    """Create the roles the membership mapping names and lacks (``gold.ensure_tenant_roles()``)."""
    cur.execute("SELECT gold.ensure_tenant_roles()")
    return int(cur.fetchone()[0])


def plan_buildings(rows: Sequence[RegisteredApartment], buildings: Sequence[tuple[int, str | None]]
                   ) -> tuple[list[tuple[str, str, int]], list[tuple[str, int]]]:
    """What pidb's buildings (``(idBuilding, houseName)``) add to the registry ``rows``: the new apartments
    ``(apartment_id, handle, building_id)`` (ids by ``derive_apartment_id``, in building order) and the
    ``(apartment_id, building_id)`` of registered handles that lack their building. Pure."""
    by_handle = {row.owner_handle.lower(): row for row in rows}
    taken = {row.apartment_id for row in rows}
    used_buildings = {row.building_id for row in rows if row.building_id is not None}
    new: list[tuple[str, str, int]] = []
    fill: list[tuple[str, int]] = []
    for building_id, house_name in sorted(buildings, key=lambda b: b[0]):
        handle = handle_from_house_name(house_name)
        if handle is None:
            continue
        known = by_handle.get(handle.lower())
        if known is not None:
            if known.building_id is None and building_id not in used_buildings:
                fill.append((known.apartment_id, building_id))
                used_buildings.add(building_id)
            continue
        if building_id in used_buildings:
            continue
        apartment_id = derive_apartment_id(handle, taken)
        new.append((apartment_id, handle, building_id))
        taken.add(apartment_id)
        used_buildings.add(building_id)
        by_handle[handle.lower()] = RegisteredApartment(apartment_id, handle, building_id, None, None, date.min, None)
    return new, fill


def register_buildings(cur: Any, buildings: Sequence[tuple[int, str | None]], day: date) -> list[str]:
    """Register the apartments of pidb buildings (``(idBuilding, houseName)``) the registry lacks, active from
    ``day``, and map each to its owner's role; fill ``building_id`` of registered handles that lack it.
    Returns the new apartment ids. Runs in the caller's transaction (the snapshot's swap)."""
    cur.execute("LOCK TABLE silver.apartment_registry IN SHARE ROW EXCLUSIVE MODE")
    rows = [RegisteredApartment(*row) for row in cur.execute(_SELECT).fetchall()]
    new, fill = plan_buildings(rows, buildings)
    for apartment_id, building_id in fill:
        cur.execute("UPDATE silver.apartment_registry SET building_id = %s, updated_at = now() "
                    "WHERE apartment_id = %s AND building_id IS NULL", (building_id, apartment_id))
    for apartment_id, handle, building_id in new:
        cur.execute(_INSERT, (apartment_id, handle, building_id, None, None, day, "pidb"))
        _map_owner_role(cur, apartment_id)
    if new:
        ensure_roles(cur)
    return [apartment_id for apartment_id, _, _ in new]


@dataclass(frozen=True)
class Registration:
    """One apartment to onboard: its owner handle and first day, and what the derived defaults do not give."""

    handle: str
    active_from: date
    apartment_id: str | None = None
    building_id: int | None = None
    weather_site: str | None = None
    source_tz: str | None = None
    role_name: str | None = None


def onboard(conn: Any, handle: str, active_from: date, *, apartment_id: str | None = None,
            building_id: int | None = None, weather_site: str | None = None, source_tz: str | None = None,
            role_name: str | None = None) -> dict[str, Any]:
    """Register an apartment (or reactivate an offboarded one with the same handle) and map its owner's role;
    its files load from the next run. Returns what was done. One transaction."""
    done, created = onboard_many(conn, [Registration(handle, active_from, apartment_id, building_id, weather_site,
                                                     source_tz, role_name)])
    return {**done[0], "roles_created": created}


def onboard_many(conn: Any, registrations: Sequence[Registration]) -> tuple[list[dict[str, Any]], int]:
    """Onboard every registration in ONE transaction (all or none; the bulk ``import`` of a building's hundred
    apartments or a scale test's thousand): one registry lock and read, one role pass at the end. Returns what
    was done per registration and the number of roles created."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("LOCK TABLE silver.apartment_registry IN SHARE ROW EXCLUSIVE MODE")
        rows = [RegisteredApartment(*row) for row in cur.execute(_SELECT).fetchall()]
        by_handle = {row.owner_handle.lower(): row for row in rows}
        taken = {row.apartment_id for row in rows}
        done = [_register(cur, registration, by_handle, taken) for registration in registrations]
        created = ensure_roles(cur)
    return done, created


def _register(cur: Any, reg: Registration, by_handle: dict[str, RegisteredApartment], taken: set[str]
              ) -> dict[str, Any]:
    """One registration inside ``onboard_many``'s transaction; ``by_handle`` and ``taken`` follow its writes."""
    known = by_handle.get(reg.handle.lower())
    if known is not None and reg.apartment_id not in (None, known.apartment_id):
        raise RegistryError(f"owner handle {reg.handle!r} is already registered as apartment "
                            f"{known.apartment_id!r}")
    apartment_id = known.apartment_id if known else (reg.apartment_id or derive_apartment_id(reg.handle, taken))
    check_registration(reg.handle, apartment_id, reg.source_tz)
    if known is None:
        if apartment_id in taken:
            raise RegistryError(f"apartment id {apartment_id!r} is taken by another handle")
        cur.execute(_INSERT, (apartment_id, reg.handle, reg.building_id, reg.weather_site, reg.source_tz,
                              reg.active_from, "operator"))
        action = "registered"
    else:
        cur.execute(
            "UPDATE silver.apartment_registry SET active_to = NULL, active_from = least(active_from, %s), "
            "building_id = coalesce(%s, building_id), weather_site = coalesce(%s, weather_site), "
            "source_tz = coalesce(%s, source_tz), updated_at = now() WHERE apartment_id = %s",
            (reg.active_from, reg.building_id, reg.weather_site, reg.source_tz, apartment_id))
        action = "reactivated" if known.active_to is not None else "updated"
    by_handle[reg.handle.lower()] = RegisteredApartment(apartment_id, reg.handle, reg.building_id, reg.weather_site,
                                                        reg.source_tz, reg.active_from, None)
    taken.add(apartment_id)
    role = _map_owner_role(cur, apartment_id, reg.role_name)
    return {"apartment_id": apartment_id, "handle": reg.handle, "action": action, "role": role}


IMPORT_COLUMNS = ("handle", "active_from", "apartment_id", "building_id", "weather_site", "source_tz", "role")


def read_registrations(lines: Iterable[str], source: str = "<input>") -> list[Registration]:
    """The registrations of a CSV with a header row naming some of :data:`IMPORT_COLUMNS` (``handle`` and
    ``active_from`` required; empty cells take the defaults). A bad row is refused with its line number and the
    reason, before anything is written."""
    reader = csv.DictReader(lines)
    header = set(reader.fieldnames or ())
    if not {"handle", "active_from"} <= header or not header <= set(IMPORT_COLUMNS):
        raise RegistryError(f"{source}: the header must name handle and active_from, and only columns of "
                            f"{', '.join(IMPORT_COLUMNS)}; it has {sorted(header)}")
    registrations = []
    for row in reader:
        cells = {key: (value or "").strip() or None for key, value in row.items()}
        try:
            registrations.append(Registration(
                handle=cells["handle"] or "", active_from=date.fromisoformat(cells["active_from"] or ""),
                apartment_id=cells.get("apartment_id"),
                building_id=int(cells["building_id"]) if cells.get("building_id") else None,
                weather_site=cells.get("weather_site"), source_tz=cells.get("source_tz"),
                role_name=cells.get("role")))
        except ValueError as error:
            raise RegistryError(f"{source} line {reader.line_num}: {error}") from None
    return registrations


def offboard(conn: Any, apartment_id: str, active_to: date) -> dict[str, Any]:
    """End an apartment on ``active_to`` (its last day): no longer predicted by sensors_minutely, its owner
    roles unmapped (they see none of its rows); Silver and Gold history stay. One transaction."""
    with conn.transaction(), conn.cursor() as cur:
        found = cur.execute("SELECT active_from FROM silver.apartment_registry WHERE apartment_id = %s FOR UPDATE",
                            (apartment_id,)).fetchone()
        if found is None:
            raise RegistryError(f"apartment {apartment_id!r} is not registered")
        if active_to < found[0]:
            raise RegistryError(f"apartment {apartment_id!r} became active on {found[0]}: it cannot end on "
                                f"{active_to}")
        cur.execute("UPDATE silver.apartment_registry SET active_to = %s, updated_at = now() WHERE apartment_id = %s",
                    (active_to, apartment_id))
        cur.execute("DELETE FROM gold.tenant_membership WHERE apartment_id = %s RETURNING role_name",
                    (apartment_id,))
        revoked = sorted(row[0] for row in cur.fetchall())
    return {"apartment_id": apartment_id, "active_to": active_to.isoformat(), "revoked": revoked}


# ------------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m domotic.warehouse.tenants onboard HANDLE --from DAY [...] | import FILE.csv | offboard ID --to DAY |
    list``."""
    parser = argparse.ArgumentParser(prog="python -m domotic.warehouse.tenants",
                                     description="Onboard or offboard an apartment (docs/runbook.md).")
    parser.add_argument("--conn-id", default=None, help="the Airflow connection of the warehouse")
    commands = parser.add_subparsers(dest="command", required=True)
    on = commands.add_parser("onboard", help="register an apartment (or reactivate it) and map its owner's role")
    on.add_argument("handle", help="the owner handle of its file names, e.g. AliceMartin")
    on.add_argument("--from", dest="active_from", required=True, type=date.fromisoformat,
                    help="first UTC day of its files (YYYY-MM-DD)")
    on.add_argument("--apartment-id", help="default: derived from the handle (its first word, lower case)")
    on.add_argument("--building-id", type=int, help="pidb buildings.idBuilding")
    on.add_argument("--weather-site", help="default: the first configured weather site")
    on.add_argument("--source-tz", help="the apartment's source clock, if not domotic_source_tz")
    on.add_argument("--role", help="database role that sees it (default role_<apartment_id>)")
    off = commands.add_parser("offboard", help="end an apartment and revoke its owner's access")
    off.add_argument("apartment_id")
    off.add_argument("--to", dest="active_to", required=True, type=date.fromisoformat,
                     help="its last UTC day (YYYY-MM-DD)")
    bulk = commands.add_parser("import", help="onboard every apartment of a CSV file in one transaction")
    bulk.add_argument("file", help=f"CSV with a header row ({', '.join(IMPORT_COLUMNS)}; handle and active_from "
                                   "required), or - for standard input")
    commands.add_parser("list", help="print the registry")
    args = parser.parse_args(argv)
    from domotic.warehouse import tasks

    if args.command == "onboard":
        result: Any = tasks.onboard_apartment(args.handle, args.active_from, apartment_id=args.apartment_id,
                                              building_id=args.building_id, weather_site=args.weather_site,
                                              source_tz=args.source_tz, role_name=args.role, conn_id=args.conn_id)
    elif args.command == "import":
        if args.file == "-":
            registrations = read_registrations(sys.stdin, "<stdin>")
        else:
            with open(args.file, newline="", encoding="utf-8") as lines:
                registrations = read_registrations(lines, args.file)
        result = tasks.import_apartments(registrations, conn_id=args.conn_id)
    elif args.command == "offboard":
        result = tasks.offboard_apartment(args.apartment_id, args.active_to, conn_id=args.conn_id)
    else:
        result = tasks.list_apartments(conn_id=args.conn_id)
    print(json.dumps(result, default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
