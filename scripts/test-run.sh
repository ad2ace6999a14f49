#!/usr/bin/env bash
# One `swift test` run with a bound on its time: `scripts/test-run.sh SECONDS swift test ...`.
#
# A run that hangs (a test waiting for something that never comes) would otherwise hold CI until its own limit and
# print nothing useful: the test process's buffered output is lost when it is killed. Here the output is line
# buffered, and past the bound the script prints which tests started and never ended and every thread's stack of the
# test process, then stops the run and fails.
set -uo pipefail

limit=$1
shift
log=$(mktemp "${TMPDIR:-/tmp}/swift-test-XXXXXX.log")
trap 'rm -f "$log"' EXIT

# Its own process group, so that the test process and whatever it started can be stopped together.
setsid stdbuf -oL -eL "$@" > >(tee "$log") 2>&1 &
run=$!
deadline=$((SECONDS + limit))
while kill -0 "$run" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
        echo "test-run: '$*' did not finish within ${limit} s (it normally takes a small part of that)" >&2
        echo "test-run: tests that started and did not end:" >&2
        # Swift Testing prints "◇ Test name() started." and then "✔ Test name() passed ..." or "✘ Test name() ...".
        sed -nE 's/^.* Test (.*) started\.$/\1/p' "$log" | grep -vE '^(case passing |run$)' | sort -u >"$log.started"
        sed -nE 's/^.* Test (.*) (passed|failed|skipped)( after.*|\.)?$/\1/p' "$log" |
            sed -E 's/ with [0-9]+ test cases?$//' | sort -u >"$log.ended"
        comm -23 "$log.started" "$log.ended" | sed 's/^/  /' >&2
        rm -f "$log.started" "$log.ended"
        for pid in $(pgrep -g "$run"); do
            echo "test-run: process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)" >&2
            if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *.xctest ]] && command -v gdb >/dev/null; then
                timeout 120 gdb -p "$pid" -batch -nx -ex 'set pagination off' -ex 'thread apply all bt 30' 2>&1 |
                    grep -E '^(Thread|#)' >&2
            fi
        done
        kill -KILL -- "-$run" 2>/dev/null
        wait "$run" 2>/dev/null
        exit 124
    fi
    sleep 1
done
wait "$run"
