#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, for the molecule drills: install
# docker.io and debootstrap when missing and start dockerd as a detached process (the build
# machines have no systemd). Idempotent: does nothing when `docker info` already answers.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.state/docker"
log_file="$state/dockerd.log"
pid_file="$state/dockerd.pid"
wait_seconds=${DOCKER_ENGINE_WAIT:-60}

log() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_daemon() {
  mkdir -p "$state"
  # A dockerd we started earlier may still be starting up; do not start a second one.
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    log "dockerd already running (pid $(cat "$pid_file")), waiting for it"
    return
  fi
  log "starting dockerd (log: $log_file)"
  setsid dockerd >"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
}

wait_for_engine() {
  local waited=0
  until engine_answers; do
    if [ -f "$pid_file" ] && ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      die "dockerd exited during start-up; see $log_file"
    fi
    [ "$waited" -ge "$wait_seconds" ] && die "docker info did not answer within ${wait_seconds}s; see $log_file"
    sleep 1
    waited=$((waited + 1))
  done
}

if engine_answers; then
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "no Docker engine answers and starting one needs root (run: sudo $0)"
install_packages
start_daemon
wait_for_engine
log "ready: engine $(docker version --format '{{.Server.Version}}') (log: $log_file)"
