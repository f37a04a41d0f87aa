#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ (with the management, MQTT and Prometheus
# plugins; MQTT on 1884 because Mosquitto may own 1883) are running and that
# the database named in DATABASE_URL exists. Starts installed-but-stopped
# services, installs missing ones on Debian/Ubuntu when root, and otherwise
# says exactly what to do. Idempotent; about a second when all is well.
#
# Env: DATABASE_URL, AMQP_URL, MQTT_URL (same defaults as the services),
#      RABBITMQ_MANAGEMENT_PORT (15672), SERVICES_TIMEOUT_S (90).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATABASE_URL="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
AMQP_URL="${AMQP_URL:-$DEFAULT_AMQP_URL}"
MQTT_URL="${MQTT_URL:-$DEFAULT_MQTT_URL}"
MGMT_PORT="${RABBITMQ_MANAGEMENT_PORT:-15672}"
PROMETHEUS_PORT=15692
TIMEOUT_S="${SERVICES_TIMEOUT_S:-90}"
RABBIT_PLUGINS=(rabbitmq_management rabbitmq_mqtt rabbitmq_prometheus)
RABBIT_SNIPPET=/etc/rabbitmq/conf.d/90-sensor-streaming.conf
APT_UPDATED=''

help_install() {
  cat >&2 <<MSG
To run the suite you need PostgreSQL 15+ and RabbitMQ 3.10+ (plugins: ${RABBIT_PLUGINS[*]}; MQTT listener on 1884).
  Debian/Ubuntu (as root): apt-get install -y postgresql rabbitmq-server   # then re-run this script
  or with Docker:          docker compose up -d postgres rabbitmq
  or point DATABASE_URL / AMQP_URL at servers you already have.
MSG
}

apt_install() {
  is_debian_like && can_root || return 1
  log "installing $* with apt-get"
  if [[ -z "$APT_UPDATED" ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}

# --- PostgreSQL -----------------------------------------------------------------
start_pg_clusters() {
  have_cmd pg_lsclusters || return 1
  local started='' ver name port status
  while read -r ver name port status _; do
    [[ "$status" == online* ]] && continue
    log "starting PostgreSQL cluster $ver/$name (port $port)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 ||
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

# Puts the MQTT listener where MQTT_URL expects it, unless some config already sets one.
ensure_rabbit_snippet() {
  [[ -d /etc/rabbitmq ]] || return 0
  local port
  port="$(mqtt_port)"
  if grep -qsE '^[[:space:]]*mqtt\.listeners\.tcp' /etc/rabbitmq/rabbitmq.conf /etc/rabbitmq/conf.d/*.conf; then
    return 0
  fi
  log "writing $RABBIT_SNIPPET (mqtt.listeners.tcp.default = $port)"
  as_root mkdir -p /etc/rabbitmq/conf.d
  printf '# Written by sensor-streaming scripts/ensure-services.sh: Mosquitto may own 1883.\nmqtt.listeners.tcp.default = %s\n' \
    "$port" | as_root tee "$RABBIT_SNIPPET" >/dev/null
  as_root chmod 644 "$RABBIT_SNIPPET"
}

start_rabbit() {
  local host="$1" port="$2"
  log "starting RabbitMQ (rabbitmq-server -detached)"
  as_root rabbitmq-server -detached >&2 || die "rabbitmq-server -detached failed; see /var/log/rabbitmq/"
  # await_startup needs the node to exist, so wait for the AMQP listener first.
  wait_port "$host" "$port" "$TIMEOUT_S" RabbitMQ || die "RabbitMQ started but does not answer on $host:$port; see /var/log/rabbitmq/"
  as_root timeout "$TIMEOUT_S" rabbitmqctl -q await_startup >/dev/null 2>&1 ||
    die "RabbitMQ answers on $host:$port but 'rabbitmqctl await_startup' failed; see /var/log/rabbitmq/"
}

ensure_rabbit_plugins() {
  local mport
  mport="$(mqtt_port)"
  # Fast path: every plugin's listener already answers.
  if port_open 127.0.0.1 "$MGMT_PORT" && port_open 127.0.0.1 "$PROMETHEUS_PORT" && port_open 127.0.0.1 "$mport"; then
    return 0
  fi
  have_cmd rabbitmq-plugins || { warn "rabbitmq-plugins not found: cannot check plugins ${RABBIT_PLUGINS[*]}"; return 0; }
  local enabled missing=()
  enabled="$(as_root rabbitmq-plugins list -e -m 2>/dev/null)" || die "rabbitmq-plugins list failed"
  for p in "${RABBIT_PLUGINS[@]}"; do
    grep -qx "$p" <<<"$enabled" || missing+=("$p")
  done
  if ((${#missing[@]} > 0)); then
    if [[ " ${missing[*]} " == *" rabbitmq_mqtt "* ]]; then
      # The config snippet only applies at boot: set the listener for the running node first.
      as_root rabbitmqctl -q eval "application:set_env(rabbitmq_mqtt, tcp_listeners, [$mport])." >/dev/null ||
        die "could not set the MQTT listener port at runtime"
    fi
    log "enabling RabbitMQ plugins: ${missing[*]}"
    as_root rabbitmq-plugins -q enable "${missing[@]}" >&2 || die "rabbitmq-plugins enable ${missing[*]} failed"
  fi
  wait_port 127.0.0.1 "$mport" 30 "RabbitMQ MQTT listener" ||
    warn "nothing answers on MQTT port $mport: if RabbitMQ was started before $RABBIT_SNIPPET existed, restart it (rabbitmqctl shutdown; rabbitmq-server -detached)"
}

wait_management() {
  parse_url "$AMQP_URL" 5672
  local user pass code deadline=$((SECONDS + TIMEOUT_S))
  user="$(url_decode "${URL_USER:-guest}")"
  pass="$(url_decode "${URL_PASS:-guest}")"
  have_cmd curl || { wait_port 127.0.0.1 "$MGMT_PORT" "$TIMEOUT_S" "RabbitMQ management API" || die "management API does not answer"; return 0; }
  while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -m 3 -u "$user:$pass" "http://127.0.0.1:$MGMT_PORT/api/overview" || true)"
    case "$code" in
      200) ok "RabbitMQ management API answers on 127.0.0.1:$MGMT_PORT"; return 0 ;;
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
    return 0
  fi
  if port_open "$host" "$port"; then
    ensure_rabbit_snippet
    ok "RabbitMQ answers on $host:$port"
  elif have_cmd rabbitmq-server; then
    ensure_rabbit_snippet
    start_rabbit "$host" "$port"
    ok "RabbitMQ started on $host:$port"
  elif apt_install rabbitmq-server; then
    ensure_rabbit_snippet
    port_open "$host" "$port" || start_rabbit "$host" "$port"
    ok "RabbitMQ installed and started on $host:$port"
  else
    help_install
    die "RabbitMQ is not running on $host:$port and is not installed (needs root on Debian/Ubuntu to install it)"
  fi
  ensure_rabbit_plugins
  wait_management
}

ensure_postgres
ensure_rabbitmq
ok "services ready: PostgreSQL $(redact_url "$DATABASE_URL"), RabbitMQ $(redact_url "$AMQP_URL"), MQTT $MQTT_URL"
