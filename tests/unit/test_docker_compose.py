"""Static checks of docker-compose.yaml and the Dockerfile it builds (there is no Docker engine to run them).

What the stack must provide is read from the code, not restated here: the connection ids from
``include/python/domotic/config.py`` and every ``conn_id="..."`` literal of the DAGs, plugins and pipeline code;
the Variables from every ``DEFAULTS`` dict of the ``domotic`` package; the Airflow version from requirements.txt.
``${NAME:-default}`` is resolved to its default, which is what ``docker compose`` uses in a fresh clone;
``${NAME:?message}`` (a value the stack refuses to start without) to nothing, or to what ``scripts/compose-env.sh``
writes when a test passes that environment.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
PACKAGE_DIR = REPO / "include" / "python" / "domotic"
CODE_DIRS = (REPO / "dags", REPO / "plugins", REPO / "include" / "python")
# Local developer tooling (make demo/bench) builds its own connections; it never runs in the stack.
NOT_DEPLOYED = ("devtools",)

# The official Airflow 3.3 CeleryExecutor services and the command each one runs.
OFFICIAL_SERVICES = {
    "postgres": None,
    "redis": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
    "airflow-init": None,
}
LONG_RUNNING_AIRFLOW = [name for name, command in OFFICIAL_SERVICES.items() if command]
# Health checks of the official file, by the text each must contain.
HEALTH_CHECKS = {
    "postgres": "pg_isready",
    "redis": "redis-cli",
    "airflow-apiserver": "/api/v2/version",
    "airflow-scheduler": ":8974/health",
    "airflow-dag-processor": "DagProcessorJob",
    "airflow-worker": "inspect ping",
    "airflow-triggerer": "TriggererJob",
}
# Connection id -> the connection types its hook accepts.
CONN_TYPES = {
    "domotic_postgres": {"postgres"},
    "pidb_mysql": {"mysql"},
    "meteo_sftp": {"sftp", "ssh"},
    "alerts_smtp": {"smtp"},
}
# Variables whose value depends on the deployment: they must be set explicitly.
DEPLOYMENT_VARIABLES = {"domotic_smb_path", "domotic_bronze_root", "domotic_source_tz", "meteo_sftp_path"}
# Bind-mounted folders that docker / airflow-init create at start (the official guide: mkdir -p logs config),
# and the secrets scripts/compose-env.sh makes once per checkout.
RUNTIME_DIRS = {"logs", "config", "secrets"}
SECRETS_SCRIPT = REPO / "scripts" / "compose-env.sh"
LEFT_TO_DEFAULT_KEY = "x-domotic-variables-left-to-default"

# An innermost ${...} (no brace inside): nested defaults are resolved from the inside out, as compose does.
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^{}]*))?\}")
_REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?([^{}]*)\}")


def resolve(text: str, environ: dict[str, str] | None = None) -> str:
    """``${NAME:-default}`` -> NAME from ``environ`` or the default, ``${NAME}`` / ``${NAME:?message}`` -> NAME from
    ``environ`` or '' (nothing set), ``$$`` -> ``$``."""
    environ = environ or {}

    def value(match: re.Match) -> str:
        name, operator, argument = match.groups()
        found = environ.get(name)
        if operator in (":-", "-"):
            return found if found or (operator == "-" and found is not None) else argument
        return found or ""

    text = text.replace("$$", "\0")
    while (resolved := _INTERPOLATION.sub(value, text)) != text:
        text = resolved
    return text.replace("\0", "$")


@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def env(service: str) -> dict[str, str]:
    raw = services()[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: resolve(str(value)) for key, value in raw.items()}


def mounts(service: str) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of a service's volumes, short or long syntax, defaults resolved."""
    result = []
    for entry in services()[service].get("volumes") or []:
        if isinstance(entry, dict):
            result.append((resolve(str(entry.get("source", ""))), entry["target"], bool(entry.get("read_only"))))
            continue
        parts = resolve(entry).split(":")
        result.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return result


def mount_at(service: str, target: str) -> tuple[str, bool] | None:
    for source, path, read_only in mounts(service):
        if path.rstrip("/") == target.rstrip("/"):
            return source, read_only
    return None


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def command_text(service: str) -> str:
    command = services()[service].get("command", "")
    return resolve(" ".join(command) if isinstance(command, list) else str(command))


def image_tag(image: str) -> str:
    return resolve(image).rsplit(":", 1)[1]


def airflow_pin() -> str:
    pins = re.findall(r"^apache-airflow==([\w.]+)\s*$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pins) == 1, "requirements.txt must pin apache-airflow exactly once"
    return pins[0]


def _code_files() -> list[Path]:
    files = []
    for folder in CODE_DIRS:
        files += [p for p in folder.rglob("*.py") if not any(part in NOT_DEPLOYED for part in p.parts)]
    return files


@functools.cache
def connection_ids_in_code() -> dict[str, str]:
    """conn id -> a file using it: ``*_CONN_ID = "..."`` constants and ``*conn_id="..."`` literals."""
    constant = re.compile(r"^\s*[A-Z][A-Z0-9_]*_CONN_ID\s*(?::\s*str\s*)?=\s*[\"']([\w.-]+)[\"']", re.MULTILINE)
    keyword = re.compile(r"\b\w*conn_id\s*(?::\s*[\w|\[\] ]+)?=\s*[\"']([\w.-]+)[\"']")
    found: dict[str, str] = {}
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        for conn_id in constant.findall(text) + keyword.findall(text):
            found.setdefault(conn_id, str(path.relative_to(REPO)))
    return found


def variable_defaults() -> dict[str, str]:
    """Every registered Variable (domotic.settings.VARIABLES) -> its default."""
    from domotic.settings import VARIABLES

    return {key: setting.default for key, setting in VARIABLES.items()}


def parse_connection(value: str) -> tuple[str, str | None, dict[str, Any]]:
    """(conn_type, host, extra) of an ``AIRFLOW_CONN_*`` value, JSON or URI."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        extra = data.get("extra") or {}
        return data["conn_type"], data.get("host"), json.loads(extra) if isinstance(extra, str) else extra
    parts = urlsplit(value)
    extra = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    return parts.scheme.replace("postgresql", "postgres").replace("-", "_"), parts.hostname, extra


# ------------------------------------------------------------------------------------------------ structure


def test_yaml_is_valid_with_the_shared_airflow_anchor():
    data = compose()
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    common = data["x-airflow-common"]
    assert resolve(common["environment"]["AIRFLOW__CORE__EXECUTOR"]) == "CeleryExecutor"
    assert resolve(common["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).startswith(
        "http://airflow-apiserver:8080/")
    # The anchor is merged into every Airflow service (YAML `<<: *airflow-common`).
    for name in LONG_RUNNING_AIRFLOW:
        assert services()[name]["image"] == common["image"], name


@pytest.mark.parametrize("name", list(OFFICIAL_SERVICES))
def test_official_airflow_service_present(name):
    assert name in services(), f"service {name!r} of the official Airflow 3.3 stack is missing"
    if OFFICIAL_SERVICES[name]:
        assert command_text(name) == OFFICIAL_SERVICES[name]
    if name in HEALTH_CHECKS:
        test = services()[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no health check"
        assert HEALTH_CHECKS[name] in " ".join(test if isinstance(test, list) else [test])


def test_airflow_init_migrates_the_metadata_database():
    init = services()["airflow-init"]
    assert env("airflow-init")["_AIRFLOW_DB_MIGRATE"] == "true"
    assert str(init["user"]) == "0:0"
    for name in LONG_RUNNING_AIRFLOW:
        depends = services()[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name


def test_airflow_init_applies_the_warehouse_migrations_once_the_warehouse_is_up():
    """Runs do no DDL: the schema is a deploy step, run by airflow-init before any Airflow service starts."""
    init = services()["airflow-init"]
    assert "python -m domotic.warehouse migrate" in "\n".join(init["command"])
    assert init["depends_on"]["warehouse"]["condition"] == "service_healthy"
    assert "AIRFLOW_CONN_DOMOTIC_POSTGRES" in env("airflow-init")


def test_warehouse_service():
    warehouse = services()["warehouse"]
    assert resolve(warehouse["image"]) == "postgres:15"
    assert env("warehouse")["POSTGRES_DB"] == "domotic"
    assert "healthcheck" in warehouse


def test_pidb_service_is_loaded_from_the_fixture():
    pidb = services()["pidb"]
    assert resolve(pidb["image"]).split(":")[0].split("/")[-1] in {"mysql", "mariadb"}
    fixtures = [(source, target) for source, target, _ in mounts("pidb") if target.startswith("/docker-entrypoint-initdb.d/")]
    assert fixtures, "pidb must mount the fixture dump into /docker-entrypoint-initdb.d/"
    for source, target in fixtures:
        assert (REPO / source).resolve() == (REPO / "include" / "fixtures" / "pidb.sql").resolve()
        assert (REPO / source).is_file() and target.endswith(".sql")
    # The fixture creates the database the connection reads.
    assert "CREATE DATABASE IF NOT EXISTS `pidb`" in (REPO / "include" / "fixtures" / "pidb.sql").read_text()


def test_smtp_catcher_service():
    smtp = [name for name, svc in services().items()
            if any(kind in resolve(str(svc.get("image", ""))) for kind in ("mailpit", "mailhog"))]
    assert smtp, "an SMTP catcher (mailpit or mailhog) must receive the alert e-mails"


@pytest.mark.parametrize("name", ["simulator", "generate-weather"])
def test_source_simulators_run_in_profile_live(name):
    svc = services()[name]
    assert "live" in svc.get("profiles", []), f"{name} must only start with --profile live"
    assert "domotic.generator" in command_text(name)


@pytest.mark.parametrize("name", ["simulator", "generate-sensors"])
def test_sensor_generators_write_into_the_share_airflow_reads(name):
    command = command_text(name)
    out = re.search(r"--out\s+(\S+)", command).group(1)
    share = env("airflow-worker")["AIRFLOW_VAR_DOMOTIC_SMB_PATH"]
    written, worker = mount_at(name, out), mount_at("airflow-worker", share)
    assert written is not None and not written[1], f"{name} must write into a writable share volume"
    assert worker is not None and written[0] == worker[0], f"{name} writes {written[0]}, Airflow reads {worker}"
    # File names carry the source clock: the generator must write in the zone Airflow parses them in.
    tz = re.search(r"--source-tz\s+(\S+)", command)
    assert tz is not None and tz.group(1) == env("airflow-worker")["AIRFLOW_VAR_DOMOTIC_SOURCE_TZ"], name


def test_simulator_runs_the_live_mode():
    assert "domotic.generator live" in command_text("simulator")


def test_generated_forecasts_are_served_by_the_sftp_server():
    out = re.search(r"--out\s+(\S+)", command_text("generate-weather")).group(1)
    forecast_volume = mount_at("generate-weather", out)[0]
    served = [target for source, target, _ in mounts("meteo-sftp") if source == forecast_volume]
    assert served, "meteo-sftp must serve the volume generate-weather writes"
    # atmoz/sftp chroots user <u> to /home/<u>: the volume at /home/<u>/X is the remote folder /X.
    user = command_text("meteo-sftp").split(":")[0]
    remote = env("airflow-worker")["AIRFLOW_VAR_METEO_SFTP_PATH"]
    assert f"/home/{user}{remote}" in served


def test_depends_on_and_named_volumes_are_declared():
    declared = set((compose().get("volumes") or {}).keys())
    for name, svc in services().items():
        depends = svc.get("depends_on") or {}
        for target in depends:
            assert target in services(), f"{name} depends on unknown service {target}"
            # A dependency must be started whenever its dependant is: no profile, or the same one.
            target_profiles = set(services()[target].get("profiles", []))
            assert not target_profiles or target_profiles & set(svc.get("profiles", [])), (name, target)
        for source, _, _ in mounts(name):
            if not is_bind(source):
                assert source in declared, f"{name} mounts undeclared volume {source}"


# ------------------------------------------------------------------------------------------------- mounts


@pytest.mark.parametrize("folder", ["dags", "plugins", "include"])
def test_airflow_common_mounts_repo_folder(folder):
    common_volumes = [resolve(v).split(":") for v in compose()["x-airflow-common"]["volumes"]]
    assert [f"./{folder}", f"/opt/airflow/{folder}"] in [v[:2] for v in common_volumes]
    for name in [*LONG_RUNNING_AIRFLOW, "airflow-init"]:
        source = mount_at(name, f"/opt/airflow/{folder}")
        assert source is not None and source[0] == f"./{folder}", name


def test_bind_mounted_host_paths_exist_in_the_repo():
    for name in services():
        for source, target, _ in mounts(name):
            if not is_bind(source):
                continue
            relative = Path(source).relative_to(".") if source.startswith(".") else None
            assert relative is not None, f"{name}: bind mount {source} must be relative to the repository"
            if relative.parts and relative.parts[0] in RUNTIME_DIRS:
                continue
            assert (REPO / relative).exists(), f"{name}: {source} (mounted at {target}) is not in the repository"


@pytest.mark.parametrize("service", ["airflow-worker", "airflow-triggerer"])
def test_share_is_mounted_where_the_variable_points(service):
    share = env(service)["AIRFLOW_VAR_DOMOTIC_SMB_PATH"]
    assert mount_at(service, share) is not None, f"{service}: nothing mounted at domotic_smb_path {share}"


def test_bronze_and_backups_are_writable_volumes_in_the_worker():
    for variable in ("AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT", "AIRFLOW_VAR_BACKUP_DIR"):
        path = env("airflow-worker")[variable]
        mounted = mount_at("airflow-worker", path)
        assert mounted is not None and not mounted[1], f"{variable}={path} must be a writable mount"
        assert not is_bind(mounted[0]), f"{variable} should be a named volume"


# ------------------------------------------------------------------------------ connections and variables


def test_connection_scan_finds_the_contract_ids():
    assert set(CONN_TYPES) <= set(connection_ids_in_code())


@pytest.mark.parametrize("conn_id", sorted(set(connection_ids_in_code()) | set(CONN_TYPES)))
def test_connection_is_defined_for_every_airflow_service(conn_id):
    key = f"AIRFLOW_CONN_{conn_id.upper()}"
    for name in [*LONG_RUNNING_AIRFLOW, "airflow-init"]:
        assert key in env(name), f"{key} (used in {connection_ids_in_code().get(conn_id)}) missing from {name}"
    conn_type, host, extra = parse_connection(env("airflow-worker")[key])
    if conn_id in CONN_TYPES:
        assert conn_type in CONN_TYPES[conn_id], f"{key}: conn_type {conn_type}"
    # The dev defaults point at the bundled services.
    assert host in services(), f"{key}: host {host!r} is not a service of the stack"
    if conn_type in {"sftp", "ssh"}:
        assert "host_key" in extra and "no_host_key_check" not in extra, f"{key} must pin the host key"


def test_sftp_host_key_pinning_is_documented_in_the_compose_file():
    text = COMPOSE_FILE.read_text()
    assert "host_key" in text and "ssh-keyscan" in text


# --------------------------------------------------------------------------------------- safe by default


def published_ports(service: str) -> list[str]:
    """Every published port of a service as ``host_ip:host_port:container_port`` (defaults resolved)."""
    found = []
    for entry in services()[service].get("ports") or []:
        if isinstance(entry, dict):
            found.append(f"{resolve(str(entry.get('host_ip', '')))}:{resolve(str(entry.get('published', '')))}:"
                         f"{entry['target']}")
        else:
            found.append(resolve(str(entry)))
    return found


def test_published_ports_listen_on_loopback_only_by_default():
    published = {name: published_ports(name) for name in services() if services()[name].get("ports")}
    assert {"airflow-apiserver", "flower", "warehouse"} <= set(published)
    for name, ports in published.items():
        for port in ports:
            parts = port.split(":")
            assert len(parts) == 3 and parts[0] == "127.0.0.1", (
                f"{name} publishes {port!r}: bind it to 127.0.0.1 (a host IP of its own, e.g. ${{X_BIND:-127.0.0.1}})")


def test_no_default_admin_password_or_fernet_key():
    """The stack refuses to start (compose's ``${NAME:?message}``) until they are set, and says what to set."""
    text = COMPOSE_FILE.read_text()
    required = dict(_REQUIRED.findall(text))
    for name in ("_AIRFLOW_WWW_USER_PASSWORD", "AIRFLOW_FERNET_KEY"):
        assert name in required, f"{name} must be required (${{{name}:?...}}), not defaulted"
        assert name in required[name] and "scripts/compose-env.sh" in required[name], required[name]
        assert not re.search(rf"\$\{{{name}:?-", text), f"{name} has a default somewhere"
    common = compose()["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?")
    assert env("airflow-init")["_AIRFLOW_WWW_USER_PASSWORD"] == ""  # nothing in a fresh clone
    assert "simple_auth_manager_passwords.json" in command_text("airflow-init")


def test_flower_is_behind_basic_auth_on_loopback():
    assert published_ports("flower") == ["127.0.0.1:5555:5555"]
    flower_env = services()["flower"]["environment"]
    assert flower_env["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] == "${FLOWER_BASIC_AUTH:-}"
    command = command_text("flower")
    assert "AIRFLOW__CELERY__FLOWER_BASIC_AUTH" in command and "exit 1" in command  # refuses to start without
    assert command.rstrip().endswith("exec airflow celery flower")
    assert "--user" in " ".join(services()["flower"]["healthcheck"]["test"])  # its health check logs in


@functools.cache
def generated_env(tmp: str) -> dict[str, str]:
    """Run scripts/compose-env.sh in a scratch checkout; the variables of the .env it writes."""
    shutil.copy(SECRETS_SCRIPT, Path(tmp) / "compose-env.sh")
    subprocess.run(["bash", str(Path(tmp) / "compose-env.sh")], check=True, capture_output=True,
                   env={**os.environ, "COMPOSE_ENV_DIR": tmp})
    lines = (Path(tmp) / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("checkout")
    return folder, generated_env(str(folder))


def test_the_secrets_script_sets_every_required_variable_privately(compose_env):
    from cryptography.fernet import Fernet

    folder, values = compose_env
    assert set(_REQUIRED.findall(COMPOSE_FILE.read_text())) and {
        name for name, _ in _REQUIRED.findall(COMPOSE_FILE.read_text())} <= set(values)
    Fernet(values["AIRFLOW_FERNET_KEY"])  # a valid key
    assert len(values["_AIRFLOW_WWW_USER_PASSWORD"]) >= 20 and values["_AIRFLOW_WWW_USER_PASSWORD"] != "airflow"
    user, password = values["FLOWER_BASIC_AUTH"].split(":")
    assert user and len(password) >= 20
    for path in (folder / ".env", folder / "secrets" / "meteo_host_key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # A second run keeps the secrets (the UI password file and pins stay valid).
    before = (folder / ".env").read_text()
    subprocess.run(["bash", str(folder / "compose-env.sh")], check=True, capture_output=True,
                   env={**os.environ, "COMPOSE_ENV_DIR": str(folder)})
    assert (folder / ".env").read_text() == before


def _sftp_connection(value: str):
    from airflow.models.connection import Connection

    if value.lstrip().startswith("{"):
        return Connection.from_json(value, conn_id="meteo_sftp")
    return Connection(conn_id="meteo_sftp", uri=value)


def _init_host_key_check() -> str:
    """The python one-liner airflow-init runs to refuse a connection that pins no host key."""
    (line,) = [line for line in command_text("airflow-init").splitlines() if "AIRFLOW_CONN_METEO_SFTP must" in line]
    return re.search(r"python -c '(.+)'\s*$", line).group(1)


def test_the_dev_sftp_server_key_is_pinned_in_the_connection(compose_env):
    folder, values = compose_env
    for name in services():  # no service's connection turns the check off
        assert not [key for key, value in env(name).items() if "no_host_key_check" in value], name
    mounted = mount_at("meteo-sftp", "/etc/ssh/ssh_host_ed25519_key")
    assert mounted == ("./secrets/meteo_host_key", True)
    connection = _sftp_connection(resolve(compose()["x-airflow-common"]["environment"]["AIRFLOW_CONN_METEO_SFTP"],
                                          values))
    public = (folder / "secrets" / "meteo_host_key.pub").read_text().split()[:2]
    assert connection.extra_dejson["host_key"] == " ".join(public)
    assert connection.host == "meteo-sftp"


@pytest.mark.parametrize(("value", "accepted"), [
    ("sftp://meteo:meteo@meteo-sftp:22/?host_key=ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIExample&conn_timeout=10",
     True),
    ('{"conn_type": "sftp", "host": "h", "extra": {"host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"}}', True),
    ("sftp://meteo:meteo@meteo-sftp:22/?host_key=&conn_timeout=10", False),  # METEO_SFTP_HOST_KEY unset
    ("sftp://meteo:meteo@meteo-sftp:22/?no_host_key_check=true&conn_timeout=10", False),
    ('{"conn_type": "sftp", "host": "h", "extra": {"host_key": "ssh-ed25519 AAAA", "no_host_key_check": true}}',
     False),
])
def test_airflow_init_refuses_a_connection_that_pins_no_host_key(value, accepted):
    import sys

    done = subprocess.run([sys.executable, "-c", _init_host_key_check()], capture_output=True, text=True,
                          env={**os.environ, "AIRFLOW_CONN_METEO_SFTP": value})
    assert (done.returncode == 0) is accepted, done.stderr
    if not accepted:
        assert "must pin the server host key" in done.stderr and "compose-env.sh" in done.stderr


def test_every_variable_is_set_or_deliberately_left_to_its_default():
    defaults = variable_defaults()
    assert set(defaults) >= DEPLOYMENT_VARIABLES, "domotic.settings.VARIABLES lost a deployment Variable"
    common = {key.removeprefix("AIRFLOW_VAR_").lower() for key in env("airflow-worker") if key.startswith("AIRFLOW_VAR_")}
    left = set(compose().get(LEFT_TO_DEFAULT_KEY) or [])
    missing = sorted(key for key in defaults if key not in common | left)
    assert not missing, (f"Variables neither set (AIRFLOW_VAR_<KEY>) nor listed in {LEFT_TO_DEFAULT_KEY} of "
                         f"docker-compose.yaml: {[(k, defaults[k]) for k in missing]}")
    assert common >= DEPLOYMENT_VARIABLES, "the deployment Variables must be set explicitly"
    assert not common & left, f"both set and left to default: {sorted(common & left)}"
    assert left <= set(defaults), f"{LEFT_TO_DEFAULT_KEY} names unknown Variables: {sorted(left - set(defaults))}"


def test_history_start_is_deployment_configuration():
    value = env("airflow-scheduler")["DOMOTIC_HISTORY_START"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
    assert env("airflow-worker")["DOMOTIC_HISTORY_START"] == value


# -------------------------------------------------------------------------------------------------- image


def test_image_tag_matches_the_pinned_airflow():
    version = airflow_pin()
    tag = image_tag(compose()["x-airflow-common"]["image"])
    assert tag.split("-python")[0] == version, f"compose image tag {tag} vs apache-airflow=={version}"


def test_dockerfile_extends_the_official_image_of_the_pinned_version():
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert len(froms) == 1, froms
    base = froms[0]
    assert base.split(":")[0] == "apache/airflow"
    tag = image_tag(base)
    assert tag == f"{airflow_pin()}-python{project_python()}", base
    assert tag == image_tag(compose()["x-airflow-common"]["image"]), "compose image and Dockerfile FROM differ"
    assert compose()["x-airflow-common"]["build"]["context"] == "."


def project_python() -> str:
    floor = re.search(r'requires-python\s*=\s*">=\s*(\d+\.\d+)', (REPO / "pyproject.toml").read_text())
    return floor.group(1)


def test_dockerfile_installs_the_pinned_requirements_and_the_repo():
    text = DOCKERFILE.read_text()
    assert re.search(r"pip install .*-r \S*requirements\.txt -c \S*constraints\.txt", text.replace("\\\n", " "))
    assert re.search(r"pip install .*-e /opt/airflow\b", text)
    for package in ("default-libmysqlclient-dev", "pkg-config", "build-essential"):
        assert package in text, f"mysqlclient needs {package} to build"
    for source in re.findall(r"^COPY(?:\s+--\S+)*\s+(.+)\s+\S+$", text, re.MULTILINE):
        for path in source.split():
            assert (REPO / path).exists(), f"Dockerfile copies {path}, which is not in the repository"


# --------------------------------------------------------------------------------------------------- BI


def superset_pin() -> str:
    pins = re.findall(r"^apache-superset==([\w.]+)\s*$", (REPO / "bi" / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pins) == 1, "bi/requirements.txt must pin apache-superset exactly once"
    return pins[0]


def test_superset_image_is_the_official_one_of_the_pinned_version():
    froms = re.findall(r"^FROM\s+(\S+)", (REPO / "bi" / "Dockerfile").read_text(), re.MULTILINE)
    assert froms == [f"apache/superset:{superset_pin()}"], froms
    for name in ("superset", "superset-init"):
        svc = services()[name]
        assert svc["build"]["context"] == "./bi" and svc["build"]["dockerfile"] == "Dockerfile", name
        assert image_tag(svc["image"]) == superset_pin(), name


def test_superset_is_configured_from_the_repository():
    for name in ("superset", "superset-init"):
        config = env(name)["SUPERSET_CONFIG_PATH"]
        mounted = [(source, target, ro) for source, target, ro in mounts(name) if config.startswith(target + "/")]
        assert mounted, f"{name}: {config} is not inside a mount"
        source, target, read_only = mounted[0]
        assert source == "./bi" and read_only, f"{name}: the configuration comes read-only from ./bi"
        assert (REPO / "bi" / config.removeprefix(target + "/")).is_file()
    assert "provision.py logins" in command_text("superset-init")
    assert "provision.py setup" in command_text("superset-init")


def test_superset_secrets_have_no_default():
    secrets = [key for key in env("superset") if key == "SUPERSET_SECRET_KEY" or "PASSWORD" in key]
    assert "SUPERSET_SECRET_KEY" in secrets and len(secrets) >= 8
    for name in ("superset", "superset-init"):
        for key in secrets:
            assert env(name)[key] == "", f"{name}: {key} must come from the environment, without a default"
    users = yaml.safe_load((REPO / "bi" / "users.yaml").read_text())["users"]
    for user in users:  # every login's secrets are passed through
        assert f"DOMOTIC_BI_PASSWORD_{user['username'].upper()}" in secrets
        assert f"DOMOTIC_BI_DB_PASSWORD_{user['db_login'].upper()}" in secrets


def test_superset_listens_on_loopback_only_and_starts_after_its_provisioning():
    ports = [resolve(str(p)) for p in services()["superset"]["ports"]]
    assert ports and all(p.startswith("127.0.0.1:") and p.endswith(":8088") for p in ports), ports
    assert "/health" in " ".join(services()["superset"]["healthcheck"]["test"])
    assert services()["superset"]["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    # The BI roles the logins join exist once the warehouse migrations ran (airflow-init).
    init = services()["superset-init"]["depends_on"]
    assert init["airflow-init"]["condition"] == "service_completed_successfully"
    assert init["warehouse"]["condition"] == "service_healthy"
    assert urlsplit(env("superset-init")["DOMOTIC_BI_WAREHOUSE_ADMIN_URI"]).hostname == "warehouse"
