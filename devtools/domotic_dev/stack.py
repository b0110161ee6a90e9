"""The whole system on this machine, wired as a deployment: what ``make airflow`` and ``make soak`` run.

``LocalStack`` starts, on 127.0.0.1 only and on configurable (else free) ports:

* a private PostgreSQL holding the warehouse (migrated: the deploy step) and Airflow's metadata database;
* a private MariaDB loaded with the pidb fixture (``include/fixtures/pidb.sql``);
* an SFTP server serving generated forecast files around today, its host key pinned in ``meteo_sftp``;
* an SMTP catcher writing every alert e-mail to ``var/<name>/mail/*.eml``;
* a static HTTP server for ``docs/`` (the runbook the DAGs' owner link points at);
* Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor, no log servers: the api-server
  reads the task logs from disk) with every connection and Variable set and every pipeline DAG unpaused;
* the live sensor simulator writing one file per apartment per minute into the share.

It stops everything it started, on normal exit, Ctrl+C (SIGINT) and SIGTERM alike, leaving no listener behind.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from domotic_dev.airflow_local import LocalAirflow
from domotic_dev.services import REPO_ROOT, Service, create_warehouse, ensure_postgres, free_port

PIPELINE_DAGS = ("warehouse_migrate", "mysql_snapshot_weekly", "sensors_minutely", "sensors_daily",
                 "weather_daily", "gold_build", "data_freshness", "maintenance_bronze_compaction",
                 "maintenance_vacuum", "maintenance_backup", "maintenance_disk_report")


class StopRequested(Exception):
    """SIGTERM arrived: unwind like Ctrl+C does."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM into an exception (SIGINT already is one), so ``finally`` blocks stop every component."""

    def raise_stop(signum: int, _frame: Any) -> None:
        raise StopRequested(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, raise_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class MailCatcher:
    """An SMTP server on loopback that writes each message it receives to ``folder`` as an .eml file."""

    def __init__(self, folder: Path, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.folder, self.port = folder, port
        folder.mkdir(parents=True, exist_ok=True)
        catcher = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd protocol
                name = f"{time.time_ns()}.eml"
                (catcher.folder / name).write_bytes(envelope.content)
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))


class DocsServer:
    """``docs/`` over HTTP on loopback: the owner link of every DAG opens the runbook."""

    def __init__(self, port: int) -> None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(REPO_ROOT / "docs"))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Ports:
    """Every listening port of the stack; 0 picks a free one. All bind 127.0.0.1."""

    api: int = 8080
    smtp: int = 0
    docs: int = 0
    sftp: int = 0

    def resolved(self) -> Ports:
        return Ports(self.api or free_port(), self.smtp or free_port(), self.docs or free_port(),
                     self.sftp or free_port())


@dataclass
class LocalStack:
    name: str = "live"
    ports: Ports = field(default_factory=Ports)
    seed: int = 1
    sensor_wait_seconds: int = 60
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    root: Path = field(init=False)
    services: list[Any] = field(default_factory=list)
    airflow: LocalAirflow | None = None
    pg: Service | None = None
    mail: MailCatcher | None = None
    docs: DocsServer | None = None
    arrivals: dict[str, float] = field(default_factory=dict)  # file name -> when the simulator wrote it

    def __post_init__(self) -> None:
        self.root = REPO_ROOT / "var" / self.name
        self.ports = self.ports.resolved()

    # -------------------------------------------------------------------------------------------- start

    def start(self) -> None:
        """Start every component (see the module docstring); ``stop()`` undoes whatever started."""
        from domotic_dev.demo import _connections, _start_meteo_sftp, _start_pidb

        shutil.rmtree(self.root, ignore_errors=True)
        share, bronze = self.root / "share", self.root / "bronze"
        for folder in (share, bronze, self.root / "backups"):
            folder.mkdir(parents=True)
        self.pg = self._keep(ensure_postgres(private=True, name=f"{self.name}-postgres"))
        create_warehouse(self.pg, "domotic", drop=True)
        pidb = self._keep(_start_pidb(name=f"{self.name}-mariadb"))
        today = self.started_at.date()
        sftp = self._keep(_start_meteo_sftp(self.root / "sftp", today - timedelta(days=3), 4,
                                            port=self.ports.sftp))
        self.mail = MailCatcher(self.root / "mail", self.ports.smtp)
        self.mail.start()
        self.docs = DocsServer(self.ports.docs)
        self.docs.start()
        self.airflow = LocalAirflow(home=self.root / "airflow", meta=self.pg, api_port=self.ports.api,
                                    extra_env=self._airflow_env(_connections(self.pg, pidb, sftp), share, bronze,
                                                                today))
        self.airflow.reset_metadata()
        self.airflow.start()
        self.airflow.wait_dags_parsed(PIPELINE_DAGS)
        for dag_id in PIPELINE_DAGS:
            if dag_id != "warehouse_migrate":  # done already (the deploy step); it has no schedule anyway
                self.airflow.cli("dags", "unpause", dag_id)
        threading.Thread(target=self._simulate, args=(share,), daemon=True).start()

    def _keep(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def _airflow_env(self, connections: dict[str, str], share: Path, bronze: Path, today: date) -> dict[str, str]:
        return {
            **connections,
            "AIRFLOW_CONN_ALERTS_SMTP": json.dumps({
                "conn_type": "smtp", "host": "127.0.0.1", "port": self.ports.smtp,
                "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 10}}),
            "AIRFLOW_VAR_DOMOTIC_SMB_PATH": str(share),
            "AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT": str(bronze),
            "AIRFLOW_VAR_BACKUP_DIR": str(self.root / "backups"),
            "AIRFLOW_VAR_SENSOR_WAIT_SECONDS": str(self.sensor_wait_seconds),
            "AIRFLOW_VAR_ALERTS_EMAIL_TO": "operator@localhost",
            "DOMOTIC_CATCHUP": "false",
            # Live mode: the history starts today, so the scheduler queues no past day.
            "DOMOTIC_HISTORY_START": today.isoformat(),
            "DOMOTIC_RUNBOOK_URL": f"{self.docs.url}/runbook.md",
            "DOMOTIC_SFTP_RETRY_DELAY_SECONDS": "30",
        }

    def _simulate(self, share: Path) -> None:
        from domotic.generator.live import run_live

        run_live(share, seed=self.seed, on_write=lambda name, at: self.arrivals.__setitem__(name, at))

    # -------------------------------------------------------------------------------------------- report

    @property
    def warehouse_dsn(self) -> str:
        return f"postgresql://{self.pg.user}@{self.pg.host}:{self.pg.port}/domotic"

    def describe(self) -> str:
        return "\n".join([
            f"Airflow UI:      {self.airflow.api_url}  (login admin / admin)",
            f"Warehouse:       {self.warehouse_dsn}   (psql \"{self.warehouse_dsn}\")",
            f"Alert e-mails:   {self.mail.folder}/*.eml  (SMTP catcher on 127.0.0.1:{self.ports.smtp}); every "
            "alert is also in the warehouse table ops.alerts and the task/triggerer log",
            f"Runbook:         {self.docs.url}/runbook.md",
            f"Sensor share:    {self.root / 'share'}  (live simulator, one file per apartment per minute)",
            f"Component logs:  {self.airflow.home / 'component-logs'}",
        ])

    # -------------------------------------------------------------------------------------------- stop

    def stop(self) -> None:
        if self.airflow is not None:
            self.airflow.stop()
        for part in (self.mail, self.docs):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
