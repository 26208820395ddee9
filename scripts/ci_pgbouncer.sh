#!/usr/bin/env bash
# CI: the highly available PostgreSQL path (docs/scaling.md, "High availability").
#
# Puts Debian's PgBouncer, in transaction pooling mode, in front of the PostgreSQL server on
# 127.0.0.1:5432 and runs through it, with a multi-host URL whose first host is dead:
#   1. the migrations (`partnerhub db upgrade`, `db status`): no advisory lock left behind;
#   2. the scale-out run (scripts/scaleout.py: 2 servers + 2 workers started together) with
#      PARTNERHUB_DATABASE_PREPARED_STATEMENTS=false and PARTNERHUB_WORKER_LISTEN=false, and a
#      restart of the PostgreSQL server in the middle of the customer POSTs: every check of the
#      run must hold, 0 lost and 0 duplicated, else the exit status is 1.
# Needs root (apt-get install pgbouncer when missing; pg_ctlcluster restart) and a Debian
# PostgreSQL cluster on port 5432; without a server there it says so and exits 0 (as .ci/run
# skips the external-database run). Works in the database `partnerhub_ha` only (created and
# dropped here); stops its PgBouncer and never leaves the server stopped. Bounded: ~2-3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
PY=.venv/bin/python
DB=partnerhub_ha
SERVER=postgresql://postgres@127.0.0.1:5432/postgres

if ! "$PY" - "$SERVER" <<'PY'
import sys
import psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception:
    sys.exit(1)
PY
then
  echo "== no PostgreSQL on 127.0.0.1:5432: PgBouncer run skipped"
  exit 0
fi

if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "== installing Debian's pgbouncer"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >/dev/null
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

# The Debian cluster on port 5432 (for the restart).
read -r PG_VERSION PG_CLUSTER < <(pg_lsclusters --no-header 2>/dev/null \
  | awk '$3 == 5432 {print $1, $2; exit}') || true
if [ -z "${PG_VERSION:-}" ]; then
  echo "no Debian PostgreSQL cluster on port 5432 (pg_lsclusters): cannot restart it" >&2
  exit 1
fi
RESTART="pg_ctlcluster $PG_VERSION $PG_CLUSTER restart"

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
DEAD=$(free_port)  # nobody listens there: the first host of the multi-host URL
WORK=$(mktemp -d /tmp/partnerhub-pgbouncer-XXXXXX)
chmod 755 "$WORK"

cleanup() {
  status=$?
  if [ -f "$WORK/pgbouncer.pid" ]; then
    kill "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true
    sleep 0.5
  fi
  # never leave the server stopped
  if ! pg_lsclusters --no-header | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" \
      '$1 == v && $2 == c && $4 == "online" {found = 1} END {exit !found}'; then
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start || true
  fi
  "$PY" - "$SERVER" "$DB" <<'PY' || true
import sys, time
import psycopg
for _ in range(30):
    try:
        with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2]}" WITH (FORCE)')
        break
    except psycopg.OperationalError:
        time.sleep(1)
PY
  if [ "$status" -ne 0 ]; then
    [ -f "$WORK/pgbouncer.log" ] && { echo "-- pgbouncer log (last lines)"; tail -20 "$WORK/pgbouncer.log"; }
    for log in "$WORK"/scaleout/*.log; do
      [ -f "$log" ] && grep -q Traceback "$log" && {
        echo "-- first traceback in $(basename "$log")"
        grep -m1 -A40 Traceback "$log"
      }
    done
    cp -r "$WORK/scaleout" "$WORK.logs" 2>/dev/null && echo "logs kept in $WORK.logs"
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

"$PY" - "$SERVER" "$DB" <<'PY'
import sys
import psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2]}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{sys.argv[2]}"')
PY

# Transaction pooling; after a failed server login PgBouncer tries again within 1 s, and a
# client waits at most 10 s for a server connection (then its query fails: the app answers
# 503 + Retry-After) — the settings docs/scaling.md recommends.
cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=5432 dbname=$DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
server_login_retry = 1
query_wait_timeout = 10
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
EOF
echo '"postgres" ""' >"$WORK/userlist.txt"
chown -R postgres "$WORK" 2>/dev/null || true
if [ "$(id -u)" = "0" ]; then
  "$PGBOUNCER" -d -u postgres "$WORK/pgbouncer.ini"
else
  "$PGBOUNCER" -d "$WORK/pgbouncer.ini"
fi
for _ in $(seq 50); do [ -f "$WORK/pgbouncer.pid" ] && break; sleep 0.1; done
echo "== PgBouncer $("$PGBOUNCER" --version | head -1 | awk '{print $2}') on 127.0.0.1:$PORT (transaction pooling) in front of 127.0.0.1:5432"

URL="postgresql://postgres@127.0.0.1:$DEAD,127.0.0.1:$PORT/$DB?target_session_attrs=read-write&connect_timeout=10"
export PARTNERHUB_DATABASE_URL="$URL"
export PARTNERHUB_DATABASE_PREPARED_STATEMENTS=false
export PARTNERHUB_WORKER_LISTEN=false
export PARTNERHUB_WORKER_POLL_SECONDS=0.5
# jobs cut off by the restart are re-run soon (a stalled job after 6 s, the reconciler every 5 s)
export PARTNERHUB_STALLED_JOB_SECONDS=6
export PARTNERHUB_RECONCILE_CRON="* * * * * */5"
export PARTNERHUB_DATA_DIR="$WORK/data"

echo "== migrations through PgBouncer (multi-host URL, first host dead)"
.venv/bin/partnerhub db upgrade
.venv/bin/partnerhub db status
"$PY" - "$SERVER" "$DB" <<'PY'
import sys
import psycopg
with psycopg.connect(sys.argv[1]) as conn:
    held = conn.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE l.locktype = 'advisory' AND d.datname = %s",
        (sys.argv[2],),
    ).fetchone()[0]
print(f"advisory locks held in {sys.argv[2]} after the migrations: {held}")
sys.exit(1 if held else 0)
PY

echo "== scale-out through PgBouncer, PostgreSQL restarted during the customer POSTs"
began=$(date +%s)
timeout 420 "$PY" scripts/scaleout.py --database-url "$URL" \
  --customers 40 --subscribers 60 --clients 8 --puts 8 --rate-limit 20 --pool-size 3 \
  --settle-seconds 120 --restart-command "$RESTART" --restart-at 0.4 --log-dir "$WORK/scaleout"
echo "scale-out run: $(( $(date +%s) - began )) s"

if command -v psql >/dev/null; then
  echo "== through PgBouncer (SHOW STATS of $DB)"
  psql -h 127.0.0.1 -p "$PORT" -U postgres -X -q -A -F ' ' pgbouncer -c "SHOW STATS" \
    | awk -v db="$DB" 'NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i}
        $1 == db {print "transactions " $col["total_xact_count"] ", queries " $col["total_query_count"]}' \
    || true
fi
