"""Data freshness: is Silver keeping up with the sources, and does Gold hold every Silver day?

"Live" means the share received a file during the last ``freshness_max_lag_minutes`` (checked by predicting
those minutes' file names, never by listing the share). When the sources are live but the newest loaded file in
Silver is older than the allowed lag, the pipeline is stuck: raise ``StaleDataError``. When the sources are
silent, Silver cannot be fresher than them; that is reported, not raised (the apartments, not the pipeline,
are down).

Gold coverage (``check_gold_coverage``): every UTC day holding current Silver rows must have Gold rows. A day
without Gold rows and without a pending change in Gold's work ledger means a change was lost (what a dropped
asset event once did): raise ``GoldCoverageError`` naming the days. Pending changes older than
``gold_max_pending_minutes`` mean gold_build is not absorbing them (paused, failing): raised too.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from domotic.errors import PermanentError
from domotic.gold import ledger as gold_ledger
from domotic.gold.ledger import MissingDay
from domotic.sensors.names import ApartmentRegistry, predict_names
from domotic.warehouse.tenants import read_registry

log = logging.getLogger(__name__)


class StaleDataError(PermanentError):
    """Sources deliver but Silver is behind by more than the allowed lag."""


class GoldCoverageError(PermanentError):
    """Silver holds days that Gold lacks, or Gold's pending work is not being absorbed."""


@dataclass
class Freshness:
    checked_at: datetime
    newest_silver: datetime | None
    newest_source_minute: datetime | None
    max_lag: timedelta

    @property
    def sources_live(self) -> bool:
        return self.newest_source_minute is not None

    @property
    def lag(self) -> timedelta | None:
        return None if self.newest_silver is None else self.checked_at - self.newest_silver

    @property
    def stale(self) -> bool:
        return self.sources_live and (self.lag is None or self.lag > self.max_lag)

    def describe(self) -> str:
        if not self.sources_live:
            return (f"sources silent: no sensor file on the share in the last {self.max_lag}; newest Silver "
                    f"file minute {self.newest_silver}")
        return (f"newest Silver file minute {self.newest_silver} is {self.lag} old (allowed {self.max_lag}); "
                f"newest file on the share is for {self.newest_source_minute}")

    def as_dict(self) -> dict[str, Any]:
        return {"checked_at": self.checked_at.isoformat(), "sources_live": self.sources_live,
                "newest_silver": self.newest_silver.isoformat() if self.newest_silver else None,
                "lag_minutes": None if self.lag is None else round(self.lag.total_seconds() / 60, 1),
                "stale": self.stale}


def newest_source_minute(share: Path, now: datetime, window: timedelta, apartments: ApartmentRegistry,
                         source_tz: str = "UTC") -> datetime | None:
    """The newest minute in ``window`` before ``now`` for which a file of an (active) apartment exists (one stat
    per name)."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    for step in range(int(window.total_seconds() // 60) + 1):
        candidate = minute - timedelta(minutes=step)
        if any(os.path.exists(share / name) for name in predict_names(candidate, apartments, source_tz)):
            return candidate
    return None


def check(conn: Any, share: Path, now: datetime, max_lag: timedelta, source_tz: str = "UTC") -> Freshness:
    row = conn.execute(
        "SELECT max(file_ts) FROM silver.file_manifest WHERE status = 'loaded' AND file_ts <= %s", (now,)
    ).fetchone()
    apartments = read_registry(conn, active_on=now.astimezone(UTC).date())
    return Freshness(now, row[0], newest_source_minute(share, now, max_lag, apartments, source_tz), max_lag)


@dataclass
class GoldCoverage:
    missing: list[MissingDay]
    oldest_pending: datetime | None
    pending_changes: int
    checked_at: datetime
    max_pending_age: timedelta

    @property
    def lost(self) -> list[MissingDay]:
        """Days Gold lacks with no pending ledger change to build them: nothing would ever build them."""
        return [day for day in self.missing if not day.pending]

    @property
    def stuck(self) -> bool:
        return self.oldest_pending is not None and self.checked_at - self.oldest_pending > self.max_pending_age

    def describe(self) -> str:
        parts = []
        if self.lost:
            parts.append(f"{len(self.lost)} Silver day(s) missing from Gold with no pending change to build them: "
                         f"{', '.join(str(d) for d in self.lost)}; rebuild them (docs/runbook.md, "
                         "'Force a Gold rebuild')")
        if self.stuck:
            parts.append(f"{self.pending_changes} Silver change(s) pending for Gold since "
                         f"{self.oldest_pending:%Y-%m-%d %H:%M} UTC (more than {self.max_pending_age}): is gold_build "
                         "paused or failing?")
        waiting = [d for d in self.missing if d.pending]
        if waiting and not parts:
            parts.append(f"{len(waiting)} Silver day(s) not in Gold yet, pending: "
                         f"{', '.join(str(d) for d in waiting)}")
        return "; ".join(parts) or "every Silver day has Gold rows"

    def as_dict(self) -> dict[str, Any]:
        return {"checked_at": self.checked_at.isoformat(), "missing": [str(d) for d in self.missing],
                "lost": [str(d) for d in self.lost], "pending_changes": self.pending_changes,
                "oldest_pending": self.oldest_pending.isoformat() if self.oldest_pending else None,
                "stuck": self.stuck}


def gold_coverage(conn: Any, now: datetime, max_pending_age: timedelta) -> GoldCoverage:
    """Gold's coverage of Silver and the age of its pending work (nothing raised here)."""
    pending = gold_ledger.pending(conn)
    oldest = min((s.oldest_recorded_at for s in pending.scopes), default=None)
    return GoldCoverage(gold_ledger.missing_gold_days(conn), oldest, pending.changes, now, max_pending_age)
