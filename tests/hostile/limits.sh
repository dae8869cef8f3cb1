#!/bin/sh
# tests/hostile/limits.sh — the server's limits (issue 5 item 4), with figures. One server at a time on
# the tiny golden model, loopback, --port 0:
#   1. body size (1 MiB: 400 at the limit, 413 one byte past), prompt length (32000 code points served,
#      32001 a 400, ASCII and 4-byte emoji), n x pixels (n=10 at 2048x2048: time, response size, RSS)
#   2. --max-connections 4: four held connections, then a fifth (refused or answered promptly?)
#   3. --rate-limit 6 with two keys: key A's burst, then 429 rate_limit_exceeded with Retry-After,
#      key B unaffected, key A served again after Retry-After
#   4. --max-body-memory 16 (MiB of request bodies buffered at once, all connections): a 24 MiB edit
#      upload is a 503 server_busy with Retry-After (not a 413: it is within the per-request limit), the
#      budget is given back (a small request right after is served), and the server stays up
# Environment: IMAGINE_BIN, HOSTILE_BIN, IMAGINE_SHARED, HOSTILE_KEEP=1.
set -u
cd "$(dirname "$0")/../.." || exit 2
BIN=${IMAGINE_BIN:-build/imagine}
HOSTILE=${HOSTILE_BIN:-build/hostile}
SHARED=${IMAGINE_SHARED:-../shared}
MODEL=$SHARED/golden/sd1-tiny/model
for f in "$BIN" "$HOSTILE"; do [ -x "$f" ] || { echo "limits.sh: $f is missing (make hostile)"; exit 2; }; done
[ -d "$MODEL" ] || { echo "limits.sh: no tiny model at $MODEL"; exit 2; }

tmp=$(mktemp -d /tmp/imagine-limits.XXXXXX)
spid=
cleanup() {
    [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
    if [ "${HOSTILE_KEEP:-0}" = 1 ]; then echo "limits.sh: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fails=0

start_server() { # start_server NAME serve-args...
    name=$1
    shift
    rm -f "$tmp/port"
    "$BIN" serve --model "tiny=$MODEL" --host 127.0.0.1 --port 0 --port-file "$tmp/port" --data-dir "$tmp/data" "$@" \
        >"$tmp/$name.log" 2>&1 &
    spid=$!
    i=0
    while [ ! -s "$tmp/port" ]; do
        kill -0 "$spid" 2>/dev/null || { echo "limits.sh: server $name exited before listening"; tail -5 "$tmp/$name.log"; spid=; return 1; }
        i=$((i + 1)); [ $i -gt 1200 ] && { echo "limits.sh: server $name did not listen in 120 s"; return 1; }
        sleep 0.1
    done
    port=$(cat "$tmp/port")
}

stop_server() { # SIGTERM; counts a failure unless it exits 0
    [ -z "$spid" ] && return
    kill -TERM "$spid" 2>/dev/null
    ( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep 60 & sp=$!; wait $sp; kill -KILL "$spid" ) >/dev/null 2>&1 &
    w=$!
    wait "$spid"; rc=$?
    kill "$w" 2>/dev/null; wait "$w" 2>/dev/null
    spid=
    if [ $rc = 0 ]; then echo "  ok   SIGTERM: exit status 0"; else echo "  FAIL SIGTERM: exit status $rc"; fails=$((fails + 1)); fi
}

t0=$(date +%s)
KEY="limits-$$"
start_server sizes --api-key "$KEY" && {
    "$HOSTILE" limits 127.0.0.1 "$port" "$spid" --key "$KEY" || fails=$((fails + 1))
    stop_server
}

start_server conns --max-connections 4 && {
    "$HOSTILE" connlimit 127.0.0.1 "$port" "$spid" 4 || fails=$((fails + 1))
    stop_server
}

printf 'rate-key-a-%s\nrate-key-b-%s\n' $$ $$ >"$tmp/keys"
start_server rate --api-keys-file "$tmp/keys" --rate-limit 6 && {
    "$HOSTILE" ratelimit 127.0.0.1 "$port" "$spid" 6 --key "rate-key-a-$$" --key2 "rate-key-b-$$" || fails=$((fails + 1))
    stop_server
}

start_server bodymem --max-body-memory 16 && {
    head -c 25165824 /dev/zero > "$tmp/big.bin"
    code=$(curl -s -o "$tmp/bodymem.json" -D "$tmp/bodymem.h" -w '%{http_code}' --max-time 60 \
        -F "prompt=x" -F "image=@$tmp/big.bin;type=image/png" "http://127.0.0.1:$port/v1/images/edits")
    if [ "$code" = 503 ] && grep -q '"server_busy"' "$tmp/bodymem.json" && grep -qi '^retry-after:' "$tmp/bodymem.h"; then
        echo "  ok   --max-body-memory 16: a 24 MiB upload answered 503 server_busy with Retry-After"
    else
        echo "  FAIL --max-body-memory 16: a 24 MiB upload answered $code: $(head -c 300 "$tmp/bodymem.json")"; fails=$((fails + 1))
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
        -d '{"prompt":"x","size":"256x256"}' "http://127.0.0.1:$port/v1/images/generations")
    if [ "$code" = 200 ]; then echo "  ok   the budget came back: a small request after it served"
    else echo "  FAIL after the refused upload a small request answered $code"; fails=$((fails + 1)); fi
    stop_server
}

echo "limits.sh: $(( $(date +%s) - t0 )) s"
if [ $fails = 0 ]; then echo "limits.sh: PASSED"; else echo "limits.sh: FAILED ($fails)"; fi
[ $fails = 0 ]
