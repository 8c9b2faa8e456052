#!/usr/bin/env bash
# Installs (Debian packages) and starts Redis >= 7 and PostgreSQL >= 15 on loopback for the tests, unless
# they already answer there. Idempotent: run it as often as you like. Prints where each one listens.
#
#   REDIS_PORT (6379), PG_PORT (5432), PG_USER/PG_PASSWORD/PG_DB (polyhunter/polyhunter/polyhunter_test)
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-polyhunter}
PG_PASSWORD=${PG_PASSWORD:-polyhunter}
PG_DB=${PG_DB:-polyhunter_test}
STATE_DIR=${SERVICES_DIR:-$(pwd)/.services}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "services: $*"; }

redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
pg_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

missing=()
if ! redis_up && ! command -v redis-server >/dev/null; then missing+=(redis-server); fi
if ! pg_up && [ -z "$(pg_bin)" ]; then missing+=(postgresql); fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Redis ---------------------------------------------------------------------------------------------
if redis_up; then
  log "redis already answers on 127.0.0.1:$REDIS_PORT"
else
  mkdir -p "$STATE_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save "" --appendonly no \
    --dir "$STATE_DIR/redis" --logfile "$STATE_DIR/redis/redis.log" --pidfile "$STATE_DIR/redis/redis.pid"
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  redis_up || { log "redis did not start; see $STATE_DIR/redis/redis.log"; exit 1; }
fi
redis_version=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info server | sed -n 's/^redis_version:\([0-9]*\).*/\1/p')
[ "${redis_version:-0}" -ge 7 ] || { log "redis $redis_version is older than 7"; exit 1; }

# --- PostgreSQL ----------------------------------------------------------------------------------------
# PostgreSQL refuses to run as root, so the server runs as the `postgres` user of the Debian package.
if pg_up; then
  log "postgresql already answers on 127.0.0.1:$PG_PORT"
else
  bin=$(pg_bin)
  version=$(basename "$(dirname "$bin")")
  if command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ] && [ "$PG_PORT" = 5432 ]; then
    # The Debian way: the package's cluster (made by its postinst, or now), started by pg_ctlcluster.
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$version/main"; then
      pg_createcluster "$version" main >/dev/null
    fi
    pg_ctlcluster "$version" main start || true
  else
    # Our own cluster under .services/, owned by postgres (or by the calling user when not root).
    data="$STATE_DIR/postgres"
    runner=(); [ "$(id -u)" = 0 ] && runner=(runuser -u postgres --)
    mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
    [ -f "$data/PG_VERSION" ] || "${runner[@]}" "$bin/initdb" -D "$data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 >/dev/null
    "${runner[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
      -o "-h 127.0.0.1 -p $PG_PORT -k $data" start >/dev/null
  fi
  for _ in $(seq 100); do pg_up && break; sleep 0.1; done
  pg_up || { log "postgresql did not start on 127.0.0.1:$PG_PORT"; exit 1; }
fi

psql_admin() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -h "${PG_SOCKET_DIR:-/var/run/postgresql}" "$@" 2>/dev/null \
      || runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -h "$STATE_DIR/postgres" "$@"
  else
    psql -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -h "$STATE_DIR/postgres" -U postgres "$@"
  fi
}
psql_admin -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
if [ "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
  psql_admin -d postgres -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
fi
pg_version=$(psql_admin -d postgres -tAc "SHOW server_version_num")
[ "$pg_version" -ge 150000 ] || { log "postgresql $pg_version is older than 15"; exit 1; }

log "redis $redis_version    POLYHUNTER_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
log "postgresql $pg_version  POLYHUNTER_TEST_DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
