#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ are running and usable by the suite:
#  - PostgreSQL answers on DATABASE_URL and its database exists;
#  - RabbitMQ answers on AMQP_URL with the management, MQTT and Prometheus
#    plugins running, MQTT on MQTT_URL's port (1884: Mosquitto may own 1883).
# Starts installed-but-stopped services, installs missing ones on Debian/Ubuntu
# when root, and brings a broker as delivered (no plugins) to a working one,
# restarting it once when the MQTT listener needs that; otherwise it says
# exactly what to do. Idempotent (about a second when all is well) and safe
# when several clones run it at once (a lock file serialises the changes).
#
# Usage: ensure-services.sh [postgres] [rabbitmq]   (default: both)
# Env: DATABASE_URL, AMQP_URL, MQTT_URL (same defaults as the services),
#      RABBITMQ_MANAGEMENT_PORT (15672), RABBITMQ_PROMETHEUS_PORT (15692),
#      SERVICES_TIMEOUT_S (90), SERVICES_LOCK_FILE, and RabbitMQ's own
#      RABBITMQ_NODENAME / RABBITMQ_CONFIG_FILE / RABBITMQ_CONFIG_FILES (conf.d)
#      to work on another node.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATABASE_URL="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
AMQP_URL="${AMQP_URL:-$DEFAULT_AMQP_URL}"
MQTT_URL="${MQTT_URL:-$DEFAULT_MQTT_URL}"
MGMT_PORT="${RABBITMQ_MANAGEMENT_PORT:-15672}"
PROMETHEUS_PORT="${RABBITMQ_PROMETHEUS_PORT:-15692}"
TIMEOUT_S="${SERVICES_TIMEOUT_S:-90}"
LOCK_FILE="${SERVICES_LOCK_FILE:-${TMPDIR:-/tmp}/sensor-streaming-ensure-services.lock}"
# rabbitmq_consistent_hash_exchange: the sharded data path (INGEST_SHARDS > 1) hashes serials onto shard queues
RABBIT_PLUGINS=(rabbitmq_management rabbitmq_mqtt rabbitmq_prometheus rabbitmq_consistent_hash_exchange)
RABBIT_CONFIG_FILE="${RABBITMQ_CONFIG_FILE:-/etc/rabbitmq/rabbitmq.conf}"
RABBIT_CONFIG_FILE="${RABBIT_CONFIG_FILE%.conf}.conf"
RABBIT_CONF_D="${RABBITMQ_CONFIG_FILES:-/etc/rabbitmq/conf.d}"
RABBIT_CONF_D="${RABBIT_CONF_D%/}"
RABBIT_SNIPPET="$RABBIT_CONF_D/90-sensor-streaming.conf"
# sourced by RabbitMQ's start script as the rabbitmq user: where the node's open-files limit is raised
RABBIT_ENV_FILE="${RABBITMQ_CONF_ENV_FILE:-/etc/rabbitmq/rabbitmq-env.conf}"
RABBIT_NOFILE_MARK='# sensor-streaming (scripts/ensure-services.sh): open files up to the hard limit'
RABBIT_REMOTE=''
APT_UPDATED=''

help_install() {
  cat >&2 <<MSG
To run the suite you need PostgreSQL 15+ and RabbitMQ 3.10+ (plugins: ${RABBIT_PLUGINS[*]}; MQTT listener on 1884).
  Debian/Ubuntu (as root): apt-get install -y postgresql rabbitmq-server   # then re-run this script
  or point DATABASE_URL / AMQP_URL at servers you already have (the suite needs a user that may create
  vhosts and databases: compose's broker has only per-service users over TLS, so it is not one).
MSG
}

apt_install() {
  is_debian_like && can_root || return 1
  log "installing $* with apt-get"
  if [[ -z "$APT_UPDATED" ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  without_lock as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}

# --- PostgreSQL -----------------------------------------------------------------
start_pg_clusters() {
  have_cmd pg_lsclusters || return 1
  local started='' ver name port status
  while read -r ver name port status _; do
    [[ "$status" == online* ]] && continue
    log "starting PostgreSQL cluster $ver/$name (port $port)"
    without_lock as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 ||
      die "could not start PostgreSQL cluster $ver/$name; see /var/log/postgresql/postgresql-$ver-$name.log"
    started=1
  done < <(pg_lsclusters --no-header 2>/dev/null)
  [[ -n "$started" ]]
}

ensure_postgres() {
  parse_url "$DATABASE_URL" 5432
  local host="$URL_HOST" port="$URL_PORT"
  if port_open "$host" "$port"; then
    ok "PostgreSQL answers on $host:$port"
  elif ! is_local_host "$host"; then
    die "PostgreSQL at $host:$port (DATABASE_URL=$(redact_url "$DATABASE_URL")) does not answer, and it is not local so I cannot start it"
  elif take_lock && port_open "$host" "$port"; then
    ok "PostgreSQL answers on $host:$port (started by another run meanwhile)"
  elif have_cmd pg_lsclusters; then
    start_pg_clusters || die "PostgreSQL is installed but no cluster is stopped and nothing answers on $host:$port; check 'pg_lsclusters' (is the cluster on another port?)"
    wait_port "$host" "$port" "$TIMEOUT_S" PostgreSQL || die "PostgreSQL started but does not answer on $host:$port"
    ok "PostgreSQL started on $host:$port"
  elif apt_install postgresql; then
    # The package creates and usually starts the cluster; start it if policy-rc.d prevented that.
    start_pg_clusters || true
    wait_port "$host" "$port" "$TIMEOUT_S" PostgreSQL || die "PostgreSQL installed but does not answer on $host:$port"
    ok "PostgreSQL installed and started on $host:$port"
  else
    help_install
    die "PostgreSQL is not running on $host:$port and is not installed (needs root on Debian/Ubuntu to install it)"
  fi
  ensure_database
}

# psql_maintenance ARGS...: psql on the 'postgres' database with DATABASE_URL's credentials
psql_maintenance() {
  local base="${DATABASE_URL%%\?*}"
  local query=''
  [[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
  PGCONNECT_TIMEOUT=5 psql "${base%/*}/postgres${query}" -X -q -v ON_ERROR_STOP=1 "$@"
}

ensure_database() {
  parse_url "$DATABASE_URL" 5432
  local db
  db="$(url_decode "$URL_PATH")"
  [[ -n "$db" ]] || { warn "DATABASE_URL names no database; skipping the database check"; return 0; }
  [[ "$db" =~ ^[A-Za-z0-9_-]{1,63}$ ]] || die "database name '$db' in DATABASE_URL: use letters, digits, _ and - only"
  if ! have_cmd psql; then
    warn "psql not found: cannot check that database '$db' exists (install postgresql-client)"
    return 0
  fi
  local exists
  exists="$(psql_maintenance -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ||
    die "cannot connect to PostgreSQL as '$URL_USER' (DATABASE_URL=$(redact_url "$DATABASE_URL")); locally the suite expects user postgres with trust auth for 127.0.0.1"
  if [[ "$exists" == 1 ]]; then
    ok "database '$db' exists"
  else
    log "creating database '$db'"
    psql_maintenance -c "CREATE DATABASE \"$db\"" >&2 || die "could not create database '$db'"
    ok "database '$db' created"
  fi
}

# --- RabbitMQ -------------------------------------------------------------------
mqtt_port() {
  parse_url "$MQTT_URL" 1883
  echo "$URL_PORT"
}

# rabbit_config_files: the main config file and every conf.d snippet (what the node reads at boot)
rabbit_config_files() {
  local f
  [[ -f "$RABBIT_CONFIG_FILE" ]] && echo "$RABBIT_CONFIG_FILE"
  for f in "$RABBIT_CONF_D"/*.conf; do
    [[ -f "$f" ]] && echo "$f"
  done
  return 0
}

# configured_mqtt_port: the MQTT TCP port the node's config files set, empty when none does
configured_mqtt_port() {
  local files=()
  mapfile -t files < <(rabbit_config_files)
  ((${#files[@]} > 0)) || return 0
  sed -nE 's/^[[:space:]]*mqtt\.listeners\.tcp\.[^=[:space:]]+[[:space:]]*=[[:space:]]*(.*:)?([0-9]+)[[:space:]]*$/\2/p' \
    "${files[@]}" 2>/dev/null | tail -n 1
}

# Puts the MQTT listener where MQTT_URL expects it (the plugin's default, 1883,
# belongs to Mosquitto on a typical machine), unless a config file already sets
# one; dies when that one disagrees with MQTT_URL.
ensure_rabbit_snippet() {
  local want have
  want="$(mqtt_port)"
  have="$(configured_mqtt_port)"
  if [[ -n "$have" ]]; then
    [[ "$have" == "$want" ]] ||
      die "RabbitMQ's config sets the MQTT listener to port $have but MQTT_URL says $want: change one of them (grep -r mqtt.listeners $RABBIT_CONFIG_FILE $RABBIT_CONF_D)"
    return 0
  fi
  [[ -d "$(dirname "$RABBIT_CONF_D")" ]] || return 0
  log "writing $RABBIT_SNIPPET (mqtt.listeners.tcp.default = $want)"
  as_root mkdir -p "$RABBIT_CONF_D"
  printf '# Written by sensor-streaming scripts/ensure-services.sh: the MQTT plugin on MQTT_URL'"'"'s port\n# (Mosquitto often owns 1883). RabbitMQ reads listener settings only when the node starts.\nmqtt.listeners.tcp.default = %s\n' \
    "$want" | as_root tee "$RABBIT_SNIPPET" >/dev/null
  as_root chmod 644 "$RABBIT_SNIPPET"
}

# rabbit_plugin_states: "<name> <E|e|-> <running 1|0>" for every plugin we need
rabbit_plugin_states() {
  local listing p line flag run
  listing="$(as_root rabbitmq-plugins list 2>/dev/null)" || return 1
  for p in "${RABBIT_PLUGINS[@]}"; do
    line="$(grep -E "\] $p[[:space:]]" <<<"$listing" || true)"
    flag='-' run=0
    if [[ "$line" =~ ^\[([Ee ])([*\ ])\] ]]; then
      [[ "${BASH_REMATCH[1]}" != ' ' ]] && flag="${BASH_REMATCH[1]}"
      [[ "${BASH_REMATCH[2]}" == '*' ]] && run=1
    fi
    echo "$p $flag $run"
  done
}

# `rabbitmq-server -detached` as root runs the node through `su rabbitmq`, whose PAM session sets the soft
# open-files limit back to 1024 (about 900 connections, MQTT devices included) whatever the caller's; the
# node may raise it itself up to the hard limit, so the env file RabbitMQ sources at start does that.
# Applies at the node's next start.
ensure_rabbit_nofile() {
  grep -qF "$RABBIT_NOFILE_MARK" "$RABBIT_ENV_FILE" 2>/dev/null && return 0
  can_root || return 0
  log "raising RabbitMQ's open-files limit to the hard limit at its start ($RABBIT_ENV_FILE)"
  printf '%s\n%s\n' "$RABBIT_NOFILE_MARK" 'ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true' |
    as_root tee -a "$RABBIT_ENV_FILE" >/dev/null || warn "could not write $RABBIT_ENV_FILE: RabbitMQ keeps its open-files limit"
}

start_rabbit() {
  local host="$1" port="$2"
  ensure_rabbit_nofile
  log "starting RabbitMQ (rabbitmq-server -detached)"
  without_lock as_root rabbitmq-server -detached >&2 || die "rabbitmq-server -detached failed; see ${RABBITMQ_LOG_BASE:-/var/log/rabbitmq}/"
  # await_startup needs the node to exist, so wait for the AMQP listener first.
  wait_port "$host" "$port" "$TIMEOUT_S" RabbitMQ || die "RabbitMQ started but does not answer on $host:$port; see ${RABBITMQ_LOG_BASE:-/var/log/rabbitmq}/"
  as_root timeout "$TIMEOUT_S" rabbitmqctl -q await_startup >/dev/null 2>&1 ||
    die "RabbitMQ answers on $host:$port but 'rabbitmqctl await_startup' failed; see ${RABBITMQ_LOG_BASE:-/var/log/rabbitmq}/"
}

stop_rabbit() {
  as_root timeout "$TIMEOUT_S" rabbitmqctl -q shutdown >/dev/null 2>&1 ||
    die "could not stop RabbitMQ for the restart ('rabbitmqctl shutdown' failed); restart it by hand: rabbitmqctl shutdown; rabbitmq-server -detached"
}

# plugin_ports_answer: the management API, Prometheus and MQTT listeners all accept connections, and the
# broker offers the consistent-hash exchange type (a plugin without a port: asked through the management API)
plugin_ports_answer() {
  port_open 127.0.0.1 "$MGMT_PORT" && port_open 127.0.0.1 "$PROMETHEUS_PORT" && port_open 127.0.0.1 "$(mqtt_port)" &&
    hash_exchange_offered
}

# hash_exchange_offered: /api/overview lists x-consistent-hash among the exchange types (false when it cannot tell)
hash_exchange_offered() {
  have_cmd curl || return 1
  local user pass
  user="$(url_decode "$(parse_url "$AMQP_URL" 5672 && echo "${URL_USER:-guest}")")"
  pass="$(url_decode "$(parse_url "$AMQP_URL" 5672 && echo "${URL_PASS:-guest}")")"
  curl -s -m 3 -u "$user:$pass" "http://127.0.0.1:$MGMT_PORT/api/overview" 2>/dev/null | grep -q '"name":"x-consistent-hash"'
}

# Brings the plugins to "enabled and running, listeners where the URLs say".
# A broker as delivered (no plugins) gets them enabled; MQTT needs its listener
# port from the config, which RabbitMQ applies only at boot, so enabling it on
# a running node would try 1883 (eaddrinuse when Mosquitto is there) and leave
# the plugin enabled-but-stopped. So: enable offline, then restart the node once.
ensure_rabbit_plugins() {
  local host="$1" port="$2" mport
  mport="$(mqtt_port)"
  plugin_ports_answer && return 0
  have_cmd rabbitmq-plugins || { warn "rabbitmq-plugins not found: cannot enable ${RABBIT_PLUGINS[*]}"; return 0; }
  ensure_rabbit_snippet
  local states name flag run missing=() stopped=()
  states="$(rabbit_plugin_states)" || die "'rabbitmq-plugins list' failed: is the node running as $(rabbit_node)?"
  while read -r name flag run; do
    [[ "$flag" == - ]] && missing+=("$name")
    [[ "$run" == 1 ]] || stopped+=("$name")
  done <<<"$states"
  local restart_reason=''
  if [[ " ${stopped[*]} " == *" rabbitmq_mqtt "* ]]; then
    restart_reason="it applies the MQTT listener port ($mport) only at start"
  elif ! port_open 127.0.0.1 "$mport"; then
    restart_reason="its MQTT listener is not on port $mport yet (config changed after it started)"
  elif ((${#stopped[@]} > ${#missing[@]})); then
    restart_reason="plugins ${stopped[*]} are enabled but not running"
  fi
  if [[ -n "$restart_reason" ]]; then
    if ((${#missing[@]} > 0)); then
      as_root rabbitmq-plugins -q enable --offline "${missing[@]}" >/dev/null ||
        die "rabbitmq-plugins enable --offline ${missing[*]} failed"
    fi
    warn "restarting RabbitMQ once to start ${stopped[*]:-its plugins}: $restart_reason (open AMQP connections will reconnect)"
    stop_rabbit
    start_rabbit "$host" "$port"
  elif ((${#missing[@]} > 0)); then
    log "enabling RabbitMQ plugins: ${missing[*]}"
    as_root rabbitmq-plugins -q enable "${missing[@]}" >/dev/null || die "rabbitmq-plugins enable ${missing[*]} failed"
  fi
  local what
  for what in "$MGMT_PORT:management API" "$PROMETHEUS_PORT:Prometheus endpoint" "$mport:MQTT listener"; do
    wait_port 127.0.0.1 "${what%%:*}" 60 "RabbitMQ ${what#*:}" ||
      die "RabbitMQ's ${what#*:} does not answer on 127.0.0.1:${what%%:*} after enabling ${RABBIT_PLUGINS[*]}: is the port taken by another program (ss -ltnp | grep :${what%%:*})? RabbitMQ's log: ${RABBITMQ_LOG_BASE:-/var/log/rabbitmq}/"
  done
  states="$(rabbit_plugin_states)" || die "'rabbitmq-plugins list' failed: is the node running as $(rabbit_node)?"
  grep -q '^rabbitmq_consistent_hash_exchange [Ee] 1$' <<<"$states" ||
    die "rabbitmq_consistent_hash_exchange is not running after enabling it (rabbitmq-plugins list -e); the sharded data path needs it"

  ok "RabbitMQ plugins running: ${RABBIT_PLUGINS[*]} (MQTT on $mport)"
}

rabbit_node() { echo "${RABBITMQ_NODENAME:-rabbit@localhost}"; }

wait_management() {
  parse_url "$AMQP_URL" 5672
  local user pass code deadline=$((SECONDS + TIMEOUT_S))
  user="$(url_decode "${URL_USER:-guest}")"
  pass="$(url_decode "${URL_PASS:-guest}")"
  have_cmd curl || { wait_port 127.0.0.1 "$MGMT_PORT" "$TIMEOUT_S" "RabbitMQ management API" || die "management API does not answer"; return 0; }
  while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -m 3 -u "$user:$pass" "http://127.0.0.1:$MGMT_PORT/api/overview" || true)"
    case "$code" in
      200) return 0 ;;
      401) warn "management API on :$MGMT_PORT rejects the AMQP_URL credentials (tests use it with the same user)"; return 0 ;;
    esac
    ((SECONDS < deadline)) || die "RabbitMQ management API did not answer on 127.0.0.1:$MGMT_PORT within ${TIMEOUT_S}s (last HTTP code: $code)"
    sleep 1
  done
}

ensure_rabbitmq() {
  parse_url "$AMQP_URL" 5672
  local host="$URL_HOST" port="$URL_PORT"
  if ! is_local_host "$host"; then
    port_open "$host" "$port" 3 || die "RabbitMQ at $host:$port (AMQP_URL=$(redact_url "$AMQP_URL")) does not answer, and it is not local so I cannot start it"
    ok "RabbitMQ answers on $host:$port (remote: plugins are not checked)"
    RABBIT_REMOTE=1
    return 0
  fi
  # Fast path, no lock: everything already answers.
  if port_open "$host" "$port" && plugin_ports_answer; then
    wait_management
    ok "RabbitMQ answers on $host:$port (management :$MGMT_PORT, Prometheus :$PROMETHEUS_PORT, MQTT :$(mqtt_port))"
    return 0
  fi
  # Two clones may run this at once: one of them changes the broker, the other waits and then finds it done.
  take_lock
  if port_open "$host" "$port"; then
    ok "RabbitMQ answers on $host:$port"
  elif have_cmd rabbitmq-server; then
    prepare_rabbit_boot
    start_rabbit "$host" "$port"
    ok "RabbitMQ started on $host:$port"
  elif apt_install rabbitmq-server; then
    prepare_rabbit_boot
    port_open "$host" "$port" || start_rabbit "$host" "$port"
    ok "RabbitMQ installed and started on $host:$port"
  else
    help_install
    die "RabbitMQ is not running on $host:$port and is not installed (needs root on Debian/Ubuntu to install it)"
  fi
  ensure_rabbit_plugins "$host" "$port"
  wait_management
  ok "RabbitMQ management API answers on 127.0.0.1:$MGMT_PORT"
}

# Before a (re)start: the listener snippet and the plugin list in place, so the node boots with them.
prepare_rabbit_boot() {
  ensure_rabbit_snippet
  if have_cmd rabbitmq-plugins; then
    as_root rabbitmq-plugins -q enable --offline "${RABBIT_PLUGINS[@]}" >/dev/null ||
      warn "rabbitmq-plugins enable --offline ${RABBIT_PLUGINS[*]} failed; trying again once the node runs"
  fi
}

LOCK_FD=''
# without_lock CMD...: runs CMD with the lock's descriptor closed, so a daemon it
# starts (the Erlang VM, postgres) does not inherit the lock and hold it forever
without_lock() {
  if [[ -n "$LOCK_FD" ]]; then
    "$@" {LOCK_FD}>&-
  else
    "$@"
  fi
}
# take_lock: one ensure-services at a time on this machine (all clones share the lock file)
take_lock() {
  [[ -z "$LOCK_FD" ]] || return 0
  have_cmd flock || { warn "flock not found: not serialising with other runs"; return 0; }
  exec {LOCK_FD}>>"$LOCK_FILE" || die "cannot open the lock file $LOCK_FILE"
  chmod 666 "$LOCK_FILE" 2>/dev/null || true
  if ! flock -n "$LOCK_FD"; then
    log "another ensure-services run holds $LOCK_FILE; waiting for it (up to ${TIMEOUT_S}s+)"
    flock -w $((TIMEOUT_S * 3)) "$LOCK_FD" || die "gave up waiting for $LOCK_FILE (another ensure-services run is stuck?)"
  fi
}

want_pg='' want_rabbit=''
(($# == 0)) && want_pg=1 want_rabbit=1
for arg in "$@"; do
  case "$arg" in
    postgres) want_pg=1 ;;
    rabbitmq) want_rabbit=1 ;;
    *) die "usage: ensure-services.sh [postgres] [rabbitmq]" ;;
  esac
done
ready=()
if [[ -n "$want_pg" ]]; then
  ensure_postgres
  ready+=("PostgreSQL $(redact_url "$DATABASE_URL")")
fi
if [[ -n "$want_rabbit" ]]; then
  ensure_rabbitmq
  ready+=("RabbitMQ $(redact_url "$AMQP_URL")")
  if [[ -z "$RABBIT_REMOTE" ]]; then
    ready+=("MQTT $MQTT_URL")
  elif port_open "$(parse_url "$MQTT_URL" 1883; echo "$URL_HOST")" "$(mqtt_port)" 3; then
    ready+=("MQTT $MQTT_URL")
  else
    warn "MQTT at $MQTT_URL does not answer (remote broker: enable rabbitmq_mqtt there); the MQTT tests will fail"
  fi
fi
line="$(printf '%s, ' "${ready[@]}")"
ok "services ready: ${line%, }"
