#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (SQLite, Postgres, Redis, WebRTC), then
# the browser tests in headless Chromium. Needs the services of docs/testing.md: PostgreSQL and
# Redis on localhost (or TEST_DATABASE_URL / TEST_REDIS_URL), redis-server, coturn and Chromium
# installed (.ci/run installs them on a fresh Debian machine).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins
cargo test --workspace --all-targets

# docker-compose.yml must be accepted by Compose (no Docker engine is needed to check it).
if ! command -v docker-compose >/dev/null; then
    echo "checking docker-compose.yml needs docker-compose: apt-get install -y docker-compose" >&2
    exit 1
fi
CONFAB_DOMAIN=chat.example.org CONFAB_PUBLIC_IP=203.0.113.10 \
    CONFAB_JWT_SECRET=compose-check-only-not-a-real-secret-0123456789 \
    CONFAB_TURN_SECRET=compose-check-only-turn-secret POSTGRES_PASSWORD=compose-check \
    docker-compose -f docker-compose.yml config -q
echo "docker-compose.yml: valid"

if [ -d tests/e2e ] && [ -f tests/e2e/package.json ]; then
    if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
        echo "browser tests need Chromium at /usr/bin/chromium: apt-get install -y chromium" >&2
        exit 1
    fi
    (
        cd tests/e2e
        [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
        CONFAB_BIN="$PWD/../../target/debug/confab" node --test --test-concurrency=1
    )
fi
