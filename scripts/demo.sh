#!/usr/bin/env bash
# The demo, on one machine: a local GigaChat emulator and the one-minute check (models, a streamed chat)
# against it. The worker pipeline (Kafka in, completions out) joins the demo when it exists.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-"$ROOT/.build/debug/gigachat-worker"}
RUN="$ROOT/run"
mkdir -p "$RUN"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" emulator --host 127.0.0.1 --port "$port" --chunk-delay-ms 40 >"$RUN/demo-emulator.log" 2>&1 &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true; wait "$emulator" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    grep -q GIGACHAT_BASE_URL "$RUN/demo-emulator.log" && break
    sleep 0.1
done
grep -q GIGACHAT_BASE_URL "$RUN/demo-emulator.log" || { echo "the emulator did not start:"; cat "$RUN/demo-emulator.log"; exit 1; }

export GIGACHAT_BASE_URL="http://127.0.0.1:$port/api/v1"
export GIGACHAT_AUTH_URL="http://127.0.0.1:$port/api/v2/oauth"
# A made-up authorization key (Base64 of id:secret); the emulator accepts any well-formed key by default.
export GIGACHAT_CREDENTIALS="ZGVtbzpkZW1vLXNlY3JldA=="

echo "== GigaChat emulator on 127.0.0.1:$port"
echo "== gigachat-worker models"
"$BIN" models
echo "== gigachat-worker chat --model GigaChat-2-Max --system 'Be brief.' 'What is Kafka?'"
"$BIN" chat --model GigaChat-2-Max --system "Be brief." "What is Kafka?"
