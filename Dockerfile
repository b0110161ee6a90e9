# The Airflow image of docker-compose.yaml: the official image plus this repository's pinned packages and code.
#
#   docker compose build            (docker-compose.yaml builds it as ${AIRFLOW_IMAGE_NAME:-domotic-airflow:...})
#
# The tag's Airflow and Python versions must equal the `apache-airflow` pin of requirements.txt and the
# project's Python (tests/unit/test_docker_compose.py checks both).
FROM apache/airflow:3.3.2-python3.11

USER root
# mysqlclient (MySQL provider) ships only as an sdist on Linux: it builds against the MySQL client headers
# (pkg-config + default-libmysqlclient-dev + a compiler). postgresql-client brings pg_dump for maintenance_backup.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config default-libmysqlclient-dev postgresql-client \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
# Mount points of the sensor share, Bronze, the backups and the generated forecast files. Owned by the airflow
# user (uid 50000, group 0) so that a fresh named volume mounted here starts with that owner; airflow-init
# re-applies it for another AIRFLOW_UID.
RUN mkdir -p /data/smb /data/bronze /data/backups /data/meteo/Meteo2 \
    && chown -R airflow:0 /data && chmod -R g+rwX /data

USER airflow
# Same pins as `make install`: the top-level packages of requirements.txt, frozen by constraints.txt.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/requirements/
RUN pip install --no-cache-dir \
        -r /opt/airflow/requirements/requirements.txt -c /opt/airflow/requirements/constraints.txt

# The repository's two packages (domotic in include/python, domotic_airflow in plugins), installed editable
# from AIRFLOW_HOME: docker-compose.yaml mounts ./include, ./plugins and ./dags over these copies, so the
# running code is the working tree's; without the mounts (a deployment) the copies baked in here run.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 include /opt/airflow/include
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 dags /opt/airflow/dags
RUN pip install --no-cache-dir --no-deps -e /opt/airflow
