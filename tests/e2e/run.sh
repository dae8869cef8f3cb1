#!/usr/bin/env bash
# run.sh — end-to-end tests of `imagine serve` (issue 4 item 5): real servers on free loopback ports
# with the tiny golden models, driven by curl (cases.sh) and by the official OpenAI and Gradient
# clients from npm (node --test *.test.mjs). Builds nothing.
#
#   IMAGINE_BIN=build/imagine IMAGINE_SHARED=../shared tests/e2e/run.sh     (make e2e does this)
#
# Environment: IMAGINE_BIN (default <repo>/build/imagine; a relative path is taken from the current
# folder), IMAGINE_SHARED (default <repo>/../shared), IMAGINE_E2E_KEEP=1 keeps the temp folder (logs,
# every response) even when all passed, IMAGINE_E2E_VERBOSE=1 prints every curl case that passed,
# IMAGINE_E2E_NO_NODE=1 runs the curl part only (no npm packages needed),
# IMAGINE_E2E_THREADS (default 1: OpenMP threads of each server; the tiny models gain nothing from
# more, and on a shared 2-core machine OpenMP's spinning threads make timings swing 10x).
#
# Servers (both --port 0 --port-file, so no port is ever guessed):
#   A  sd1=sd1-tiny (first, so the OpenAI names alias it), sd2=sd2-tiny, --alias tiny=sd2; no key
#   B  sd1-tiny; --api-key sk-e2e-main and --api-keys-file; --rate-limit 3; --max-queue 1;
#      --moderation-file; --public-url; --no-revise-prompt
# Order: A's curl table and its /metrics counts, B's table (auth, moderation file, rate limit), B's
# queue-full case, the node tests (A, and B for keys), B's SIGTERM case (running job delivered, queued
# streaming job refused with an error event, new requests 503, exit 0), A's SIGTERM (exit 0), a check
# of every JSON/SSE body curl saw. Prints "e2e: N passed, N failed"; exits 1 on any failure.
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${IMAGINE_BIN:-$ROOT/build/imagine}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
SHARED=${IMAGINE_SHARED:-$ROOT/../shared}
case $SHARED in /*) ;; *) SHARED=$PWD/$SHARED ;; esac
SD1=$SHARED/golden/sd1-tiny/model
SD2=$SHARED/golden/sd2-tiny/model
START=$(date +%s)

PASS=0 FAIL=0 NCASE=0 LAST= FAILED=()
pass() { PASS=$((PASS + 1)); }
fail() {
    FAIL=$((FAIL + 1))
    FAILED+=("$1")
    printf 'FAIL %s: %s\n' "$1" "$2"
}
die() {
    echo "e2e: $*" >&2
    exit 2
}

[ -x "$BIN" ] || die "no binary at $BIN (build it first: make)"
[ -f "$SD1/model_index.json" ] && [ -f "$SD2/model_index.json" ] || die "no tiny models under $SHARED/golden (set IMAGINE_SHARED)"
command -v curl >/dev/null || die "curl is missing (apt-get install curl)"
NODE=${IMAGINE_E2E_NO_NODE:-0}
if [ "$NODE" != 1 ]; then
    command -v node >/dev/null || die "node is missing (apt-get install nodejs npm), or set IMAGINE_E2E_NO_NODE=1"
    [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ] || die "node $(node -v) is too old: 18 or newer"
    [ -f "$HERE/node_modules/openai/package.json" ] && [ -f "$HERE/node_modules/@digitalocean/gradient/package.json" ] ||
        die "tests/e2e/node_modules is missing: run 'make e2e', or 'npm ci' in tests/e2e"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/imagine-e2e.XXXXXX") || die "mktemp failed"
mkdir -p "$T/cases" "$T/bodies"
: >"$T/manifest"
A_PID= B_PID= BG=()

cleanup() {
    local p
    for p in "${BG[@]}" $A_PID $B_PID; do
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$FAIL" = 0 ] && [ "${IMAGINE_E2E_KEEP:-0}" != 1 ]; then rm -rf "$T"; else echo "e2e: logs and responses kept in $T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers --------------------------------------------------------------------------------------------

# start NAME ARGS...: starts a server (pid in NAME_PID), log in $T/NAME.log
start() {
    local name=$1
    shift
    env -u IMAGINE_API_KEY OMP_NUM_THREADS="${IMAGINE_E2E_THREADS:-1}" \
        "$BIN" serve --host 127.0.0.1 --port 0 --port-file "$T/$name.port" --data-dir "$T/$name-data" "$@" \
        </dev/null >"$T/$name.out" 2>"$T/$name.log" &
    eval "${name}_PID=$!"
}

# port NAME: waits for the port file (written once the server listens, after warm-up); prints the port
port() {
    local name=$1 pid i p
    eval "pid=\$${name}_PID"
    for i in $(seq 1 2400); do # 120 s
        if [ -s "$T/$name.port" ]; then
            p=$(cat "$T/$name.port")
            case $p in '' | *[!0-9]*) ;; *) [ "$(wc -c <"$T/$name.port")" -gt "${#p}" ] && echo "$p" && return 0 ;; esac
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "e2e: server $name did not start; its log:" >&2
    tail -20 "$T/$name.log" >&2
    return 1
}

# stop NAME: SIGTERM, then waits up to 60 s for the exit; "exit 0" is a case of its own
stop() {
    local name=$1 pid i rc
    eval "pid=\$${name}_PID"
    kill -TERM "$pid" 2>/dev/null
    stopped "$name"
}
stopped() {
    local name=$1 pid i rc
    eval "pid=\$${name}_PID"
    for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        fail "server $name exits on SIGTERM" "still running 60 s after SIGTERM"
        return
    fi
    wait "$pid"
    rc=$?
    eval "${name}_PID="
    if [ "$rc" = 0 ]; then pass; else fail "server $name exits 0 on SIGTERM" "exit status $rc; log: $(tail -3 "$T/$name.log")"; fi
}

# ---- one curl case ----------------------------------------------------------------------------------------

# route_of URL: the route label /metrics counts it under (src/server/http.c route_of)
route_of() {
    local p=${1#http://}
    p=/${p#*/}
    p=${p%%\?*}
    case $p in
    /v1/images/generations | /images/generations) echo generations ;;
    /v1/images/edits | /images/edits) echo edits ;;
    /v1/images/variations | /images/variations) echo variations ;;
    /v1/models | /models) echo models ;;
    /v1/models/?*) echo models ;;
    /v1/images/files/*) echo files ;;
    /health) echo health ;;
    /metrics) echo metrics ;;
    / | /playground | /playground.js | /playground.css | /favicon.svg) echo playground ;;
    *) echo other ;;
    esac
}

# req ID CURL_ARGS...: runs curl, response in $T/cases/ID.{body,head}, "status uploaded" in ID.out
req() {
    local f=$T/cases/$1
    shift
    curl -sS --noproxy '*' --max-time 120 -o "$f.body" -D "$f.head" -w '%{http_code} %{size_upload}' "$@" \
        >"$f.out" 2>"$f.err"
    echo $? >"$f.rc"
}

# verdict ID NAME WANT CHECK...: the checks of cases.sh's t on a finished req
verdict() {
    local id=$1 name=$2 want=$3
    shift 3
    local f=$T/cases/$id c out code up rc why=
    rc=$(cat "$f.rc" 2>/dev/null || echo '?')
    out=$(cat "$f.out" 2>/dev/null)
    code=${out%% *} up=${out#* }
    [ "$rc" = 0 ] || why="curl exit $rc: $(head -c 300 "$f.err")"
    [ -n "$why" ] || [ "$code" = "$want" ] || why="status $code, want $want; body: $(head -c 300 "$f.body")"
    for c in "$@"; do
        [ -z "$why" ] || break
        case $c in
        H:*) grep -qiF -- "${c#H:}" "$f.head" || why="no header '${c#H:}' in: $(tr -d '\r' <"$f.head" | tr '\n' '|')" ;;
        U:*) [ "$up" = "${c#U:}" ] || why="curl uploaded $up bytes, want ${c#U:}" ;;
        '!'*) ! grep -qF -- "${c#!}" "$f.body" || why="the body has '${c#!}': $(head -c 300 "$f.body")" ;;
        *) grep -qF -- "$c" "$f.body" || why="the body lacks '$c': $(head -c 300 "$f.body")" ;;
        esac
    done
    if [ -z "$why" ]; then
        pass
        [ "${IMAGINE_E2E_VERBOSE:-0}" != 1 ] || echo "ok $name"
    else fail "$name" "$why"; fi
}

# t NAME STATUS [CHECK ...] -- CURL_ARGS... (see cases.sh)
t() {
    local name=$1 want=$2
    shift 2
    local checks=() a url= flags=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        checks+=("$1")
        shift
    done
    shift
    for a in "$@"; do
        case $a in http://*) url=$a ;; -I) flags=head ;; esac
    done
    NCASE=$((NCASE + 1))
    LAST=$T/cases/$NCASE
    req "$NCASE" "$@"
    verdict "$NCASE" "$name" "$want" "${checks[@]}"
    echo "$(route_of "$url") ${SERVER:-?} $(cut -d' ' -f1 "$LAST.out")" >>"$T/routes"
    printf '%s\t%s\t%s\t%s\n' "$LAST" "$(cut -d' ' -f1 "$LAST.out")" "$name" "$flags" >>"$T/manifest"
}

# body NAME: a request body file, made once; prints its path
body() {
    local f=$T/bodies/$1
    if [ ! -f "$f" ]; then
        case $1 in
        long_prompt) { printf '{"prompt":"'; head -c 32001 /dev/zero | tr '\0' a; printf '"}'; } >"$f" ;;
        bad_utf8) printf '{"prompt":"a \377 cat"}' >"$f" ;;
        overlong_utf8) printf '{"prompt":"a \300\257 cat"}' >"$f" ;;
        surrogate_utf8) printf '{"prompt":"a \355\240\200 cat"}' >"$f" ;;
        truncated_utf8) printf '{"prompt":"a \342\202"}' >"$f" ;;
        bad_utf8_key) printf '{"prompt":"x","\377":1}' >"$f" ;;
        bad_utf8_token) printf '{\377"prompt":"x"}' >"$f" ;;
        bad_utf8_after) printf '{"prompt":"x"}\377' >"$f" ;;
        exact_1mib | over_1mib)
            local head='{"prompt":"a cat","size":"64x64","quality":"low"}' n=1048576
            [ "$1" = over_1mib ] && n=1048577
            { printf '%s' "$head"; head -c $((n - ${#head})) /dev/zero | tr '\0' ' '; } >"$f"
            ;;
        *) die "no body named $1" ;;
        esac
    fi
    echo "$f"
}

# wait_until DESCRIPTION COMMAND...: polls COMMAND (every 50 ms, 30 s at most)
wait_until() {
    local what=$1 i
    shift
    for i in $(seq 1 600); do
        "$@" && return 0
        sleep 0.05
    done
    fail "$what" "not within 30 s"
    return 1
}
jobs_started() { [ "$(grep -c '^imagine: job ' "$T/$1.log")" -ge "$2" ]; }
queue_depth_is() { curl -s --noproxy '*' "$2/health" | grep -qF "\"queue_depth\":$3"; }
health_stopping() { curl -s --noproxy '*' "$1/health" | grep -qF '"status":"stopping"'; }

# ---- run ------------------------------------------------------------------------------------------------

printf 'sk-e2e-file\n# sk-e2e-commented\n\n  sk-e2e-rate  \nsk-e2e-mod\nsk-e2e-queue\nsk-e2e-term\nsk-e2e-openai\nsk-e2e-gradient\n' >"$T/keys"
printf '# e2e moderation list\noctopus\nlow: kraken\ngiant squid\n' >"$T/moderation"

echo "e2e: $BIN, models from $SHARED/golden, temp folder $T"
start A --model "sd1=$SD1" --model "sd2=$SD2" --alias tiny=sd2
start B --model "sd1=$SD1" --api-key sk-e2e-main --api-keys-file "$T/keys" --rate-limit 3 --max-queue 1 \
    --moderation-file "$T/moderation" --public-url https://images.example.test/base/ --no-revise-prompt
PA=$(port A) || exit 1
PB=$(port B) || exit 1
A=http://127.0.0.1:$PA
B=http://127.0.0.1:$PB
echo "e2e: server A on $A, server B on $B ($(($(date +%s) - START)) s to start both)"

. "$HERE/cases.sh"

SERVER=A
cases_main
echo "e2e: server A curl table: $NCASE cases, $FAIL failed so far"

# /metrics counts every answer above by route and status (the /metrics route itself is left out: each
# look at it counts too). Answers are counted when the connection's request completes, so poll.
expected=$(awk '$2 == "A" && $1 != "metrics" { print $1, $3 }' "$T/routes" | sort | uniq -c | awk '{ print $2, $3, $1 }')
metrics_match() {
    curl -s --noproxy '*' "$A/metrics" >"$T/metrics.A"
    actual=$(sed -n 's/^imagine_requests_total{route="\([a-z]*\)",status="\([0-9]*\)"} \([0-9]*\)$/\1 \2 \3/p' "$T/metrics.A" |
        grep -v '^metrics ' | sort)
    [ "$actual" = "$(echo "$expected" | sort)" ]
}
if wait_until "server A /metrics counts" metrics_match; then pass; else
    echo "  expected (route status count):"; echo "$expected" | sed 's/^/    /'
    echo "  /metrics:"; echo "$actual" | sed 's/^/    /'
fi
grep -q '^imagine_queue_depth 0$' "$T/metrics.A" && pass || fail "imagine_queue_depth 0 when idle" "$(grep queue_depth "$T/metrics.A")"

SERVER=B
n0=$NCASE
cases_auth
echo "e2e: server B curl table: $((NCASE - n0)) cases, $FAIL failed so far"

# ---- queue full (B, --max-queue 1): one running, one waiting, the third refused with Retry-After ----
J='Content-Type: application/json'
SLOW='{"prompt":"a slow job","n":10,"size":"1024x1024","quality":"low","response_format":"url"}'
QUICK='{"prompt":"a quick job","size":"64x64","quality":"low"}'
KQ='Authorization: Bearer sk-e2e-queue'
started=$(grep -c '^imagine: job ' "$T/B.log")
req q1 "$B/v1/images/generations" -H "$J" -H "$KQ" -d "$SLOW" &
BG+=($!)
if wait_until "queue: the slow job runs" jobs_started B $((started + 1)); then
    req q2 "$B/v1/images/generations" -H "$J" -H "$KQ" -d "$QUICK" &
    BG+=($!)
    wait_until "queue: the second job waits" queue_depth_is B "$B" 2 &&
        mapfile -t E < <(err queue_full -) &&
        t 'queue full → 429 queue_full with Retry-After' 429 "${E[@]}" '"type":"requests"' \
            'H:retry-after: ' -- "$B/v1/images/generations" -H "$J" -H "$KQ" -d "$QUICK"
fi
wait "${BG[@]}" 2>/dev/null
BG=()
verdict q1 'queue: the running job completes (n 10, url)' 200 '"url":"https://images.example.test/base/v1/images/files/'
[ "$(grep -o '"url":' "$T/cases/q1.body" | wc -l)" = 10 ] && pass || fail 'queue: 10 urls' "$(head -c 200 "$T/cases/q1.body")"
verdict q2 'queue: the waiting job completes' 200 '"b64_json":"'
printf '%s\t%s\t%s\t\n' "$T/cases/q1" 200 'queue: slow job' "$T/cases/q2" 200 'queue: quick job' >>"$T/manifest"

# ---- node: the official clients, and the fetch-level API tests ----
if [ "$NODE" != 1 ]; then
    echo "e2e: node $(node -v) --test (api, openai, gradient)"
    # in the background + wait, so that an INT/TERM to this script is handled at once (bash runs a
    # trap only after the foreground command ends)
    (cd "$HERE" && exec env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u DIGITALOCEAN_ACCESS_TOKEN -u GRADIENT_MODEL_ACCESS_KEY \
        -u GRADIENT_BASE_URL -u GRADIENT_AGENT_ACCESS_KEY -u NODE_OPTIONS \
        IMAGINE_E2E_URL="$A" IMAGINE_E2E_AUTH_URL="$B" IMAGINE_E2E_KEY_OPENAI=sk-e2e-openai \
        IMAGINE_E2E_KEY_GRADIENT=sk-e2e-gradient \
        node --test --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$T/node.tap" \
        api.test.mjs openai.test.mjs gradient.test.mjs edits.test.mjs) &
    BG+=($!)
    wait $!
    node_rc=$?
    BG=()
    np=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$T/node.tap" | tail -1)
    nf=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$T/node.tap" | tail -1)
    PASS=$((PASS + ${np:-0}))
    FAIL=$((FAIL + ${nf:-0}))
    [ "${nf:-0}" = 0 ] || FAILED+=("node: $nf test(s), see above")
    if [ -z "$np" ] || { [ "$node_rc" != 0 ] && [ "${nf:-0}" = 0 ]; }; then
        fail "node --test" "exit status $node_rc with no failed test counted"
    fi
fi

# ---- SIGTERM on B: the running job is delivered, the queued (streaming) one gets an error event,
# new requests get 503 while it drains, and the server exits 0 ----
KT='Authorization: Bearer sk-e2e-term'
started=$(grep -c '^imagine: job ' "$T/B.log")
req s1 "$B/v1/images/generations" -H "$J" -H "$KT" -d "$SLOW" &
BG+=($!)
if wait_until "SIGTERM: the slow job runs" jobs_started B $((started + 1)); then
    if [ "$NODE" != 1 ]; then
        (cd "$HERE" && IMAGINE_E2E_AUTH_URL="$B" IMAGINE_E2E_KEY=sk-e2e-term node shutdown_stream.mjs >"$T/shutdown_stream.out" 2>&1
            echo $? >"$T/shutdown_stream.rc") &
    else
        req s2 -N "$B/v1/images/generations" -H "$J" -H "$KT" -d '{"prompt":"queued","stream":true,"size":"64x64"}' &
    fi
    BG+=($!)
    if wait_until "SIGTERM: the streaming job waits" queue_depth_is B "$B" 2; then
        kill -TERM "$B_PID"
        wait_until "SIGTERM: /health says stopping" health_stopping "$B" && pass
        mapfile -t E < <(err server_shutting_down -)
        t 'SIGTERM: a new request → 503 server_shutting_down' 503 "${E[@]}" \
            'H:retry-after: 5' -- "$B/v1/images/generations" -H "$J" -H "$KT" -d "$QUICK"
    fi
fi
wait "${BG[@]}" 2>/dev/null
BG=()
stopped B
verdict s1 'SIGTERM: the running job is delivered whole' 200 '"url":"https://images.example.test/base/v1/images/files/'
[ "$(grep -o '"url":' "$T/cases/s1.body" | wc -l)" = 10 ] && pass || fail 'SIGTERM: 10 urls' "$(head -c 200 "$T/cases/s1.body")"
if [ "$NODE" != 1 ]; then
    if [ "$(cat "$T/shutdown_stream.rc" 2>/dev/null)" = 0 ]; then pass; else
        fail 'SIGTERM: the queued stream ends with an error event the SDK throws' "$(cat "$T/shutdown_stream.out" 2>/dev/null)"
    fi
else
    verdict s2 'SIGTERM: the queued stream ends with an error event' 200 'event: error' '"code":"server_shutting_down"'
fi
curl -s --noproxy '*' --max-time 5 -o /dev/null "$B/health"
[ $? = 7 ] && pass || fail 'SIGTERM: B no longer listens' "curl could still connect"

stop A

# ---- every body curl saw, and the servers' logs ----
if [ "$NODE" != 1 ]; then
    if node "$HERE/lib/check_bodies.mjs" "$T/manifest"; then pass; else fail "response bodies" "see above"; fi
fi
for s in A B; do
    if grep -E 'AddressSanitizer|LeakSanitizer|runtime error:|Assertion .* failed' "$T/$s.log" >/dev/null; then
        fail "server $s log is clean" "$(grep -E -m3 'Sanitizer|runtime error:|Assertion' "$T/$s.log")"
    else pass; fi
done

echo
echo "e2e: ${#FAILED[@]} failing group(s)$([ ${#FAILED[@]} -gt 0 ] && printf '\n  - %s' "${FAILED[@]}")"
echo "e2e: $(($(date +%s) - START)) s"
echo "e2e: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
