#!/usr/bin/env bash
# Shared helpers for scripts/*.sh. Source it, do not run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck shell=bash
# Variables set here are used by the scripts that source this file.
# shellcheck disable=SC2034

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT_NAME="$(basename "${0:-script}" .sh)"

if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
  _C_RED=$'\e[31m' _C_YEL=$'\e[33m' _C_GRN=$'\e[32m' _C_DIM=$'\e[2m' _C_OFF=$'\e[0m'
else
  _C_RED='' _C_YEL='' _C_GRN='' _C_DIM='' _C_OFF=''
fi

# log MESSAGE...: progress on stderr, so stdout stays clean for output
log() { printf '%s[%s]%s %s\n' "$_C_DIM" "$SCRIPT_NAME" "$_C_OFF" "$*" >&2; }
ok() { printf '%s[%s]%s %s%s%s\n' "$_C_DIM" "$SCRIPT_NAME" "$_C_OFF" "$_C_GRN" "$*" "$_C_OFF" >&2; }
warn() { printf '%s[%s]%s %swarning:%s %s\n' "$_C_DIM" "$SCRIPT_NAME" "$_C_OFF" "$_C_YEL" "$_C_OFF" "$*" >&2; }
# die MESSAGE...: print an error and exit 1
die() {
  printf '%s[%s]%s %serror:%s %s\n' "$_C_DIM" "$SCRIPT_NAME" "$_C_OFF" "$_C_RED" "$_C_OFF" "$*" >&2
  exit 1
}

# have_cmd NAME: true if NAME is an executable on PATH
have_cmd() { command -v "$1" >/dev/null 2>&1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# as_root CMD...: run CMD as root (directly, or through passwordless sudo)
as_root() {
  if is_root; then
    "$@"
  elif have_cmd sudo && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    die "needs root to run: $* (re-run as root, or configure passwordless sudo)"
  fi
}

# can_root: true if as_root would work without prompting
can_root() { is_root || { have_cmd sudo && sudo -n true 2>/dev/null; }; }

is_ci() { [[ -n "${CI:-}" ]]; }

is_debian_like() { [[ -r /etc/debian_version ]] && have_cmd apt-get; }

# port_open HOST PORT [TIMEOUT_S=1]: true if a TCP connect succeeds (bash /dev/tcp)
port_open() {
  local host="$1" port="$2" t="${3:-1}"
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout "$t" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

# wait_port HOST PORT TIMEOUT_S [LABEL]: poll until the port answers; false on timeout
wait_port() {
  local host="$1" port="$2" timeout_s="$3" label="${4:-$1:$2}"
  local deadline=$((SECONDS + timeout_s))
  until port_open "$host" "$port"; do
    if ((SECONDS >= deadline)); then
      warn "$label did not answer on $host:$port within ${timeout_s}s"
      return 1
    fi
    sleep 0.5
  done
}

# is_local_host HOST: true for loopback names (services we may start ourselves)
is_local_host() {
  case "$1" in
    localhost | 127.* | ::1 | '[::1]' | '') return 0 ;;
    *) return 1 ;;
  esac
}

# parse_url URL DEFAULT_PORT: sets URL_USER URL_PASS URL_HOST URL_PORT URL_PATH (path without leading /)
parse_url() {
  local url="$1" default_port="$2" rest auth hostport
  URL_USER='' URL_PASS='' URL_HOST='' URL_PORT="$default_port" URL_PATH=''
  rest="${url#*://}"
  rest="${rest%%\?*}"
  rest="${rest%%#*}"
  if [[ "$rest" == */* ]]; then
    URL_PATH="${rest#*/}"
    rest="${rest%%/*}"
  fi
  if [[ "$rest" == *@* ]]; then
    auth="${rest%@*}"
    hostport="${rest##*@}"
    URL_USER="${auth%%:*}"
    [[ "$auth" == *:* ]] && URL_PASS="${auth#*:}"
  else
    hostport="$rest"
  fi
  if [[ "$hostport" == \[*\]* ]]; then
    URL_HOST="${hostport%%]*}"
    URL_HOST="${URL_HOST#[}"
    hostport="${hostport#*]}"
    [[ "$hostport" == :* ]] && URL_PORT="${hostport#:}"
  else
    URL_HOST="${hostport%%:*}"
    [[ "$hostport" == *:* ]] && URL_PORT="${hostport##*:}"
  fi
  [[ -n "$URL_HOST" ]] || URL_HOST=127.0.0.1
  [[ -n "$URL_PORT" ]] || URL_PORT="$default_port"
}

# url_decode STRING: percent-decoding for user names and passwords
url_decode() {
  local s="${1//+/ }"
  printf '%b' "${s//%/\\x}"
}

# redact_url URL: mask the password for printing
redact_url() { sed -E 's#(://[^:/@]*:)[^@/]*@#\1***@#' <<<"$1"; }

# Defaults shared with packages/runtime (loadCommonConfig)
DEFAULT_AMQP_URL='amqp://guest:guest@127.0.0.1:5672'
DEFAULT_DATABASE_URL='postgres://postgres@127.0.0.1:5432/sensor_streaming'
DEFAULT_MQTT_URL='mqtt://127.0.0.1:1884'
