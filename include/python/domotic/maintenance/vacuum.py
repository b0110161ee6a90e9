"""VACUUM ANALYZE: which big tables exist, and the statements that vacuum them.

``vacuum_analyze`` in ``maintenance_vacuum`` runs the statements as its ``sql`` (an explicit XCom input, with
autocommit: VACUUM cannot run inside a transaction block). Plain VACUUM takes no lock that blocks readers or
writers; ``VACUUM FULL`` (which locks and rewrites the table) is deliberately not used.
"""

from __future__ import annotations

from typing import Any

from domotic.paths import SQL_DIR

# What vacuum_analyze runs when no big table exists yet: the operator refuses an empty list of statements.
NOTHING_TO_VACUUM = "SELECT 'no big table exists yet: nothing to vacuum'"


def big_tables(conn: Any) -> list[str]:
    """Quoted ``schema.table`` names of the big tables that exist, largest first."""
    with conn.cursor() as cur:
        cur.execute((SQL_DIR / "maintenance" / "big_tables.sql").read_text())
        return [row[0] for row in cur.fetchall()]


def vacuum_statements(tables: list[str]) -> list[str]:
    """One ``VACUUM (ANALYZE)`` per table (names are identifiers quoted by the catalog: safe to paste)."""
    return [f"VACUUM (ANALYZE) {table}" for table in tables] or [NOTHING_TO_VACUUM]
