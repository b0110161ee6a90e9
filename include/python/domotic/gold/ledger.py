"""Gold's work ledger: the durable list of Silver changes Gold has not absorbed yet.

Airflow's asset events are not a reliable work list (apache/airflow#56050: events that arrive while the
consumer is at ``max_active_runs`` can be left undelivered). So every Silver writer records what it changed in
``silver.gold_ledger`` inside the transaction of the change itself (``record_change``), and every Gold build
claims (deletes) all pending rows inside its own transaction (``include/sql/gold/build/02_claim.sql``) and records
what it absorbed in ``silver.gold_ledger_absorbed``. Asset events only wake ``gold_build`` up. See docs/gold.md,
"Gold's work ledger".

Nothing here imports Airflow: functions take an open DB-API connection or cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domotic.paths import SQL_DIR

SCOPES = ("sensor", "weather", "reference")
_RECORD_SQL = (SQL_DIR / "silver" / "gold_ledger_record.sql").read_text()
_PENDING_SQL = (SQL_DIR / "ops" / "gold_pending.sql").read_text()
_COVERAGE_SQL = (SQL_DIR / "ops" / "gold_coverage.sql").read_text()


def record_change(cur: Any, scope: str, window_start: datetime | None, window_end: datetime | None,
                  source: str) -> None:
    """Record one Silver change for Gold, in the caller's open transaction (commit it with the change).

    ``scope`` 'sensor' or 'weather' needs the changed window (UTC, half-open); 'reference' has none.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown Gold ledger scope {scope!r} (expected one of {', '.join(SCOPES)})")
    if (scope == "reference") != (window_start is None and window_end is None):
        raise ValueError(f"Gold ledger scope {scope!r}: a window is required for sensor and weather changes, "
                         f"and refused for reference changes (got {window_start!r}, {window_end!r})")
    if window_start is not None and window_end is not None and window_end <= window_start:
        raise ValueError(f"Gold ledger window ends before it starts: [{window_start}, {window_end})")
    cur.execute(_RECORD_SQL, {"scope": scope, "window_start": window_start, "window_end": window_end,
                              "source": source})


@dataclass(frozen=True)
class PendingScope:
    """The pending changes of one scope."""

    scope: str
    changes: int
    first_start: datetime | None
    last_end: datetime | None
    oldest_recorded_at: datetime
    last_change_id: int


@dataclass(frozen=True)
class Pending:
    """Gold's pending work, per scope (empty when Gold has absorbed every Silver change)."""

    scopes: tuple[PendingScope, ...] = ()

    @property
    def changes(self) -> int:
        return sum(s.changes for s in self.scopes)

    def span(self) -> tuple[datetime, datetime] | None:
        """First start and last end over the windowed scopes; None when only reference changes are pending."""
        starts = [s.first_start for s in self.scopes if s.first_start is not None]
        ends = [s.last_end for s in self.scopes if s.last_end is not None]
        return (min(starts), max(ends)) if starts else None

    def summary(self) -> dict[str, Any]:
        return {s.scope: {"changes": s.changes,
                          "first_start": s.first_start.isoformat() if s.first_start else None,
                          "last_end": s.last_end.isoformat() if s.last_end else None,
                          "oldest_recorded_at": s.oldest_recorded_at.isoformat()}
                for s in self.scopes}


def pending(conn: Any) -> Pending:
    """What the next Gold build will claim (a preview: rows committed meanwhile are claimed too)."""
    with conn.cursor() as cur:
        cur.execute(_PENDING_SQL)
        rows = cur.fetchall()
    return Pending(tuple(PendingScope(*row) for row in rows))


def enqueue_rebuild(conn: Any, scope: str, window_start: datetime | None = None,
                    window_end: datetime | None = None, source: str = "manual") -> None:
    """Ask Gold to rebuild a window (or refresh the reference data) at its next build, and commit.

    The runbook's "force a rebuild of a range": the next ``gold_build`` run, whatever starts it, rebuilds it.
    """
    with conn.cursor() as cur:
        record_change(cur, scope, window_start, window_end, source)
    conn.commit()


@dataclass(frozen=True)
class MissingDay:
    """A UTC day with current Silver rows and no Gold rows (``pending``: a ledger change still covers it)."""

    scope: str
    day: date
    pending: bool

    def __str__(self) -> str:
        return f"{self.day.isoformat()} ({self.scope}{', pending' if self.pending else ''})"


def missing_gold_days(conn: Any) -> list[MissingDay]:
    """Days holding current Silver rows that Gold has no rows for (include/sql/ops/gold_coverage.sql)."""
    with conn.cursor() as cur:
        cur.execute(_COVERAGE_SQL)
        rows = cur.fetchall()
    return [MissingDay(scope, day, bool(is_pending)) for scope, day, is_pending in rows]
