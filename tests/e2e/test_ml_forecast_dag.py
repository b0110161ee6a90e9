"""ml_forecast_daily: structure, and dag.test() end to end on generated history in a real Postgres (Gold built
by the pipeline's own code): the lifecycle, the rows, idempotent re-runs, the weather fallback, the rejected
candidate, presence_prob in Gold, and tenant isolation of the predictions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.ml import ML_ISSUE, ml_rows

DAGS = Path(__file__).resolve().parents[2] / "dags"
LOGICAL = datetime(ML_ISSUE.year, ML_ISSUE.month, ML_ISSUE.day, tzinfo=UTC)


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "ml_forecast_daily.py"))
    assert bag.import_errors == {}
    return bag.dags["ml_forecast_daily"]


def test_schedule_and_task_graph():
    from airflow.sdk import CronDataIntervalTimetable

    dag = load_dag()
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and dag.timetable.expression == "0 0 * * *"
    assert dag.max_active_runs == 1 and dag.doc_md and dag.description
    downstream = {task.task_id: set(task.downstream_task_ids) for task in dag.tasks}
    assert downstream == {"wait_for_gold": {"maintain_models"}, "maintain_models": {"issue_forecasts"},
                          "issue_forecasts": {"quality_gates"}, "quality_gates": set()}
    assert [o.name for o in dag.get_task("issue_forecasts").outlets] == ["ml_predictions"]


def _run(dag) -> str:
    run = dag.test(logical_date=LOGICAL)
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    return run.run_id


def test_dag_test_trains_promotes_issues_and_is_idempotent(airflow_db, ml_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_ML_GATE_MIN_IMPROVEMENT", "-10")  # 16 days: let the candidate through
    dag = load_dag()
    _run(dag)
    with psycopg.connect(ml_db) as conn:
        registry = conn.execute("SELECT model_version, status, train_end, trigger, artifact_sha256,"
                                " library_versions ? 'scikit-learn' FROM ml.model_registry").fetchall()
        metrics = conn.execute("SELECT DISTINCT predictor FROM ml.metrics WHERE scope = 'backtest'").fetchall()
    assert len(registry) == 1
    version, status, train_end, trigger, sha, has_versions = registry[0]
    assert len(sha) == 64
    assert (status, train_end, trigger, has_versions) == ("promoted", ML_ISSUE, "first", True)
    assert {p for (p,) in metrics} == {"model", "same_hour_last_week", "mean_profile_4w", "hour_of_week"}
    rows = ml_rows(ml_db)
    energy = [r for r in rows if r[1] == "energy_kwh"]
    presence = [r for r in rows if r[1] == "presence"]
    assert {r[0] for r in rows} == {version}
    assert len(energy) == 2 * 48 and all(r[8] for r in energy)  # D+1 and D+2, the forecast covers both
    assert len(presence) == 10 * 24 and all(0 <= r[7] <= 1 for r in presence)
    assert all(r[6] >= 0 for r in energy)
    _run(dag)  # a re-run reuses the model and replaces the rows: nothing doubles, nothing changes
    assert ml_rows(ml_db) == rows
    with psycopg.connect(ml_db) as conn:
        assert conn.execute("SELECT count(*) FROM ml.model_registry").fetchone()[0] == 1


def test_missing_forecast_falls_back_and_a_rejected_candidate_never_serves(airflow_db, ml_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_ML_GATE_MIN_IMPROVEMENT", "0.99")  # no candidate can pass this
    with psycopg.connect(ml_db) as conn:
        conn.execute("DELETE FROM gold.fact_weather_hour_revision WHERE prediction_date = %s", (ML_ISSUE,))
    _run(load_dag())
    with psycopg.connect(ml_db) as conn:
        assert conn.execute("SELECT status FROM ml.model_registry").fetchall() == [("rejected",)]
    rows = ml_rows(ml_db)
    assert {r[0] for r in rows} == {"naive-baseline"}
    energy = [r for r in rows if r[1] == "energy_kwh"]
    assert len(energy) == 2 * 24 and not any(r[8] for r in energy)  # no day after without a forecast
    assert all(r[9] for r in energy)  # the reason is on every row


def test_gold_takes_presence_prob_from_the_latest_forecast_and_tenants_see_only_theirs(airflow_db, ml_db,
                                                                                    monkeypatch):
    from domotic import gold
    from domotic.gold import ledger as gold_ledger
    from domotic.gold.plan import plan_from_context

    monkeypatch.setenv("AIRFLOW_VAR_ML_GATE_MIN_IMPROVEMENT", "-10")
    issue = LOGICAL - timedelta(days=1)  # forecasts for the last generated day, which Gold holds
    run = load_dag().test(logical_date=issue)
    assert run.state == "success"
    next_day = LOGICAL
    with psycopg.connect(ml_db) as conn:
        pending = gold_ledger.pending(conn)
        assert pending.changes == 1  # the forecast window, for Gold
        gold.build(conn, plan_from_context(None, None, None, pending).parameters(["Sion"]))
        key = int(next_day.strftime("%Y%m%d%H%M")) + 1030
        prob, expected = conn.execute(
            "SELECT f.presence_prob, p.probability FROM gold.fact_presence_minute f"
            " JOIN gold.fact_ml_predictions p ON p.room_key = f.room_key AND p.target = 'presence'"
            "  AND p.target_datetime_key = f.datetime_key / 100 * 100"
            " WHERE f.datetime_key = %s", (key,)).fetchone()
        assert prob == pytest.approx(expected)
        # minutes before any forecast keep NULL
        assert conn.execute("SELECT count(*) FROM gold.fact_presence_minute WHERE presence_prob IS NOT NULL"
                            " AND datetime_key < %s", (int(next_day.strftime("%Y%m%d%H%M")),)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM gold.fact_presence_minute WHERE presence_prob IS NULL"
                            " AND datetime_key >= %s", (int(next_day.strftime("%Y%m%d%H%M")),)).fetchone()[0] == 0
        conn.execute("SET ROLE role_jimmy")
        seen = conn.execute("SELECT DISTINCT apartment_id FROM gold.fact_ml_predictions").fetchall()
        conn.execute("RESET ROLE")
    assert seen == [("jimmy",)]
