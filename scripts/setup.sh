#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine and starts the services it talks to:
# Chromium, coturn, redis-server, the PostgreSQL client, docker-compose (to check the compose
# file) and moto_server (a local S3 API, from PyPI), then PostgreSQL and Redis on localhost.
# Installs only what is missing; needs root (or sudo) for apt-get.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v turnserver >/dev/null || missing+=(coturn)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! command -v apt-get >/dev/null || { [ -n "$sudo" ] && ! command -v sudo >/dev/null; }; then
        echo "the tests need: ${missing[*]} (on Debian: apt-get install -y ${missing[*]})" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The S3 backend is tested against a local S3-API server.
if ! command -v moto_server >/dev/null; then
    echo "installing: moto[server] (PyPI)"
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' \
        || { echo "the S3 tests need moto_server: python3 -m pip install 'moto[server]'" >&2; exit 1; }
fi

# PostgreSQL and Redis on localhost, unless TEST_DATABASE_URL / TEST_REDIS_URL point elsewhere.
if [ -z "${TEST_DATABASE_URL:-}" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    if [ -d /etc/postgresql ]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    else
        echo "the tests need PostgreSQL on 127.0.0.1:5432 (user postgres, database test, trust auth), or TEST_DATABASE_URL" >&2
        exit 1
    fi
fi
if [ -z "${TEST_REDIS_URL:-}" ] && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    mkdir -p /tmp/confab-redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /tmp/confab-redis --logfile /tmp/confab-redis/redis.log
fi
for _ in $(seq 1 50); do
    { [ -n "${TEST_DATABASE_URL:-}" ] || pg_isready -h 127.0.0.1 -p 5432 -q; } \
        && { [ -n "${TEST_REDIS_URL:-}" ] || redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; } && break
    sleep 0.2
done
