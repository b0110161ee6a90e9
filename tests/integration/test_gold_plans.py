"""Plan shape of every Gold template: no nested-loop range join over a Silver table.

A range join per hour (``f.timestamp >= h.hour_start AND f.timestamp < h.hour_start + 1 h``) cost hours x rows
comparisons on the 70-day history (530 s for one template). This guard explains every statement of a real build
(with weather) on the test dataset, in order, inside the build's transaction, and fails when a Nested Loop's
join filter compares ranges while one of its sides scans a Silver table. A parameterized index scan (the
per-segment primary-key range scans of the sensor facts) is not a join filter and passes.
"""

from __future__ import annotations

import json
import re

import psycopg

from domotic import gold
from tests.fixtures.gold import full_plan

RANGE = re.compile(r"(>=|<=|<|>)")
COLUMN_RANGE = re.compile(r"\(?\(?\"?([a-z_]+)\"? (?:>=|<=|<|>) ")
SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan"}


def silver_index_leads(conn: psycopg.Connection) -> dict[str, str]:
    """Index name -> its first column, for the Silver tables."""
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE n.nspname = 'silver'").fetchall()
    return dict(rows)


def _silver_scans(node: dict) -> list[dict]:
    found = [node] if node.get("Node Type") in SCANS and (
        node.get("Schema") == "silver" or str(node.get("Index Name", "")) in _LEADS) else []
    for child in node.get("Plans", []):
        found += _silver_scans(child)
    return found


_LEADS: dict[str, str] = {}
PASSTHROUGH = {"Gather", "Gather Merge", "Materialize", "Memoize", "Result"}


def _through_passthrough(node: dict) -> dict:
    while node.get("Node Type") in PASSTHROUGH and len(node.get("Plans", [])) == 1:
        node = node["Plans"][0]
    return node


def range_join_offenders(node: dict) -> list[str]:
    """Nested loops that compare a Silver table against each outer row on a range it cannot seek: a range in
    the join filter, in the filter of an unbounded scan, or in an index condition on a column the index does not
    start with."""
    offenders = []
    if node.get("Node Type") == "Nested Loop":
        inner = node["Plans"][1] if len(node.get("Plans", [])) > 1 else {}
        # Silver rows compared per outer row: a side of the loop is a Silver scan (through Gather, Materialize
        # or Memoize); a side that is an aggregate or a CTE of Silver was scanned once.
        sides = [_through_passthrough(child) for child in node.get("Plans", [])]
        if any(side in _silver_scans(side) for side in sides) and RANGE.search(node.get("Join Filter", "")):
            offenders.append(f"Nested Loop, Join Filter {node['Join Filter']}")
        for scan in _silver_scans(inner):
            # A range filter per outer row is a full scan per row, unless an index condition bounds the rows
            # first (e.g. manifest files of a day sought by file_ts, then filtered by reading minute).
            for key in ("Filter", "Recheck Cond"):
                if scan.get("Index Cond") or (scan.get("Node Type") == "Bitmap Heap Scan" and key == "Filter"):
                    continue
                if RANGE.search(scan.get(key, "")) and "." in scan.get(key, ""):
                    offenders.append(f"Nested Loop, {scan['Node Type']} {key} {scan[key]}")
            lead = _LEADS.get(str(scan.get("Index Name", "")))
            for column in COLUMN_RANGE.findall(scan.get("Index Cond", "")):
                if lead and column != lead:
                    offenders.append(f"Nested Loop, {scan['Index Name']} ranges on {column}, index starts "
                                     f"with {lead}: {scan['Index Cond']}")
    for child in node.get("Plans", []):
        offenders += range_join_offenders(child)
    return offenders


def plans_of_a_build(info: str, parameters: dict) -> dict[str, list[str]]:
    """Each build statement explained (then executed, so the next one sees its temp tables); rolled back."""
    offenders: dict[str, list[str]] = {}
    with psycopg.connect(info) as conn:
        _LEADS.update(silver_index_leads(conn))
        # As on a large history: the planner must not be allowed to hide a range join behind a hash here.
        conn.execute("SET LOCAL enable_hashjoin = on")
        for name in gold.BUILD_SQL:
            statement = gold.read_sql(name)
            code = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
            if not code.lstrip().upper().startswith(("DO", "ANALYZE")):  # not explainable: no joins there
                (plan,) = conn.execute("EXPLAIN (FORMAT JSON) " + statement, parameters).fetchone()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                found = range_join_offenders(plan[0]["Plan"])
                if found:
                    offenders[name] = found
            conn.execute(statement, parameters)
        conn.rollback()
    return offenders


def test_no_template_joins_a_silver_table_on_a_range_per_row(make_db):
    info = make_db()
    offenders = plans_of_a_build(info, full_plan().parameters(["Sion"]))
    assert offenders == {}, offenders


def test_the_guard_catches_a_range_join_per_hour(make_db):
    """The shape that cost 530 s, run through the same check: it must be reported."""
    info = make_db()
    statement = """
        SELECT h.hour_start, count(*)
        FROM generate_series('2023-10-28 00:00+00'::timestamptz, '2023-10-31 00:00+00', interval '1 hour') h(hour_start)
        JOIN silver.weather_forecasts f ON f.timestamp >= h.hour_start AND f.timestamp < h.hour_start + interval '1 hour'
        GROUP BY 1"""
    with psycopg.connect(info) as conn:
        _LEADS.update(silver_index_leads(conn))
        (plan,) = conn.execute("EXPLAIN (FORMAT JSON) " + statement).fetchone()
    assert range_join_offenders(plan[0]["Plan"]), plan
