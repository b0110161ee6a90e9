"""Data freshness: is Silver keeping up with the sources?

"Live" means the share received a file during the last ``freshness_max_lag_minutes`` (checked by predicting
those minutes' file names, never by listing the share). When the sources are live but the newest loaded file in
Silver is older than the allowed lag, the pipeline is stuck: raise ``StaleDataError``. When the sources are
silent, Silver cannot be fresher than them; that is reported, not raised (the apartments, not the pipeline,
are down).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from domotic.errors import PermanentError
from domotic.filenames import predict_names

log = logging.getLogger(__name__)


class StaleDataError(PermanentError):
    """Sources deliver but Silver is behind by more than the allowed lag."""


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


def newest_source_minute(share: Path, now: datetime, window: timedelta, source_tz: str = "UTC") -> datetime | None:
    """The newest minute in ``window`` before ``now`` for which a file exists (one stat per name)."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    for step in range(int(window.total_seconds() // 60) + 1):
        candidate = minute - timedelta(minutes=step)
        if any(os.path.exists(share / name) for name in predict_names(candidate, source_tz)):
            return candidate
    return None


def check(conn: Any, share: Path, now: datetime, max_lag: timedelta, source_tz: str = "UTC") -> Freshness:
    row = conn.execute(
        "SELECT max(file_ts) FROM silver.file_manifest WHERE status = 'loaded' AND file_ts <= %s", (now,)
    ).fetchone()
    return Freshness(now, row[0], newest_source_minute(share, now, max_lag, source_tz), max_lag)


def run_check(now: datetime | None = None) -> dict[str, Any]:
    """Task body of ``data_freshness`` (settings and the connection are read at run time)."""
    from domotic.config import setting
    from domotic.db import warehouse_connection

    max_lag = timedelta(minutes=float(setting("freshness_max_lag_minutes")))
    with warehouse_connection() as conn:
        result = check(conn, Path(setting("domotic_smb_path")), now or datetime.now(UTC), max_lag,
                       setting("domotic_source_tz"))
    if result.stale:
        raise StaleDataError(f"Silver is stale: {result.describe()}")
    log.info("freshness: %s", result.describe())
    return result.as_dict()
