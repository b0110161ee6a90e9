"""Run a real Airflow 3 (scheduler, dag-processor, triggerer, api-server, LocalExecutor) on this machine.

Used by ``make demo``, ``make airflow`` and the benchmarks: it is the same Airflow a deployment runs, not
``dag.test()``. The metadata database is a Postgres database (SQLite locks under a LocalExecutor); every
component gets the same JWT secret so workers can talk to the Execution API of the api-server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from domotic_dev.services import Service, create_database, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


@dataclass
class LocalAirflow:
    home: Path
    meta: Service  # Postgres holding the metadata database
    meta_db: str = "airflow_meta"
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    api_port: int = 0
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.api_port = self.api_port or free_port()
        secret_file = self.home / "jwt_secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(32))
        self._secret = secret_file.read_text().strip()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        # psycopg2, as the official image: with the psycopg 3 dialect /ui/dependencies answered HTTP 500
        # (operator does not exist: jsonb #> character varying).
        meta = f"postgresql+psycopg2://{self.meta.user}@{self.meta.host}:{self.meta.port}/{self.meta_db}"
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret,
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
        }
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run([airflow_bin(), *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, cwd=self.home)
        if check and done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done

    def reset_metadata(self) -> None:
        """A fresh metadata database (so a demo run twice starts from the same state)."""
        create_database(self.meta, self.meta_db, drop=True)
        (self.home / "passwords.json").write_text(json.dumps({"admin": "admin"}))
        self.cli("db", "migrate", timeout=600)

    def start(self, components: Iterable[str] = COMPONENTS, env_for: dict[str, dict[str, str]] | None = None) -> None:
        """Start the components (``airflow <name>``); ``env_for`` adds variables for some of them."""
        logs = self.home / "component-logs"
        logs.mkdir(exist_ok=True)
        for name in components:
            args = [airflow_bin(), *name.split()]
            if name == "api-server":
                args += ["--port", str(self.api_port), "--host", "127.0.0.1"]
            elif name in ("scheduler", "triggerer"):
                # No log server (it binds every interface on a fixed port, 8793/8794, colliding with any other
                # Airflow): the api-server reads the task logs from the same disk.
                args += ["--skip-serve-logs"]
            out = open(logs / f"{name.replace(' ', '-')}.log", "ab")  # noqa: SIM115 - owned by the process
            env = {**self.env(), **(env_for or {}).get(name, {})}
            self.procs[name] = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.home,
                                                start_new_session=True)
        if "api-server" in self.procs:
            self.wait_api()

    def wait_api(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            self.check_alive()
            time.sleep(1)
        raise RuntimeError(f"Airflow api-server did not answer on {self.api_url} within {seconds:.0f}s")

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = self.home / "component-logs" / f"{name}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise RuntimeError(f"Airflow {name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 15)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        self.procs.clear()

    # ------------------------------------------------------------------------------------------ REST API

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call the public REST API as admin (a JWT from the simple auth manager, fetched once)."""
        if not getattr(self, "_token", None):
            self._token = self._request("POST", "/auth/token", {"username": "admin", "password": "admin"},
                                        auth=False)["access_token"]
        return self._request(method, path, body)

    def _request(self, method: str, path: str, body: dict | None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(f"{self.api_url}{path}", method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def post_asset_event(self, asset_name: str, extra: dict) -> dict:
        """An asset event as a producer (or an operator with the REST API) would emit it."""
        (asset_id,) = self.query("SELECT id FROM asset WHERE name = %s", (asset_name,))[0]
        return self.api("POST", "/api/v2/assets/events", {"asset_id": asset_id, "extra": extra})

    # ------------------------------------------------------------------------------------------ metadata

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(host=self.meta.host, port=self.meta.port, user=self.meta.user,
                             dbname=self.meta_db) as conn:
            return conn.execute(sql, params).fetchall()

    def wait_dags_parsed(self, dag_ids: Iterable[str], seconds: float = 180) -> None:
        wanted = set(dag_ids)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = {row[0] for row in self.query("SELECT dag_id FROM serialized_dag")}
            if wanted <= found:
                return
            self.check_alive()
            time.sleep(1)
        errors = self.query("SELECT filename, stacktrace FROM import_error")
        raise RuntimeError(f"DAGs not parsed in time: {wanted - found}; import errors: {errors}")

    def run_states(self, dag_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        rows = self.query(
            "SELECT dag_id, state, count(*) FROM dag_run WHERE dag_id = ANY(%s) GROUP BY 1, 2", (list(dag_ids),))
        states: dict[str, dict[str, int]] = {}
        for dag_id, state, count in rows:
            states.setdefault(dag_id, {})[state] = count
        return states

    def runs_finished(self, dag_ids: Iterable[str], runs: int) -> Callable[[dict[str, dict[str, int]]], bool]:
        """A ``wait_runs`` predicate: the DAGs have ``runs`` backfill or triggered runs, and none of their runs
        (including the scheduled one an unpaused DAG starts for its latest interval) is queued or running."""
        dag_ids = list(dag_ids)

        def done(_states: dict[str, dict[str, int]]) -> bool:
            rows = self.query("SELECT run_type, state FROM dag_run WHERE dag_id = ANY(%s)", (dag_ids,))
            ours = [row for row in rows if row[0] in ("backfill", "manual")]
            return len(ours) == runs and all(row[1] in ("success", "failed") for row in rows)

        return done

    def wait_runs(self, done: Callable[[dict[str, dict[str, int]]], bool], dag_ids: Iterable[str],
                  seconds: float, progress: Callable[[dict[str, dict[str, int]], float], None] | None = None) -> dict:
        dag_ids = list(dag_ids)
        start = time.monotonic()
        while True:
            states = self.run_states(dag_ids)
            if progress:
                progress(states, time.monotonic() - start)
            if done(states):
                return states
            if time.monotonic() - start > seconds:
                raise TimeoutError(f"runs not finished after {seconds:.0f}s: {states}")
            self.check_alive()
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    """``make airflow``: the whole system on this machine (see domotic_dev.stack), until Ctrl+C or SIGTERM."""
    import argparse

    from domotic_dev.stack import LocalStack, Ports, StopRequested, stop_on_signals

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8080, help="Airflow UI / API port (127.0.0.1; 0: a free one)")
    parser.add_argument("--smtp-port", type=int, default=0, help="SMTP catcher port (0: a free one)")
    parser.add_argument("--docs-port", type=int, default=0, help="runbook HTTP port (0: a free one)")
    parser.add_argument("--sftp-port", type=int, default=0, help="forecast SFTP port (0: a free one)")
    parser.add_argument("--name", default="live", help="state folder var/<name> (private services too)")
    args = parser.parse_args(argv)
    stack = LocalStack(name=args.name, ports=Ports(args.port, args.smtp_port, args.docs_port, args.sftp_port))
    with stop_on_signals():
        try:
            stack.start()
            print(stack.describe() + "\nCtrl+C (or SIGTERM) stops everything.", flush=True)
            while True:
                stack.airflow.check_alive()
                time.sleep(5)
        except (KeyboardInterrupt, StopRequested):
            print("stopping every component...", flush=True)
            return 0
        finally:
            stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
