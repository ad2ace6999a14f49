#!/usr/bin/env bash
# Local Kafka-compatible broker (Tansu, in-memory storage) for the demo and manual testing.
#
#   scripts/broker.sh start [--port N]   start on 127.0.0.1 (a free port unless --port), wait until it answers
#                                        Kafka metadata, print the bootstrap address, write run/broker.env
#   scripts/broker.sh stop               stop the broker this script started (and only that process)
#   scripts/broker.sh status             print the bootstrap address if running; exit 1 if not
#
# Tansu listens on IPv4 only, so it binds and advertises 127.0.0.1, never localhost.
# Environment: TANSU_BIN (default: /usr/local/bin/tansu, else `tansu` on PATH), KCAT_BIN (default: kcat).
# Files (run/ is gitignored): run/broker.pid, run/broker.port, run/broker.log, run/broker.env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/run"
PID_FILE="$RUN_DIR/broker.pid"
PORT_FILE="$RUN_DIR/broker.port"
LOG_FILE="$RUN_DIR/broker.log"
ENV_FILE="$RUN_DIR/broker.env"
START_TIMEOUT_S=20
STOP_TIMEOUT_S=10

die() {
    echo "broker.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status [--port N]" >&2
    exit 2
}

find_tansu() {
    if [[ -n "${TANSU_BIN:-}" ]]; then
        [[ -x "$TANSU_BIN" ]] || die "TANSU_BIN=$TANSU_BIN is not an executable file"
        echo "$TANSU_BIN"
    elif [[ -x /usr/local/bin/tansu ]]; then
        echo /usr/local/bin/tansu
    elif command -v tansu >/dev/null 2>&1; then
        command -v tansu
    else
        die "tansu not found (set TANSU_BIN, or run scripts/bootstrap.sh)"
    fi
}

find_kcat() {
    local kcat="${KCAT_BIN:-kcat}"
    command -v "$kcat" >/dev/null 2>&1 || die "kcat not found (needed to check the broker answers; run scripts/bootstrap.sh)"
    command -v "$kcat"
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        # Fallback: random ports in the dynamic range until one refuses a connection.
        local port
        for _ in $(seq 1 50); do
            port=$((49152 + RANDOM % 16000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$port"
                return
            fi
        done
        die "could not find a free port"
    fi
}

# Prints the pid if the pid file names a live tansu process; removes stale files otherwise.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && is_tansu "$pid"; then
        echo "$pid"
        return 0
    fi
    rm -f "$PID_FILE" "$PORT_FILE" "$ENV_FILE"
    return 1
}

is_tansu() {
    local exe
    exe="$(readlink "/proc/$1/exe" 2>/dev/null || true)"
    [[ "$(basename "${exe% (deleted)}")" == tansu* ]] && return 0
    # Without /proc access to exe (other user), fall back to the command name.
    [[ "$(ps -o comm= -p "$1" 2>/dev/null || true)" == tansu* ]]
}

answers_metadata() {
    "$KCAT" -L -b "127.0.0.1:$1" -m 2 >/dev/null 2>&1
}

cmd_start() {
    local port="$1" pid
    if pid="$(running_pid)"; then
        local running_port
        running_port="$(cat "$PORT_FILE")"
        if [[ -n "$port" && "$port" != "$running_port" ]]; then
            die "already running on port $running_port (pid $pid); stop it first to use port $port"
        fi
        echo "broker already running (pid $pid)" >&2
        echo "127.0.0.1:$running_port"
        return 0
    fi
    local tansu
    tansu="$(find_tansu)"
    if [[ -z "$port" ]]; then
        port="$(free_port)"
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port on 127.0.0.1 is already in use"
    fi
    mkdir -p "$RUN_DIR"
    local url="tcp://127.0.0.1:$port"
    # setsid: the broker outlives this shell and does not get the terminal's SIGINT.
    setsid "$tansu" broker \
        --listener-url "$url" \
        --advertised-listener-url "$url" \
        --storage-engine memory://tansu/ \
        >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until answers_metadata "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE" "$PORT_FILE"
            echo "broker.sh: tansu exited during start-up; last lines of $LOG_FILE:" >&2
            tail -n 20 "$LOG_FILE" >&2 || true
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE" "$PORT_FILE"
            echo "broker.sh: tansu did not answer metadata on 127.0.0.1:$port within ${START_TIMEOUT_S}s; log:" >&2
            tail -n 20 "$LOG_FILE" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    echo "KAFKA_BOOTSTRAP=127.0.0.1:$port" >"$ENV_FILE"
    echo "broker started (pid $pid, log $LOG_FILE, env $ENV_FILE)" >&2
    echo "127.0.0.1:$port"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        echo "broker not running" >&2
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "broker.sh: pid $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$PID_FILE" "$PORT_FILE" "$ENV_FILE"
    echo "broker stopped (pid $pid)" >&2
}

cmd_status() {
    local pid port
    if ! pid="$(running_pid)"; then
        echo "broker not running" >&2
        return 1
    fi
    port="$(cat "$PORT_FILE")"
    if answers_metadata "$port"; then
        echo "broker running (pid $pid)" >&2
        echo "127.0.0.1:$port"
    else
        echo "broker process $pid is alive but does not answer metadata on 127.0.0.1:$port" >&2
        return 1
    fi
}

[[ $# -ge 1 ]] || usage
COMMAND="$1"
shift
PORT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port)
            [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -ge 1 && "$2" -le 65535 ]] || die "--port needs a number 1-65535"
            PORT="$2"
            shift 2
            ;;
        --port=*)
            PORT="${1#--port=}"
            [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -ge 1 && "$PORT" -le 65535 ]] || die "--port needs a number 1-65535"
            shift
            ;;
        *) usage ;;
    esac
done

case "$COMMAND" in
    start)
        KCAT="$(find_kcat)"
        cmd_start "$PORT"
        ;;
    stop) cmd_stop ;;
    status)
        KCAT="$(find_kcat)"
        cmd_status
        ;;
    *) usage ;;
esac
