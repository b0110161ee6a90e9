"""``make bi``: Apache Superset on 127.0.0.1 with the dashboards of bi/assets, on a warehouse holding demo data.

1. a private PostgreSQL (``.services/bi-postgres``, kept between runs) with the warehouse ``domotic_bi``: at the
   code's schema version, filled once with ``make demo``'s generated days through the pipeline's own code
   (``domotic_dev.bi_warehouse``; ``--fresh`` regenerates them), and the BI logins of bi/users.yaml;
2. Superset from its own virtualenv (``.venv-bi``, installed by ``make install``), its metadata in
   ``var/bi/superset``: ``bi/provision.py setup`` (upgrade, roles, users, the assets imported);
3. gunicorn on http://127.0.0.1:8088 (``--port``); prints the URL and the logins, and runs until Ctrl-C or
   SIGTERM, then stops gunicorn and PostgreSQL and exits 0.

``python -m domotic_dev.bi export`` writes what the running (or last) Superset holds back into bi/assets.
``LocalSuperset`` is the same stack for the BI checks (tests/bi/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from domotic_dev.bi_warehouse import bi_users, fill_demo_warehouse, has_demo_data
from domotic_dev.services import REPO_ROOT, Service, create_warehouse, ensure_postgres, free_port, port_open

BI_DIR = REPO_ROOT / "bi"
BI_VENV = Path(os.environ.get("DOMOTIC_BI_VENV", REPO_ROOT / ".venv-bi"))
DEFAULT_PORT = 8088
WAREHOUSE_DB = "domotic_bi"


def superset_python() -> Path:
    python = BI_VENV / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"Superset's virtualenv is missing ({BI_VENV}): run `make install` (or `make bi-venv`)")
    return python


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass
class LocalSuperset:
    """Superset (gunicorn, from .venv-bi) provisioned from bi/ against the warehouse ``dbname`` of ``pg``."""

    home: Path
    pg: Service
    dbname: str
    port: int = 0
    workers: int = 2
    process: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env.update({
            "SUPERSET_CONFIG_PATH": str(BI_DIR / "superset_config.py"),
            "DOMOTIC_BI_HOME": str(self.home),
            "DOMOTIC_BI_LOCAL_DEV": "1",  # a generated secret key kept in home, passwords = usernames
            "DOMOTIC_BI_WAREHOUSE_HOST": self.pg.host,
            "DOMOTIC_BI_WAREHOUSE_PORT": str(self.pg.port),
            "DOMOTIC_BI_WAREHOUSE_DB": self.dbname,
            "FLASK_APP": "superset.app:create_app()",
            "PATH": f"{BI_VENV / 'bin'}:{os.environ.get('PATH', '')}",
        })
        return env

    def run(self, *args: str, timeout: float = 600) -> str:
        """``bi/provision.py <args>`` with Superset's Python; returns its standard output."""
        done = subprocess.run([str(superset_python()), str(BI_DIR / "provision.py"), *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout, cwd=self.home)
        if done.returncode != 0:
            raise RuntimeError(f"provision.py {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done.stdout

    def provision(self) -> str:
        return self.run("setup")

    def logins(self) -> str:
        """The warehouse logins of bi/users.yaml (``provision.py logins``, as the local superuser)."""
        pg = self.pg
        return self.run("logins", "--admin-uri",
                        f"postgresql://{pg.user}@{pg.host}:{pg.port}/{self.dbname}")

    def export(self, out: Path) -> None:
        self.run("export", "--out", str(out))

    def start(self, seconds: float = 120) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is taken: pass another with --port")
        log = open(self.home / "gunicorn.log", "ab")  # noqa: SIM115 - handed to gunicorn for its lifetime
        self.process = subprocess.Popen(
            [str(BI_VENV / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
             "--worker-class", "gthread", "--threads", "4", "--timeout", "120", "--graceful-timeout", "10",
             "--limit-request-line", "0", "superset.app:create_app()"],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.home, start_new_session=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.home / "gunicorn.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"Superset (gunicorn) exited with {self.process.returncode}:\n{tail}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                if response.status == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"Superset did not answer on {self.url}/health within {seconds:.0f}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def api_token(self, user: str, password: str | None = None) -> str:
        body = json.dumps({"username": user, "password": password or user, "provider": "db"}).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/security/login", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]

    def api_get(self, path: str, token: str) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def prepare_warehouse(pg: Service, dbname: str, fresh: bool = False, days: int = 3) -> dict | None:
    """The warehouse at the code's schema version with demo data (generated when missing or ``fresh``)."""
    if fresh or not has_demo_data(pg, dbname):
        return fill_demo_warehouse(pg, dbname, days=days)
    create_warehouse(pg, dbname)  # migrations only (idempotent)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=("run", "export"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 = a free port")
    parser.add_argument("--fresh", action="store_true", help="regenerate the demo warehouse")
    parser.add_argument("--days", type=int, default=3, help="generated days (with --fresh or a first start)")
    parser.add_argument("--out", type=Path, default=BI_DIR / "assets", help="export: target folder")
    args = parser.parse_args(argv)
    home = REPO_ROOT / "var" / "bi" / "superset"
    if args.command == "export":
        # Export reads Superset's metadata only (no warehouse connection): works while `make bi` runs or after.
        LocalSuperset(home, Service("postgres", "127.0.0.1", 5432, "postgres"), WAREHOUSE_DB, port=1).export(args.out)
        _say(f"exported into {args.out}: review with `git diff {args.out.relative_to(REPO_ROOT)}`")
        return 0

    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    pg = superset = None
    try:
        _say("== private PostgreSQL (.services/bi-postgres), warehouse domotic_bi")
        superset_python()
        pg = ensure_postgres(private=True, name="bi-postgres")
        filled = prepare_warehouse(pg, WAREHOUSE_DB, fresh=args.fresh, days=args.days)
        if filled:
            _say(f"   demo data: {filled['days']} generated days, {filled['files']} sensor files, {filled['rows']} "
                 f"readings, Silver and Gold in {filled['seconds']}s")
        else:
            _say("   demo data already there (--fresh regenerates it)")
        superset = LocalSuperset(home, pg, WAREHOUSE_DB, port=args.port or free_port())
        superset.logins()
        _say("== Superset: metadata, roles, users, assets of bi/assets (bi/provision.py setup)")
        t0 = time.monotonic()
        report = superset.provision()
        report = report[report.find("setup:"):].strip()  # the summary, without the migrations' chatter
        _say("   " + report.replace("\n", "\n   ") + f"\n   ({time.monotonic() - t0:.0f}s)")
        if stopping.is_set():
            return 0
        superset.start()
        _say(f"\nSuperset is up in {time.monotonic() - started:.0f}s: {superset.url}/")
        _say("  logins (local development only):")
        for user in bi_users():
            _say(f"    {user['username']:<8} / {user['username']:<8} {user['superset_role']:<6} "
                 f"queries the warehouse as {user['db_login']} (member of {user['db_role']})")
        _say(f"  warehouse: psql -h {pg.host} -p {pg.port} -U postgres {WAREHOUSE_DB}")
        _say("  Ctrl-C (or SIGTERM) stops Superset and PostgreSQL.")
        while not stopping.wait(1):
            if superset.process is not None and superset.process.poll() is not None:
                _say(f"!! Superset exited with {superset.process.returncode}; log: {home / 'gunicorn.log'}")
                return 1
        _say("\n== stopping")
        return 0
    finally:
        if superset is not None:
            superset.stop()
        if pg is not None:
            pg.stop()
        _say("== stopped")


if __name__ == "__main__":
    sys.exit(main())
