"""Start the services the tests and the demo need, on loopback, without touching system configuration.

Used by `tests/conftest.py` and `make demo`. Each ``ensure_*`` function first looks for the service a
developer machine (or CI) already runs on its standard port; when there is none, or when ``private=True``,
it starts a private instance from the Debian packages under ``<repo>/.services/<name>`` on a free port,
installing the package with apt when it is missing and we are root. Nothing is written outside that
folder except the apt install itself.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = Path(os.environ.get("DOMOTIC_SERVICES_DIR", REPO_ROOT / ".services"))


class ServiceError(RuntimeError):
    """A service could not be found or started; the message says which and why."""


@dataclass
class Service:
    """Where a running service listens, and how to stop it when we started it ourselves."""

    name: str
    host: str
    port: int
    user: str
    password: str = ""
    database: str = ""
    private: bool = False
    stop_cmds: list[list[str]] = field(default_factory=list)
    pid: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        for cmd in self.stop_cmds:
            subprocess.run(cmd, check=False, capture_output=True, timeout=60)
        if self.process is not None:  # our child: terminate and reap it (no zombie, no waiting on one)
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        elif self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(port: int, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.2)
    raise ServiceError(f"{what} did not start listening on 127.0.0.1:{port} within {seconds:.0f}s")


def apt_install(packages: list[str]) -> None:
    """Install Debian packages, or say exactly which are needed when we cannot."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceError(f"missing system packages {packages}: install them with apt-get (needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
    done = subprocess.run(["apt-get", "install", "-y", "-q", *packages], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceError(f"apt-get install {' '.join(packages)} failed: {done.stderr[-2000:]}")


# --------------------------------------------------------------------------------------------- Postgres


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        apt_install(["postgresql"])
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise ServiceError(f"PostgreSQL binary {name} not found after installing postgresql")
    return found[-1]


def _pg_accepts(host: str, port: int, user: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def ensure_postgres(private: bool = False, name: str = "postgres") -> Service:
    """Return a Postgres service: the machine's on 5432 (trust auth) unless private is asked or none runs."""
    if not private and port_open(5432) and _pg_accepts("127.0.0.1", 5432, "postgres"):
        return Service("postgres", "127.0.0.1", 5432, "postgres")
    return _start_private_postgres(SERVICES_DIR / name)


def _as_postgres_user() -> list[str]:
    """initdb refuses to run as root: run the server as the 'postgres' system user the package creates."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--home", "/var/lib/postgresql", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


def _start_private_postgres(folder: Path) -> Service:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    prefix = _as_postgres_user()
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if prefix:
        shutil.chown(folder, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
            check=True,
            capture_output=True,
        )
    if (data / "postmaster.pid").exists():
        # left running by an interrupted run (e.g. a killed bench): stop it, its port is not ours to know
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], check=False,
                       capture_output=True)
    port = free_port()
    opts = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
        "-c synchronous_commit=off -c shared_buffers=512MB -c max_wal_size=4GB -c max_connections=200"
    )
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", opts, "-w", "start"],
        check=True,
        capture_output=True,
    )
    wait_port(port, "private PostgreSQL")
    return Service(
        "postgres",
        "127.0.0.1",
        port,
        "postgres",
        private=True,
        stop_cmds=[[*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]],
    )


def drop_database(pg: Service, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def create_database(pg: Service, dbname: str, drop: bool = False) -> None:
    import psycopg
    from psycopg import sql

    if drop:
        drop_database(pg, dbname)
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def create_warehouse(pg: Service, dbname: str, drop: bool = False) -> dict:
    """A warehouse database at the code's schema version: the deploy step (domotic.warehouse migrations)."""
    import psycopg

    from domotic.warehouse.migrations import apply

    create_database(pg, dbname, drop=drop)
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=dbname) as conn:
        return apply(conn)


# ---------------------------------------------------------------------------------------------- MariaDB


def _mysql_accepts(port: int) -> bool:
    import MySQLdb

    try:
        MySQLdb.connect(host="127.0.0.1", port=port, user="root", passwd="", connect_timeout=3).close()
        return True
    except MySQLdb.Error:
        return False


def ensure_mariadb(private: bool = False, name: str = "mariadb") -> Service:
    """Return a MariaDB service: the machine's on 3306 (root, no password) unless private or none runs."""
    if not private and port_open(3306) and _mysql_accepts(3306):
        return Service("mariadb", "127.0.0.1", 3306, "root")
    return _start_private_mariadb(SERVICES_DIR / name)


def _start_private_mariadb(folder: Path) -> Service:
    if not shutil.which("mariadbd") and not Path("/usr/sbin/mariadbd").exists():
        apt_install(["mariadb-server"])
    daemon = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    install_db = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if not (data / "mysql").exists():
        subprocess.run(
            [install_db, "--no-defaults", f"--datadir={data}", "--user=root", "--auth-root-authentication-method=normal",
             "--skip-test-db"],
            check=True,
            capture_output=True,
        )
    port = free_port()
    log = open(folder / "server.log", "ab")  # noqa: SIM115 - handed to the daemon for its lifetime
    proc = subprocess.Popen(
        [daemon, "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
         f"--socket={folder / 'mysqld.sock'}", f"--pid-file={folder / 'mysqld.pid'}", "--user=root",
         "--innodb-flush-log-at-trx-commit=0", "--skip-name-resolve"],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    wait_port(port, "private MariaDB")
    for _ in range(100):
        if _mysql_accepts(port):
            break
        time.sleep(0.2)
    return Service("mariadb", "127.0.0.1", port, "root", private=True, pid=proc.pid, process=proc)


# ------------------------------------------------------------------------------------------------- SFTP


def start_sftp(root: Path, user: str = "meteo", password: str = "meteo-pass", port: int | None = None,
               host_key: Path | None = None) -> Service:
    """Start an SFTP server (asyncssh) on loopback serving ``root`` as its file system root.

    The host key is generated once and kept, so a test can pin it in the connection (host keys are
    verified by default in the SFTP provider).
    """
    folder = SERVICES_DIR / "sftp"
    folder.mkdir(parents=True, exist_ok=True)
    host_key = host_key or folder / "ssh_host_ed25519_key"
    port = port or free_port()
    log = open(folder / f"server-{port}.log", "ab")  # noqa: SIM115 - handed to the server process
    proc = subprocess.Popen(
        [sys.executable, "-m", "domotic_dev.sftp_server", "--root", str(root), "--port", str(port),
         "--user", user, "--password", password, "--host-key", str(host_key)],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        wait_port(port, "SFTP server", seconds=30)
    except ServiceError:
        proc.kill()
        raise
    public = (host_key.with_suffix(".pub")).read_text().split()
    return Service("sftp", "127.0.0.1", port, user, password, private=True, pid=proc.pid, process=proc,
                   extra={"host_key_type": public[0], "host_key": public[1], "root": str(root)})
