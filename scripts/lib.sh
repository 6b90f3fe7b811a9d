# Shared helpers for scripts/test and scripts/services. Source it; don't run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
RUN_DIR="$ROOT/.run"

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# CI=true (any case) or CI=1 means: a service that cannot be started fails the run.
is_ci() {
    case "${CI:-}" in [Tt][Rr][Uu][Ee] | 1) return 0 ;; *) return 1 ;; esac
}

# Run a command as root: directly when we are root, else through passwordless sudo.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        say "needs root to run: $*"
        return 1
    fi
}

# Install Debian packages; runs apt-get update only when the first attempt fails
# (e.g. empty package lists on a fresh image). Output goes to .run/apt.log.
apt_install() {
    local log="$RUN_DIR/apt.log"
    mkdir -p "$RUN_DIR"
    say "installing $* with apt-get (log: ${log#"$ROOT"/})"
    export DEBIAN_FRONTEND=noninteractive
    if as_root apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1; then
        return 0
    fi
    as_root apt-get update -q >>"$log" 2>&1 &&
        as_root apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 || {
        say "apt-get install $* failed; see ${log#"$ROOT"/}"
        return 1
    }
}

# True when something accepts TCP connections on host:port (1 s timeout).
port_open() {
    timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_port NAME HOST PORT SECONDS LOG [PID]: wait until the port accepts connections.
# Gives up early when PID (the process that should open it) has exited.
wait_port() {
    local name=$1 host=$2 port=$3 seconds=$4 log=$5 pid=${6:-}
    local deadline=$((SECONDS + seconds))
    until port_open "$host" "$port"; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            say "$name exited before opening $host:$port; see $log"
            [[ -f $log ]] && tail -n 20 "$log" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            say "$name did not open $host:$port within ${seconds}s; see $log"
            [[ -f $log ]] && tail -n 20 "$log" >&2
            return 1
        fi
        sleep 0.2
    done
}
