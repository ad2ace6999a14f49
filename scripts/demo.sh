#!/usr/bin/env bash
# make demo: Tansu (a Kafka-compatible broker, in memory) and the GigaChat emulator on 127.0.0.1 (or real GigaChat
# when GIGACHAT_CREDENTIALS is set), the topics, the sample documents submitted with a summarising prompt, one
# worker, the results collected with a progress bar and a summary. Everything it starts is stopped when it ends,
# also on Ctrl-C. Files: run/demo/ (results.jsonl, manifest, logs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-"$ROOT/.build/debug/gigachat-worker"}
DEMO="$ROOT/run/demo"
DOCUMENTS=${DOCUMENTS:-"$ROOT/samples/documents"}
rm -rf "$DEMO"
mkdir -p "$DEMO"

pids=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/lib/net.sh
. "$ROOT/scripts/lib/net.sh"
wait_for() {  # wait_for <seconds> <command...>
    local seconds=$1
    shift
    for _ in $(seq $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# --- broker ---------------------------------------------------------------------------------------------------
broker_port=$(free_port)
tansu=${TANSU_BIN:-/usr/local/bin/tansu}
"$tansu" broker --listener-url "tcp://127.0.0.1:$broker_port" --advertised-listener-url "tcp://127.0.0.1:$broker_port" \
    --storage-engine memory://tansu/ >"$DEMO/broker.log" 2>&1 </dev/null &
pids+=($!)
wait_for 20 kcat -L -b "127.0.0.1:$broker_port" -m 2 || { echo "Tansu did not start:"; cat "$DEMO/broker.log"; exit 1; }
export GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$broker_port"
echo "== Tansu on 127.0.0.1:$broker_port"

# --- GigaChat: real when credentials are set, else the emulator --------------------------------------------------
if [ -n "${GIGACHAT_CREDENTIALS:-}" ]; then
    echo "== GigaChat at ${GIGACHAT_BASE_URL:-https://gigachat.devices.sberbank.ru/api/v1} (GIGACHAT_CREDENTIALS is set)"
else
    emulator_port=$(free_port)
    "$BIN" emulator --port "$emulator_port" --ttft-ms 400 --chunk-delay-ms 40 --concurrency-limit 10 \
        >"$DEMO/emulator.log" 2>&1 </dev/null &
    pids+=($!)
    wait_for 10 grep -q GIGACHAT_BASE_URL "$DEMO/emulator.log" || { echo "the emulator did not start:"; cat "$DEMO/emulator.log"; exit 1; }
    export GIGACHAT_BASE_URL="http://127.0.0.1:$emulator_port/api/v1"
    export GIGACHAT_AUTH_URL="http://127.0.0.1:$emulator_port/api/v2/oauth"
    # A made-up authorization key (Base64 of id:secret); the emulator accepts any well-formed key.
    export GIGACHAT_CREDENTIALS="ZGVtbzpkZW1vLXNlY3JldA=="
    echo "== GigaChat emulator on 127.0.0.1:$emulator_port (an account of 10 streams)"
fi

# --- topics, jobs, a worker, the results ------------------------------------------------------------------------
"$BIN" topics create gigachat.jobs gigachat.partials gigachat.completions gigachat.jobs.DLT --partitions 6 \
    --bootstrap-servers "127.0.0.1:$broker_port" >/dev/null
echo "== gigachat-worker submit $(ls "$DOCUMENTS" | wc -l) documents from ${DOCUMENTS#"$ROOT"/}"
"$BIN" submit --template $'Summarise this document in two sentences.\n\n{{document}}' --stream \
    --manifest "$DEMO/manifest.jsonl" "$DOCUMENTS"

export GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT=6s   # Tansu answers a join after about half the session timeout
export GIGACHAT_WORKER_METRICS_PORT=0
export GIGACHAT_ACCOUNT_CONCURRENCY=10
"$BIN" run --log-format text >"$DEMO/worker.log" 2>&1 </dev/null &
worker=$!
pids=("$worker" "${pids[@]}")   # stopped first
echo "== gigachat-worker run (log: ${DEMO#"$ROOT"/}/worker.log)"

echo "== gigachat-worker collect"
status=0
"$BIN" collect --manifest "$DEMO/manifest.jsonl" --output "$DEMO/results.jsonl" --timeout 180 || status=$?

kill -TERM "$worker" 2>/dev/null || true
wait "$worker" 2>/dev/null || true
echo "== results: ${DEMO#"$ROOT"/}/results.jsonl (one completion per document; the worker stopped cleanly)"
exit "$status"
