"""The forecasts' part of ``make demo``: run ``ml_forecast_daily`` for the last demo day and print tomorrow's
forecast beside the naive baseline.

It runs as ``airflow dags test`` (in-process, against the demo's warehouse and metadata database): the DAG's
first task waits for Gold to be complete for that day, which the demo's own runs have just made true. The demo
loads three weeks of history first, so the run trains, gates and serves a model; without it (``--history-days
0``) a few days are too short a history to train one (the backtest needs more than a week): the run then
issues the naive baselines themselves, says so on every row, and this prints it.
"""

from __future__ import annotations

import subprocess
from datetime import date
from typing import Any

import psycopg

_SQL = """
SELECT p.apartment_id, p.model_version, p.horizon_hours, p.target_hour_start, p.value_kwh, p.baseline_value,
       p.weather_used, p.fallback_reason
FROM gold.fact_ml_predictions p
WHERE p.issue_date = %s AND p.target = 'energy_kwh' AND p.horizon_hours <= 24
ORDER BY p.apartment_id, p.horizon_hours
"""
_PRESENCE_SQL = """
SELECT p.apartment_id, r.room_name, avg(p.probability), avg(p.baseline_value)
FROM gold.fact_ml_predictions p JOIN gold.dim_room r ON r.room_key = p.room_key
WHERE p.issue_date = %s AND p.target = 'presence'
GROUP BY 1, 2 ORDER BY 1, 2
"""


def run_forecast(airflow: Any, day: date, say) -> bool:
    """``airflow dags test ml_forecast_daily <day>``; True when the run succeeded."""
    say(f"== ml_forecast_daily for issue day {day} (airflow dags test): forecasts for the next day")
    from domotic_dev.airflow_local import airflow_bin

    # dags test crashes on DAGs with deadlines in Airflow 3.3.2 (apache/airflow#73428): off for this run
    env = {**airflow.env(), "DOMOTIC_DEADLINES_ENABLED": "false",
           "AIRFLOW_VAR_ML_MODEL_DIR": str(airflow.home / "ml-models")}
    done = subprocess.run([airflow_bin(), "dags", "test", "ml_forecast_daily", day.isoformat()], env=env,
                          capture_output=True, text=True, timeout=600, cwd=airflow.home)
    if done.returncode != 0:
        say(f"!! ml_forecast_daily failed: {done.stderr[-2000:]}")
    return done.returncode == 0


def print_forecast(conninfo: str, day: date, say) -> None:
    """Tomorrow's hourly kWh per apartment, model beside the naive baseline, and the presence per room."""
    with psycopg.connect(conninfo) as conn:
        energy = conn.execute(_SQL, (day,)).fetchall()
        presence = conn.execute(_PRESENCE_SQL, (day,)).fetchall()
    if not energy:
        say("   no forecast rows")
        return
    for apartment in sorted({row[0] for row in energy}):
        rows = [row for row in energy if row[0] == apartment]
        version, reason = rows[0][1], rows[0][7]
        total, baseline = sum(r[4] for r in rows), sum(r[5] or 0 for r in rows)
        say(f"   {apartment}: model {version}, weather {'used' if rows[0][6] else 'not used'}"
            f"{f' ({reason})' if reason else ''}")
        say(f"     tomorrow {total:6.2f} kWh (naive 4-week profile {baseline:6.2f} kWh); hour by hour (UTC):")
        for chunk in range(0, len(rows), 6):
            say("     " + "  ".join(f"{r[3]:%H}h {r[4]:4.2f}/{(r[5] or 0):4.2f}" for r in rows[chunk:chunk + 6]))
    say("   presence tomorrow, mean probability per room (model / hour-of-week frequency):")
    for apartment, room, prob, base in presence:
        say(f"     {apartment:8} {room:12} {prob:4.2f} / {(base if base is not None else float('nan')):4.2f}")
