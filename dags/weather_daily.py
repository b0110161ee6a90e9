"""
### weather_daily: MeteoSwiss forecast files from the sFTP server to Bronze and Silver

Every day at 07:30 Europe/Zurich. The run with logical date **D** (its Europe/Zurich calendar day) brings Silver
up to date with the server **for every forecast issued up to D**:

1. **fetch_new_files**: one SSH session on connection `meteo_sftp` lists the folder `meteo_sftp_path`
   (default `/Meteo2`) and downloads the `Pred_YYYY-MM-DD.csv` files issued on or before D that are new or
   changed since the manifest `silver.weather_file_manifest` last saw them (size, modification time, then
   content checksum) into `<domotic_bronze_root>/weather/YYYY/MM/DD/`. Later files are left to their own run.
   Bronze is never consulted, so cleaning it up never triggers downloads again.
2. **load_new_files**: cleans every downloaded, not yet loaded file issued up to D into
   `silver.weather_forecasts` (every revision) and `silver.weather_clean` (latest forecast per hour and site),
   and emits the `silver_weather` asset with the forecast hours it changed. Skipped when nothing was new.

So D's own file is loaded by D's run, and a late or corrected delivery of an earlier day is picked up by the
next run. Runs are idempotent: re-running any day loads nothing twice.

    airflow dags test weather_daily 2023-09-01          # everything issued up to 2023-09-01 that is new
    airflow dags trigger weather_daily \\
        --logical-date 2023-10-27T05:30:00+00:00         # the whole history up to 10-27 in ONE run (2 tasks)
    airflow backfill create --dag-id weather_daily \\
        --from-date 2023-08-18 --to-date 2023-10-27T12:00  # one run per day: only to redo days one by one

The schedule is a `CronTriggerTimetable` (no data interval: logical date = trigger time, 07:30 Zurich), so the
day a run names is the day it runs, as the original's 07:30 job. Backfill picks the runs whose logical date
lies in `[--from-date, --to-date]`; a bare `--to-date 2023-10-27` means midnight UTC, before that day's 07:30
trigger, so it stops at the 10-26 run: give a time after 07:30 (as above) to include the last day.

Retries of the sFTP step: refused, timed-out or reset connections retry 3 times,
`DOMOTIC_SFTP_RETRY_DELAY_SECONDS` apart (default 600); a rejected login, an unknown host key or a missing
remote folder fail at once. See `docs/weather.md`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, ExceptionRetryPolicy, RetryAction, RetryRule, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from domotic.errors import PermanentError
from domotic.settings import env, history_start
from domotic.weather import SCHEDULE_TZ
from domotic.weather import tasks as weather_tasks
from domotic_airflow.assets import SILVER_WEATHER
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline, task_timeout

HISTORY_START = history_start()

# Deployment setting (environment, cheap at parse time): how long to wait before retrying an unreachable server.
SFTP_RETRY_DELAY = timedelta(seconds=float(env("DOMOTIC_SFTP_RETRY_DELAY_SECONDS")))

# First matching rule wins. domotic.weather.fetch turns paramiko's errors into these classes: PermanentError
# (login rejected, host key unknown, remote folder missing) and ConnectionError (refused, timed out, reset).
SFTP_RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=PermanentError,
            action=RetryAction.FAIL,
            reason="sFTP: permanent error (login, host key or missing folder): not retried",
        ),
        RetryRule(
            exception="paramiko.ssh_exception.AuthenticationException",
            action=RetryAction.FAIL,
            reason="sFTP authentication failed: fix the meteo_sftp connection",
        ),
        RetryRule(
            exception=[ConnectionError, TimeoutError, "paramiko.ssh_exception.NoValidConnectionsError"],
            action=RetryAction.RETRY,
            retry_delay=SFTP_RETRY_DELAY,
            reason="sFTP server unreachable (refused, timed out or reset): retry later",
        ),
    ]
)

# Every task body is one call into domotic.weather.tasks, which does not import pandas: parsing this file
# stays cheap (tests/unit/test_weather_clean.py checks it).


@dag(
    dag_id="weather_daily",
    description="Daily 07:30 Europe/Zurich: new or corrected forecast files over sFTP to Bronze and Silver",
    schedule=CronTriggerTimetable("30 7 * * *", timezone=SCHEDULE_TZ),
    start_date=pendulum.datetime(HISTORY_START.year, HISTORY_START.month, HISTORY_START.day, tz="UTC"),
    # No catch-up, whatever DOMOTIC_CATCHUP says: one run brings everything issued up to its day, so a history
    # needs one run (the latest), not one per day; later runs find nothing new.
    catchup=False,
    max_active_runs=1,
    # A first run on a fresh deployment downloads and loads the whole archive (~300 files).
    dagrun_timeout=timedelta(hours=6),
    tags=["weather", "sftp", "bronze", "silver"],
    default_args=default_args(),
    owner_links=owner_links(),
    # Scheduled at 07:30 Zurich: 90 min after the logical date is "not finished by 09:00 Europe/Zurich".
    deadline=run_deadline("weather_daily", 90, rule="must finish by 09:00 Europe/Zurich", after_logical_date=True),
    doc_md=__doc__,
)
def weather_daily():

    # Refused/timed-out/reset connections retry every SFTP_RETRY_DELAY (the policy's delay wins over the
    # backoff); errors no rule matches keep the default exponential backoff from that base.
    # Backfill runs do not count against max_active_runs: one fetch and one load at a time across all runs.
    @task(retries=3, retry_delay=SFTP_RETRY_DELAY, retry_policy=SFTP_RETRY_POLICY, max_active_tis_per_dag=1,
          execution_timeout=task_timeout("sftp_fetch"))
    def fetch_new_files(logical_date=None, dag_run=None) -> dict:
        return weather_tasks.fetch_new_files(logical_date, dag_run.run_after)

    @task(outlets=[SILVER_WEATHER], max_active_tis_per_dag=1, execution_timeout=task_timeout("weather_load"))
    def load_new_files(logical_date=None, dag_run=None, outlet_events=None) -> dict:
        try:
            return weather_tasks.load_new_files(
                logical_date, dag_run.run_after, outlet_events[SILVER_WEATHER]
            )
        except weather_tasks.NothingLoaded as nothing:
            raise AirflowSkipException(str(nothing)) from None

    fetch_new_files() >> load_new_files()


weather_daily()
