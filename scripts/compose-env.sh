#!/usr/bin/env bash
# Writes the secrets the docker-compose stack refuses to start without, once per checkout:
#
#   .env                        AIRFLOW_UID, a random UI admin password, Fernet key and Flower login, and the pin
#                               of the dev sFTP server's host key (mode 0600, never committed: .gitignore)
#   secrets/meteo_host_key      the dev sFTP server's ed25519 host key (+ .pub), mounted into meteo-sftp, so its
#                               key survives re-creating the container and the connection can pin it
#
#   bash scripts/compose-env.sh            # in the repository root; prints the UI login at the end
#   bash scripts/compose-env.sh --force    # new secrets (the passwords file is rewritten by airflow-init)
#
# Needs openssl and ssh-keygen. Other environments set the same names in their own env file (docs/runbook.md
# section 2.2); nothing here is a default of docker-compose.yaml.
set -euo pipefail
cd "${COMPOSE_ENV_DIR:-$(dirname "$0")/..}"
force=${1:-}

if [[ -e .env && "$force" != "--force" ]]; then
  echo ".env exists: kept as it is (run with --force for new secrets)" >&2
  exit 0
fi
command -v openssl >/dev/null || { echo "openssl is missing" >&2; exit 1; }
command -v ssh-keygen >/dev/null || { echo "ssh-keygen is missing (openssh-client)" >&2; exit 1; }

random() { openssl rand -base64 32 | tr -d '/+=\n' | cut -c1-"$1"; }
# A Fernet key is 32 random bytes in URL-safe base64 (what Fernet.generate_key() returns).
fernet_key=$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '\n')

mkdir -p secrets
chmod 0700 secrets
rm -f secrets/meteo_host_key secrets/meteo_host_key.pub
ssh-keygen -q -t ed25519 -N '' -C meteo-sftp-dev -f secrets/meteo_host_key
chmod 0600 secrets/meteo_host_key
# "ssh-ed25519 AAAA..." percent-encoded for the connection URI (space, and the base64 '+', '/' and '=').
host_key=$(cut -d' ' -f1,2 secrets/meteo_host_key.pub | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/+/%2B/g' \
  -e 's#/#%2F#g' -e 's/=/%3D/g')

umask 077
cat > .env <<EOF
# Written by scripts/compose-env.sh on $(date -u +%Y-%m-%d). Secrets of this checkout's dev stack: keep private.
AIRFLOW_UID=$(id -u)
_AIRFLOW_WWW_USER_USERNAME=airflow
_AIRFLOW_WWW_USER_PASSWORD=$(random 24)
AIRFLOW_FERNET_KEY=${fernet_key}
FLOWER_BASIC_AUTH=flower:$(random 24)
# The pin of secrets/meteo_host_key.pub, percent-encoded (the meteo_sftp connection's host_key extra).
METEO_SFTP_HOST_KEY=${host_key}
EOF
chmod 0600 .env
echo "Wrote .env and secrets/meteo_host_key. UI login: airflow / $(grep '^_AIRFLOW_WWW_USER_PASSWORD=' .env | cut -d= -f2)"
