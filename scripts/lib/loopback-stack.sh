# Sourced by the scripts that run the release worker against a stack of its own (profile-worker.sh,
# measure-worker.sh): Tansu and the emulator on 127.0.0.1 at free ports, a backlog of jobs, and whatever the script
# starts killed when it exits (add its pids to `pids`).
#
# start_stack OUT BIN CHUNKS CHUNK_DELAY_MS   starts both; sets broker_port and emulator_port
# submit_jobs OUT BIN TOPIC COUNT STREAM PROMPT_BYTES
#                                             produces COUNT jobs (STREAM: true|false) of PROMPT_BYTES-byte prompts

# shellcheck source=scripts/lib/net.sh
. "$(dirname "${BASH_SOURCE[0]}")/net.sh"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

start_stack() {
    local out=$1 bin=$2 chunks=$3 delay=$4
    broker_port=$(free_port)
    /usr/local/bin/tansu broker --listener-url "tcp://127.0.0.1:$broker_port" \
        --advertised-listener-url "tcp://127.0.0.1:$broker_port" --storage-engine memory://tansu/ >"$out/broker.log" 2>&1 &
    pids+=($!)
    emulator_port=$(free_port)
    "$bin" emulator --port "$emulator_port" --chunk-count "$chunks" --chunk-delay-ms "$delay" >"$out/emulator.log" 2>&1 &
    pids+=($!)
    sleep 2
}

submit_jobs() {
    local out=$1 bin=$2 topic=$3 count=$4 stream=$5 prompt_bytes=$6
    python3 - "$count" "$stream" "$prompt_bytes" >"$out/jobs-$count.jsonl" <<'PY'
import json, sys
count, stream, prompt = int(sys.argv[1]), sys.argv[2] == "true", "word " * (int(sys.argv[3]) // 5)
for i in range(count):
    print(json.dumps({"id": f"p-{i}", "stream": stream, "messages": [{"role": "user", "content": f"{i} {prompt}"}]}))
PY
    # A manifest of its own: submit skips the jobs a manifest already names.
    "$bin" submit --bootstrap-servers "127.0.0.1:$broker_port" --topic "$topic" --manifest "$out/manifest-$topic.jsonl" \
        "$out/jobs-$count.jsonl" >/dev/null
}
