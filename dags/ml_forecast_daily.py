"""
### ml_forecast_daily: energy and presence forecasts into `gold.fact_ml_predictions`

**Schedule**: daily at 00:00 UTC (`CronDataIntervalTimetable`): the run for logical date **D** starts when D
ends and first waits (`wait_for_gold`, deferred to the triggerer, up to 6 h) until Gold is complete for D: its last
hour built and no Silver change pending in Gold's work ledger up to it. That is the dependency on
`gold_build`, explicit and backfillable (an asset schedule could not be backfilled).

**What a run does** (`domotic.ml`, docs/ml.md): issue day D, issued at D+1 00:00 UTC from data up to then:
- `maintain_models`: the serving model's live error over the last days; retrains (history up to the end of
  D) when there is none, when it is `ml_retrain_every_days` old, or when its error degraded past
  `ml_degradation_ratio` (an alert says so); a candidate is backtested (rolling origin) and promoted only when
  it beats the naive baselines (`ml_gate_min_improvement`); otherwise the previous model keeps serving.
- `issue_forecasts`: hourly kWh per apartment for D+1 (and D+2 where the weather forecast issued on D covers
  it), presence probability per room and hour for D+1. No usable forecast: the no-weather model, recorded
  on the rows. Re-running replaces the rows of (model version, D). Emits `ml_predictions`; Gold's next build
  sets `fact_presence_minute.presence_prob` of those minutes.
- `quality_gates`: every apartment x hour and room x hour present, probabilities in [0, 1], kWh >= 0, no NaN.

      airflow dags test ml_forecast_daily 2023-10-27                  # issue day 2023-10-27 (forecasts 10-28/29)
      airflow backfill create --dag-id ml_forecast_daily \\
          --from-date 2023-09-01 --to-date 2023-10-27                  # one run per issue day, oldest first
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from domotic.ml import tasks as ml_tasks
from domotic.settings import catchup_enabled, history_start
from domotic_airflow.assets import ML_PREDICTIONS
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline
from domotic_airflow.sensors import GoldReadySensor

HISTORY_START = history_start()


@dag(
    dag_id="ml_forecast_daily",
    description="Daily 00:00 UTC once Gold has the day: energy and presence forecasts for the next 48 h into "
                "gold.fact_ml_predictions",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(HISTORY_START.year, HISTORY_START.month, HISTORY_START.day, tz="UTC"),
    catchup=catchup_enabled(),
    max_active_runs=1,  # models are trained on the days before: runs go in date order
    dagrun_timeout=timedelta(hours=8),
    tags=["ml", "gold", "forecast", "backfill"],
    default_args=default_args(),
    owner_links=owner_links(),
    deadline=run_deadline("ml_forecast_daily", 8 * 60),
    doc_md=__doc__,
)
def ml_forecast_daily():
    wait_for_gold = GoldReadySensor(task_id="wait_for_gold", poke_interval=300, timeout=6 * 3600)

    # The wall clock is read here, at the task boundary (the registry's trained_at), and passed down.
    @task
    def maintain_models(logical_date=None, dag_run=None) -> dict:
        return ml_tasks.maintain_models(logical_date, dag_run.run_id, now=pendulum.now("UTC"))

    @task(outlets=[ML_PREDICTIONS])
    def issue_forecasts(logical_date=None, dag_run=None, outlet_events=None) -> dict:
        summary = ml_tasks.issue_forecasts(logical_date, dag_run.run_id)
        outlet_events[ML_PREDICTIONS].extra = {k: summary[k] for k in ("window_start", "window_end")}
        return summary

    @task
    def quality_gates(logical_date=None, dag_run=None) -> dict:
        return ml_tasks.check_forecasts(logical_date, dag_run.run_id)

    wait_for_gold >> maintain_models() >> issue_forecasts() >> quality_gates()


ml_forecast_daily()
