#!/usr/bin/env bash
# Runs the whole platform locally, each service in the background.
#   stack.sh up       bootstrap, ensure services, migrate, start every service, wait for /readyz
#   stack.sh down     SIGTERM every service (reverse order), SIGKILL after STOP_TIMEOUT_S
#   stack.sh status   what runs, where, and whether it is ready
#   stack.sh logs [service...]   follow the logs (.stack/<service>.log)
# Env: SENSOR_COUNT (100), READY_TIMEOUT_S (90), STOP_TIMEOUT_S (30), plus
#      AMQP_URL, DATABASE_URL, MQTT_URL, LOG_LEVEL passed to every service.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT_DIR"

STACK_DIR="$ROOT_DIR/.stack"
# Start order; metrics ports match DEFAULT_METRICS_PORTS in packages/runtime.
SERVICES=(sensor-registry measurements-ingester logs-ingester alarm-service sensor-simulator)
declare -A PORT=(
  [sensor-registry]=9101
  [measurements-ingester]=9102
  [logs-ingester]=9103
  [alarm-service]=9104
  [sensor-simulator]=9105
)
READY_TIMEOUT_S="${READY_TIMEOUT_S:-90}"
STOP_TIMEOUT_S="${STOP_TIMEOUT_S:-30}"

pid_file() { echo "$STACK_DIR/$1.pid"; }
log_file() { echo "$STACK_DIR/$1.log"; }

# running_pid SERVICE: prints the process-group id if the service still runs
running_pid() {
  local f pid
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  if kill -0 -- "-$pid" 2>/dev/null; then
    echo "$pid"
  else
    return 1
  fi
}

readyz_code() {
  curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$1/readyz" 2>/dev/null || true
}

start_service() {
  local svc="$1" port="${PORT[$1]}" logf pidf pid
  logf="$(log_file "$svc")"
  pidf="$(pid_file "$svc")"
  if [[ ! -f "services/$svc/src/main.ts" ]]; then
    warn "skipping $svc: services/$svc/src/main.ts does not exist yet"
    return 0
  fi
  if pid="$(running_pid "$svc")"; then
    log "$svc already running (pid $pid)"
  else
    if port_open 127.0.0.1 "$port"; then
      die "cannot start $svc: something else already listens on its metrics port $port"
    fi
    log "starting $svc (metrics :$port, log $logf)"
    printf '\n===== %s stack.sh up =====\n' "$(date -Is)" >>"$logf"
    local extra=()
    [[ "$svc" == sensor-simulator ]] && extra=(SENSOR_COUNT="${SENSOR_COUNT:-100}")
    # A plain node process (no pnpm wrapper) in its own session/process group,
    # so `down` signals exactly the service; cwd is the service's directory.
    # shellcheck disable=SC2016 # expanded by the inner bash
    (cd "services/$svc" && exec env METRICS_PORT="$port" "${extra[@]}" setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidf" \
      node --conditions=source --import tsx src/main.ts) </dev/null >>"$logf" 2>&1 &
    local waited=0
    until [[ -s "$pidf" ]] || ((waited >= 50)); do sleep 0.1; waited=$((waited + 1)); done
  fi
  wait_ready "$svc"
}

wait_ready() {
  local svc="$1" port="${PORT[$1]}" deadline=$((SECONDS + READY_TIMEOUT_S)) code
  while :; do
    code="$(readyz_code "$port")"
    [[ "$code" == 200 ]] && { ok "$svc ready (http://127.0.0.1:$port/readyz)"; return 0; }
    if ! running_pid "$svc" >/dev/null; then
      tail_log "$svc"
      rm -f "$(pid_file "$svc")"
      die "$svc exited during startup (log: $(log_file "$svc")); services started before it keep running: npm stop"
    fi
    if ((SECONDS >= deadline)); then
      tail_log "$svc"
      stop_service "$svc"
      die "$svc not ready after ${READY_TIMEOUT_S}s (last /readyz: ${code:-no answer}); stopped it. Log: $(log_file "$svc"); services started before it keep running: npm stop"
    fi
    sleep 0.5
  done
}

tail_log() {
  echo "----- last 30 lines of $(log_file "$1") -----" >&2
  tail -n 30 "$(log_file "$1")" >&2 || true
  echo "-----" >&2
}

stop_service() {
  local svc="$1" pid deadline
  if ! pid="$(running_pid "$svc")"; then
    rm -f "$(pid_file "$svc")"
    return 0
  fi
  log "stopping $svc (SIGTERM to process group $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 -- "-$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      warn "$svc still running after ${STOP_TIMEOUT_S}s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(pid_file "$svc")"
}

# migrate: applies migrations/ with the same node entry point as `pnpm migrate`;
# shows its warnings, and on failure its one-line error.
run_migrations() {
  local mlog="$STACK_DIR/migrate.log"
  log "running migrations (log .stack/migrate.log)"
  if node --conditions=source --import tsx packages/db/src/bin/migrate.ts >"$mlog" 2>&1; then
    json_messages 40 <"$mlog" | while IFS= read -r line; do warn "migrate: $line"; done
    return 0
  fi
  json_messages 50 <"$mlog" | while IFS= read -r line; do printf '%s\n' "$line" >&2; done
  die "migrations failed (full log: .stack/migrate.log): fix that before starting the services"
}

# json_messages MIN_LEVEL: for each pino line at or above MIN_LEVEL, "msg: error" (non-JSON lines as they are)
json_messages() {
  node -e '
    const min = Number(process.argv[1]);
    let buf = "";
    process.stdin.on("data", (d) => (buf += d)).on("end", () => {
      for (const line of buf.split("\n")) {
        if (!line.trim()) continue;
        let o;
        try { o = JSON.parse(line); } catch { if (min >= 50) console.log(line); continue; }
        if ((o.level ?? 0) < min) continue;
        const detail = o.error ?? o.err?.message ?? o.hint ?? "";
        console.log(detail && !String(o.msg).includes(detail) ? `${o.msg}: ${detail}` : o.msg);
      }
    });' "$1"
}

# storage_line: which backend the database uses, its retention and rollups (packages/db storage command)
storage_line() {
  local line
  if line="$(node --conditions=source --import tsx packages/db/src/bin/storage.ts backend 2>/dev/null)" && [[ -n "$line" ]]; then
    echo "${line#storage: }"
  else
    echo "unknown (pnpm db:backend failed; is the database reachable?)"
  fi
}

cmd_up() {
  mkdir -p "$STACK_DIR"
  bash scripts/bootstrap.sh
  bash scripts/ensure-services.sh
  run_migrations
  for svc in "${SERVICES[@]}"; do
    start_service "$svc"
  done
  cmd_status
  local url="${DATABASE_URL:-$DEFAULT_DATABASE_URL}" mqtt="${MQTT_URL:-$DEFAULT_MQTT_URL}" mqtt_state
  parse_url "$mqtt" 1883
  if port_open "$URL_HOST" "$URL_PORT"; then mqtt_state="$mqtt (answers)"; else mqtt_state="$mqtt does NOT answer: MQTT sensors cannot connect (bash scripts/ensure-services.sh says why)"; fi
  cat <<MSG

  Storage:  $(storage_line)
  MQTT:     $mqtt_state
  Logs:     .stack/<service>.log, one JSON line per event (follow all: bash scripts/stack.sh logs)
  Data:     psql $(redact_url "$url") -c 'SELECT * FROM measurements ORDER BY time DESC LIMIT 10'
  Sensors:  iotctl status      (live view; iotctl sensors list, iotctl sleep <serial>, iotctl logs -f <serial>)
  Alarms:   iotctl alarms      (the simulator injects no faults by default; to see alarms:
            npm stop, then FAULTS=spike:0.01,errorburst:0.01 npm start)
  Metrics:  http://127.0.0.1:<port>/metrics   (also /healthz, /readyz)
  Stop:     npm stop
MSG
}

cmd_down() {
  local i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    stop_service "${SERVICES[$i]}"
  done
  ok "stack stopped"
}

cmd_status() {
  printf '\n%-23s %-8s %-8s %-7s %-30s %s\n' SERVICE STATE PID READYZ METRICS LOG
  local svc pid state code
  for svc in "${SERVICES[@]}"; do
    if pid="$(running_pid "$svc")"; then
      state=running
      code="$(readyz_code "${PORT[$svc]}")"
      [[ "$code" == 000 || -z "$code" ]] && code=-
    else
      pid=- code=-
      if [[ -f "services/$svc/src/main.ts" ]]; then state=stopped; else state=absent; fi
    fi
    printf '%-23s %-8s %-8s %-7s %-30s %s\n' "$svc" "$state" "$pid" "$code" "http://127.0.0.1:${PORT[$svc]}/metrics" ".stack/$svc.log"
  done
}

cmd_logs() {
  local files=() svc
  if (($# == 0)); then
    for svc in "${SERVICES[@]}"; do [[ -f "$(log_file "$svc")" ]] && files+=("$(log_file "$svc")"); done
  else
    for svc in "$@"; do
      [[ -n "${PORT[$svc]:-}" ]] || die "unknown service '$svc' (one of: ${SERVICES[*]})"
      files+=("$(log_file "$svc")")
    done
  fi
  ((${#files[@]} > 0)) || die "no logs yet in .stack/ (run: bash scripts/stack.sh up)"
  exec tail -n "${LINES:-50}" -F "${files[@]}"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  *)
    echo "usage: bash scripts/stack.sh up|down|status|logs [service...]" >&2
    exit 2
    ;;
esac
