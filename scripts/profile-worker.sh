#!/usr/bin/env bash
# Counts the worker's instructions per job with callgrind, which repeats exactly for the same binary and input on a
# noisy machine (issue 17). Two runs of the release worker under `valgrind --tool=callgrind` against Tansu and the
# emulator (both on 127.0.0.1, both outside valgrind): JOBS_SMALL jobs, then JOBS_LARGE; the difference divided by
# the difference in jobs is the marginal cost of one job (start-up, the group join and shutdown cancel out).
#
#   scripts/profile-worker.sh [stream|plain]       (default: stream)
#
# Environment: BIN (default .build/release/gigachat-worker), JOBS_SMALL (50), JOBS_LARGE (250), CHUNKS (170 events
# per streamed answer), CHUNK_DELAY_MS (0), CONCURRENCY (64), PROMPT_BYTES (1024). Writes run/profile/: callgrind.out.<n>, logs.
# Read the costs with: callgrind_annotate --inclusive=yes run/profile/callgrind.out.250 | head -80
set -euo pipefail
shopt -s inherit_errexit
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-stream}
BIN=${BIN:-$ROOT/.build/release/gigachat-worker}
JOBS_SMALL=${JOBS_SMALL:-50}
JOBS_LARGE=${JOBS_LARGE:-250}
CHUNKS=${CHUNKS:-170}
# 0: the emulator writes a whole answer at once (reads carry many events); 20: each event is a read of its own.
CHUNK_DELAY_MS=${CHUNK_DELAY_MS:-0}
CONCURRENCY=${CONCURRENCY:-64}
PROMPT_BYTES=${PROMPT_BYTES:-1024}
OUT=$ROOT/run/profile
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "no worker binary at $BIN: swift build -c release --product gigachat-worker" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
# Valgrind 3.19 cannot read the DWARF 5 debug info of a host release build ("Possibly corrupted debuginfo file") and
# gives up; a copy without it runs, and keeps the symbol table, so callgrind_annotate still names functions.
PROFILED=$OUT/gigachat-worker-profiled
strip --strip-debug -o "$PROFILED" "$BIN"
export LD_LIBRARY_PATH=/usr/local/lib:${LD_LIBRARY_PATH:-}

# shellcheck source=scripts/lib/loopback-stack.sh
. "$ROOT/scripts/lib/loopback-stack.sh"
start_stack "$OUT" "$BIN" "$CHUNKS" "$CHUNK_DELAY_MS"
export GIGACHAT_BASE_URL="http://127.0.0.1:$emulator_port/api/v1"
export GIGACHAT_AUTH_URL="http://127.0.0.1:$emulator_port/api/v2/oauth"
export GIGACHAT_CREDENTIALS="ZGVtbzpkZW1vLXNlY3JldA=="
export GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$broker_port"
export GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT=6s
export GIGACHAT_WORKER_METRICS_PORT=0
export GIGACHAT_WORKER_CONCURRENCY=$CONCURRENCY

stream_flag=false
[ "$MODE" = stream ] && stream_flag=true

profile() { # jobs
    local jobs=$1 tag
    tag=$(date +%s%N | tail -c 7)
    local topics=(prof-$tag.jobs prof-$tag.partials prof-$tag.completions prof-$tag.jobs.DLT)
    "$BIN" topics create "${topics[@]}" --partitions 6 --bootstrap-servers "127.0.0.1:$broker_port" >/dev/null
    submit_jobs "$OUT" "$BIN" "${topics[0]}" "$jobs" "$stream_flag" "$PROMPT_BYTES"
    GIGACHAT_WORKER_TOPICS_JOBS=${topics[0]} GIGACHAT_WORKER_TOPICS_PARTIALS=${topics[1]} \
        GIGACHAT_WORKER_TOPICS_COMPLETIONS=${topics[2]} GIGACHAT_WORKER_TOPICS_DEAD_LETTER=${topics[3]} \
        GIGACHAT_WORKER_KAFKA_GROUP_ID=prof-$tag \
        valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.$jobs" "$PROFILED" run --log-format text \
        >"$OUT/worker-$jobs.log" 2>&1 &
    local worker=$!
    pids+=("$worker")
    "$BIN" collect --bootstrap-servers "127.0.0.1:$broker_port" --completions-topic "${topics[2]}" --manifest "$OUT/manifest-${topics[0]}.jsonl" \
        --output "$OUT/results-$jobs.jsonl" --timeout 600 >/dev/null &
    local collector=$!
    pids+=("$collector")
    # A worker that dies under valgrind ends the run at once instead of after collect's timeout.
    while kill -0 "$collector" 2>/dev/null; do
        if ! kill -0 "$worker" 2>/dev/null; then
            kill -KILL "$collector" 2>/dev/null || true
            echo "the worker under valgrind exited early; the end of $OUT/worker-$jobs.log:" >&2
            tail -5 "$OUT/worker-$jobs.log" >&2
            exit 1
        fi
        sleep 1
    done
    wait "$collector" || true
    kill -TERM "$worker"
    wait "$worker" || true
    local answered
    answered=$(grep -c '"status":"ok"' "$OUT/results-$jobs.jsonl" || true)
    [ "$answered" = "$jobs" ] || { echo "only $answered of $jobs jobs answered ok (see $OUT)" >&2; exit 1; }
    local total
    total=$(grep -E '^(summary|totals):' "$OUT/callgrind.out.$jobs" | tail -1 | awk '{print $2}')
    echo "$jobs" "$total"
}

small=$(profile "$JOBS_SMALL")
large=$(profile "$JOBS_LARGE")
read -r n1 i1 <<<"$small"
read -r n2 i2 <<<"$large"
echo "$MODE: $n1 jobs $i1 instructions, $n2 jobs $i2 instructions"
python3 -c "
per_job = ($i2 - $i1) / ($n2 - $n1)
print(f'$MODE: {per_job:,.0f} instructions per job' + (f', {per_job / $CHUNKS:,.0f} per streamed event' if '$MODE' == 'stream' else ''))
"
