#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (SQLite, Postgres, Redis, WebRTC), then
# the browser tests in headless Chromium. It sets itself up first (scripts/setup.sh): installs
# what is missing (Chromium, coturn, redis-server, docker-compose, moto) and starts PostgreSQL and
# Redis on localhost, or says in one line what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo build --workspace --bins
cargo test --workspace --all-targets

# docker-compose.yml must be accepted by Compose (no Docker engine is needed to check it).
CONFAB_DOMAIN=chat.example.org CONFAB_PUBLIC_IP=203.0.113.10 \
    CONFAB_JWT_SECRET=compose-check-only-not-a-real-secret-0123456789 \
    CONFAB_TURN_SECRET=compose-check-only-turn-secret POSTGRES_PASSWORD=compose-check \
    docker-compose -f docker-compose.yml config -q
echo "docker-compose.yml: valid"

if [ -d tests/e2e ] && [ -f tests/e2e/package.json ]; then
    (
        cd tests/e2e
        [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
        CONFAB_BIN="$PWD/../../target/debug/confab" node --test --test-concurrency=1
    )
fi
