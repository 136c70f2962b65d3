# shellcheck shell=bash
# Ephemeral PostgreSQL clusters for the demo and the tests: a data folder of its own, a free loopback
# port, the socket inside the folder. Source this file, then:
#   pg_start DIR      # initdb (once) + start (on its previous port if it had one); sets
#                     # GRIDFLOW_PG_URL, GRIDFLOW_PG_PORT
#   pg_stop DIR       # fast shutdown; safe to call twice and from an EXIT trap
# GRIDFLOW_PG_INITDB_ARGS: more initdb arguments for a new cluster (e.g. --waldir=/mnt/wal).
# initdb/postgres refuse to run as root, so as root they run as the `postgres` system user.

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
    echo "pg.sh: no PostgreSQL server found under /usr/lib/postgresql (run scripts/install-deps.sh)" >&2
    return 1
  fi
  echo "$dir"
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a PostgreSQL binary as the owner of the cluster (postgres when we are root).
pg_as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    # From / : the caller's folder may be private to root (a clone in /root).
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

pg_start() {
  local dir=$1 bindir port attempt
  bindir=$(pg_bindir) || return 1
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
  chmod 700 "$dir"
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    # shellcheck disable=SC2086  # GRIDFLOW_PG_INITDB_ARGS: words on purpose
    pg_as_owner "$bindir/initdb" -D "$dir/data" -U gridflow --auth=trust -E UTF8 --locale=C.UTF-8 \
      ${GRIDFLOW_PG_INITDB_ARGS:-} >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  for attempt in 1 2 3 4 5; do
    # A restarted cluster keeps its port (clients keep their connection strings).
    if [[ $attempt -eq 1 && -f "$dir/port" ]]; then port=$(cat "$dir/port"); else port=$(pg_free_port); fi
    if pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null; then
      break
    fi
    echo "pg.sh: start on port $port failed (attempt $attempt), retrying" >&2
    port=""
  done
  if [[ -z "$port" ]]; then tail -n 20 "$dir/postgres.log" >&2; return 1; fi
  echo "$port" >"$dir/port"
  "$bindir/psql" -h 127.0.0.1 -p "$port" -U gridflow -d postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname = 'gridflow'" | grep -q 1 ||
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U gridflow gridflow
  export GRIDFLOW_PG_PORT=$port
  export GRIDFLOW_PG_URL="postgresql://gridflow@127.0.0.1:$port/gridflow"
}

pg_stop() {
  local dir=$1 bindir
  bindir=$(pg_bindir) || return 0
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

# pg_psql DIR SQL: runs SQL on the cluster in DIR (as gridflow, database gridflow); prints rows.
pg_psql() {
  local dir=$1 sql=$2
  "$(pg_bindir)/psql" -h 127.0.0.1 -p "$(cat "$dir/port")" -U gridflow -d gridflow -qAt -c "$sql"
}

# pg_start_standby PRIMARY_DIR STANDBY_DIR: a streaming standby of the primary (base backup, then
# start on its own free port, or on STANDBY_DIR/port when that file is there: a former primary
# rebuilt as a standby keeps its address); sets GRIDFLOW_STANDBY_PORT. Returns once it streams.
pg_start_standby() {
  local primary=$1 dir=$2 bindir port i
  bindir=$(pg_bindir) || return 1
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
  chmod 700 "$dir"
  pg_as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$(cat "$primary/port")" -U gridflow \
    -D "$dir/data" -R -X stream -c fast -d "application_name=standby" >"$dir/basebackup.log" 2>&1 ||
    { cat "$dir/basebackup.log" >&2; return 1; }
  if [[ -f "$dir/port" ]]; then port=$(cat "$dir/port"); else port=$(pg_free_port); fi
  pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null ||
    { tail -n 20 "$dir/postgres.log" >&2; return 1; }
  echo "$port" >"$dir/port"
  export GRIDFLOW_STANDBY_PORT=$port
  for ((i = 0; i < 100; i++)); do
    [[ $(pg_psql "$primary" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") -ge 1 ]] &&
      return 0
    sleep 0.1
  done
  echo "pg.sh: the standby in $dir does not stream" >&2
  return 1
}

# pg_kill DIR: stops the cluster at once, like a crash (no checkpoint).
pg_kill() {
  pg_as_owner "$(pg_bindir)/pg_ctl" -D "$1/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
}

# pg_restart DIR: a fast restart on the same port.
pg_restart() {
  local dir=$1
  pg_as_owner "$(pg_bindir)/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -m fast -w -t 60 \
    -o "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" \
    restart >/dev/null
}

# pg_promote DIR: the standby in DIR becomes a primary.
pg_promote() {
  pg_as_owner "$(pg_bindir)/pg_ctl" -D "$1/data" -w -t 60 promote >/dev/null
}

# pg_runtime_login DIR: makes the engine's runtime login role on the cluster in DIR (docs/security.md,
# "Database roles": gridflow_engine, a member of gridflow_runtime, which may only append to history)
# and prints the connection URI for it. Engines then migrate as the owner (GRIDFLOW_PG_URL) and serve
# as this role.
pg_runtime_login() {
  local dir=$1
  pg_psql "$dir" "DO \$\$ BEGIN CREATE ROLE gridflow_runtime NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
DO \$\$ BEGIN CREATE ROLE gridflow_engine LOGIN IN ROLE gridflow_runtime; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;" >/dev/null
  echo "postgresql://gridflow_engine@127.0.0.1:$(cat "$dir/port")/gridflow"
}
