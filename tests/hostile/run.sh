#!/bin/sh
# tests/hostile/run.sh — the hostile-client load test (issue 5 item 2): starts `imagine serve` on the tiny
# golden model (loopback, --port 0, an API key, --max-queue 2 so that floods get 429), runs
# build/hostile against it, checks the server is still alive, stops it with SIGTERM and checks that it
# exits 0 (under ASan/LSan a leak or error makes that fail too), then prints the summary.
#
#   tests/hostile/run.sh            build/imagine, the full run (>= 10 000 requests, about 60-90 s)
#   tests/hostile/run.sh --asan     build-debug/imagine (make hostile-asan builds it), fewer generations,
#                                   no RSS bound (ASan's quarantine and shadow memory grow by design)
#
# Environment: IMAGINE_BIN, HOSTILE_BIN (default build/hostile), IMAGINE_SHARED (default ../shared),
# HOSTILE_ARGS (more arguments for hostile main), HOSTILE_TIMEOUT (seconds, default 150; 600 with --asan),
# HOSTILE_KEEP=1 keeps the temporary folder (server log, data dir).
set -u
cd "$(dirname "$0")/../.." || exit 2

asan=0
[ "${1:-}" = "--asan" ] && asan=1
if [ $asan = 1 ]; then
    BIN=${IMAGINE_BIN:-build-debug/imagine}
    TIMEOUT=${HOSTILE_TIMEOUT:-600}
    DEFAULT_ARGS="--gens 60 --deadline 240 --rss-tol 100"
    # LSan at exit; UBSan already aborts (-fno-sanitize-recover); SIGXFSZ/SIGPIPE stay ignored by the server
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
else
    BIN=${IMAGINE_BIN:-build/imagine}
    TIMEOUT=${HOSTILE_TIMEOUT:-150}
    DEFAULT_ARGS=""
fi
HOSTILE=${HOSTILE_BIN:-build/hostile}
SHARED=${IMAGINE_SHARED:-../shared}
MODEL=$SHARED/golden/sd1-tiny/model
for f in "$BIN" "$HOSTILE"; do
    [ -x "$f" ] || { echo "run.sh: $f is missing (make hostile builds it)"; exit 2; }
done
[ -d "$MODEL" ] || { echo "run.sh: no tiny model at $MODEL (set IMAGINE_SHARED)"; exit 2; }

tmp=$(mktemp -d /tmp/imagine-hostile.XXXXXX)
spid=
cleanup() {
    [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null && kill -KILL "$spid" 2>/dev/null
    if [ "${HOSTILE_KEEP:-0}" = 1 ]; then echo "run.sh: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

KEY="hostile-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
t0=$(date +%s)
"$BIN" serve --model "tiny=$MODEL" --host 127.0.0.1 --port 0 --port-file "$tmp/port" --api-key "$KEY" \
    --data-dir "$tmp/data" --max-queue 2 --timeout 120 >"$tmp/server.log" 2>&1 &
spid=$!
i=0
while [ ! -s "$tmp/port" ]; do
    if ! kill -0 "$spid" 2>/dev/null; then
        echo "run.sh: the server exited before listening:"; tail -20 "$tmp/server.log"; exit 1
    fi
    i=$((i + 1))
    [ $i -gt 1200 ] && { echo "run.sh: the server did not listen within 120 s"; tail -20 "$tmp/server.log"; exit 1; }
    sleep 0.1
done
port=$(cat "$tmp/port")
echo "run.sh: $BIN serving tiny on 127.0.0.1:$port (pid $spid), started in $(( $(date +%s) - t0 )) s"

fail=0
# shellcheck disable=SC2086
timeout "$TIMEOUT" "$HOSTILE" main 127.0.0.1 "$port" "$spid" --key "$KEY" $DEFAULT_ARGS ${HOSTILE_ARGS:-} \
    >"$tmp/hostile.out" 2>"$tmp/hostile.err"
hrc=$?
cat "$tmp/hostile.out"
if [ -s "$tmp/hostile.err" ]; then
    echo "-- hostile's notes (first 40 problems and the idle-connection timings):"
    head -60 "$tmp/hostile.err"
fi
if [ $hrc = 124 ]; then echo "run.sh: FAIL hostile ran past ${TIMEOUT} s"; fail=1
elif [ $hrc != 0 ]; then echo "run.sh: FAIL hostile exited $hrc"; fail=1; fi

if kill -0 "$spid" 2>/dev/null; then
    echo "run.sh: ok   the server process is alive after the run"
else
    wait "$spid"; rc=$?
    echo "run.sh: FAIL the server process died during the run (exit status $rc)"; spid=; fail=1
fi

if [ -n "$spid" ]; then
    kill -TERM "$spid"
    ts=$(date +%s)
    # wait up to 60 s (the running generation finishes, open responses get 10 s to drain)
    ( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep 60 & sp=$!; wait $sp; kill -KILL "$spid" ) >/dev/null 2>&1 &
    watchdog=$!
    wait "$spid"; rc=$?
    kill "$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
    spid=
    if [ $rc = 0 ]; then echo "run.sh: ok   SIGTERM: exit status 0 after $(( $(date +%s) - ts )) s"
    else echo "run.sh: FAIL SIGTERM: exit status $rc (137: killed after 60 s; 23: LeakSanitizer)"; fail=1; fi
fi

# sanitizer reports, crashes and assertion failures in the server's log
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: |Assertion|Segmentation|double free|corrupted' "$tmp/server.log"; then
    echo "run.sh: FAIL the server log holds sanitizer or crash reports:"
    grep -nE 'ERROR: |runtime error:|SUMMARY: |Assertion|Segmentation|double free|corrupted|^    #[0-9]+ ' "$tmp/server.log" | head -80
    fail=1
fi
lines=$(wc -l <"$tmp/server.log")
echo "run.sh: server log: $lines lines; by route and status:"
grep -oE '^imagine: (generations|models|files|health|metrics|other) [0-9]+' "$tmp/server.log" | sort | uniq -c | sort -rn | head -20
echo "run.sh: libmicrohttpd messages: $(grep -c '^imagine: http:' "$tmp/server.log")"
grep '^imagine: http:' "$tmp/server.log" | sed 's/[0-9]\{2,\}/N/g' | sort | uniq -c | sort -rn | head -8
echo "run.sh: total $(( $(date +%s) - t0 )) s"
if [ $fail = 0 ]; then echo "run.sh: PASSED"; else echo "run.sh: FAILED"; fi
exit $fail
