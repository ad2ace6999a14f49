#!/usr/bin/env bash
# Measures the release worker's CPU per job the way a user runs it: Tansu and the emulator on 127.0.0.1, a backlog
# of JOBS jobs submitted first, then `gigachat-worker run`; after WARMUP seconds, SECONDS_MEASURED seconds of the
# worker's CPU (user and system, from /proc) against the jobs it answered (its /metrics), per thread as well.
# Optionally under `perf record` or `strace -c` for that window (issue 17's measurements).
#
#   scripts/measure-worker.sh [stream|plain]          (default: stream)
#
# Environment: BIN (default .build/release/gigachat-worker), JOBS (6000), CONCURRENCY (1000), CHUNKS (170 events per
# streamed answer), CHUNK_DELAY_MS (20), PROMPT_BYTES (1024), WARMUP (8), SECONDS_MEASURED (20), PROFILE
# (none|perf|strace).
# Writes run/measure/: logs, perf.data or strace.txt.
set -euo pipefail
shopt -s inherit_errexit
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-stream}
BIN=${BIN:-$ROOT/.build/release/gigachat-worker}
JOBS=${JOBS:-6000}
CONCURRENCY=${CONCURRENCY:-1000}
CHUNKS=${CHUNKS:-170}
CHUNK_DELAY_MS=${CHUNK_DELAY_MS:-20}
PROMPT_BYTES=${PROMPT_BYTES:-1024}
WARMUP=${WARMUP:-8}
SECONDS_MEASURED=${SECONDS_MEASURED:-20}
PROFILE=${PROFILE:-none}
OUT=$ROOT/run/measure
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "no worker binary at $BIN: swift build -c release --product gigachat-worker" >&2; exit 1; }
export LD_LIBRARY_PATH=/usr/local/lib:${LD_LIBRARY_PATH:-}

# shellcheck source=scripts/lib/loopback-stack.sh
. "$ROOT/scripts/lib/loopback-stack.sh"
start_stack "$OUT" "$BIN" "$CHUNKS" "$CHUNK_DELAY_MS"

tag=m$(date +%s)
topics=("$tag.jobs" "$tag.partials" "$tag.completions" "$tag.jobs.DLT")
"$BIN" topics create "${topics[@]}" --partitions 6 --bootstrap-servers "127.0.0.1:$broker_port" >/dev/null
stream_flag=false
[ "$MODE" = stream ] && stream_flag=true
submit_jobs "$OUT" "$BIN" "${topics[0]}" "$JOBS" "$stream_flag" "$PROMPT_BYTES"

metrics_port=$(free_port)
GIGACHAT_BASE_URL="http://127.0.0.1:$emulator_port/api/v1" GIGACHAT_AUTH_URL="http://127.0.0.1:$emulator_port/api/v2/oauth" \
    GIGACHAT_CREDENTIALS="ZGVtbzpkZW1vLXNlY3JldA==" GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$broker_port" \
    GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT=6s GIGACHAT_WORKER_METRICS_PORT="$metrics_port" \
    GIGACHAT_WORKER_CONCURRENCY="$CONCURRENCY" GIGACHAT_WORKER_BUFFER_MAX_JOBS=$((CONCURRENCY * 2 > 1000 ? CONCURRENCY * 2 : 1000)) \
    GIGACHAT_WORKER_LOG_LEVEL=warning GIGACHAT_WORKER_TOPICS_JOBS="${topics[0]}" \
    GIGACHAT_WORKER_TOPICS_PARTIALS="${topics[1]}" GIGACHAT_WORKER_TOPICS_COMPLETIONS="${topics[2]}" \
    GIGACHAT_WORKER_TOPICS_DEAD_LETTER="${topics[3]}" GIGACHAT_WORKER_KAFKA_GROUP_ID="g$tag" \
    "$BIN" run --log-format text >"$OUT/worker.log" 2>&1 &
worker=$!
pids+=("$worker")
sleep "$WARMUP"

answered() { curl -s "127.0.0.1:$metrics_port/metrics" | awk '/^gigachat_worker_jobs_total\{status="ok"\}/ {print $2}'; }
ticks() { awk '{print $14, $15}' "/proc/$worker/stat"; }
jobs0=$(answered)
read -r user0 system0 < <(ticks)
case "$PROFILE" in
    perf) perf record -e cpu-clock -F 499 ${PERF_CALL_GRAPH:--g} -p "$worker" -o "$OUT/perf.data" -- sleep "$SECONDS_MEASURED" >/dev/null 2>&1 ;;
    strace) timeout "$SECONDS_MEASURED" strace -c -f -p "$worker" -o "$OUT/strace.txt" 2>/dev/null || true ;;
    *) sleep "$SECONDS_MEASURED" ;;
esac
jobs1=$(answered)
read -r user1 system1 < <(ticks)
hz=$(getconf CLK_TCK)
python3 - "$jobs0" "$jobs1" "$user0" "$user1" "$system0" "$system1" "$hz" "$CHUNKS" "$MODE" <<'PY'
import sys
j0, j1, u0, u1, s0, s1, hz, chunks = (float(x) for x in sys.argv[1:9])
mode = sys.argv[9]
jobs = j1 - j0
user, system = (u1 - u0) / hz, (s1 - s0) / hz
print(f"{mode}: {jobs:.0f} jobs answered in the window; worker CPU {user + system:.2f} s (user {user:.2f}, system {system:.2f})")
if jobs > 0:
    per_job = (user + system) * 1000 / jobs
    line = f"{mode}: {per_job:.3f} ms CPU per job (user {user * 1000 / jobs:.3f}, system {system * 1000 / jobs:.3f})"
    if mode == "stream":
        line += f", {per_job * 1000 / chunks:.1f} µs per event"
    print(line)
PY
echo "CPU ticks per thread (user system), whole run:"
for task in /proc/"$worker"/task/*; do
    printf '  %s %s\n' "$(tr ' ' _ <"$task/comm")" "$(awk '{print $14, $15}' "$task/stat")"
done
