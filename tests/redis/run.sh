#!/usr/bin/env bash
# run.sh — the shared Redis queue (issue 17): its own redis-server on a free loopback port, two fronts
# (--role api) and two workers (--role worker) on the tiny golden model, nginx (docs/nginx.conf) in front
# of the fronts. Builds nothing.
#
#   IMAGINE_BIN=build/imagine IMAGINE_SHARED=../shared tests/redis/run.sh     (make redis does this)
#
# Fronts: F1 and F2 (both name a model "ghost" no worker serves), F3 with --max-queue 1, FS (killed),
# FT (--timeout 2), FD1 and FD2 (--data-dir); workers of their own for the models slow, retry and disk.
# Cases, in order: requests spread over both fronts and nginx all answered; a streaming request with
# partial images through a front; url links from one front fetched from the other and through nginx
# (--store redis); /health and /metrics report the shared queue; a model no live worker has is a 503;
# the queue-full 429 from the shared depth; a worker SIGSTOPped while blocked on the stream, then
# SIGKILLed, every request still answered 200 (its job claimed after --claim-timeout 3); a front
# SIGKILLed mid-request: its worker gives the job up when the 15 s lease runs out, then serves a new
# request (sections 1-7 run meanwhile); --data-dir shared by two fronts (FD1, FD2; no --store redis);
# the retry limit: workers killed right after taking a job, three times, the fourth take-over answers
# 500 job_failed; a front with --timeout 2 answers 504 and the worker stops the job (a model drawn at
# 640x640, SLOW, makes jobs slow); Redis restarted mid-run: the request in flight gets 200 or a clear
# 503, new ones are answered once the processes reconnect.
# Every wait is bounded; every process is stopped at the end (trap).
# IMAGINE_REDIS_KEEP=1 keeps the temp folder. Needs redis-server, nginx (skipped when absent), curl,
# python3 (free ports).
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${IMAGINE_BIN:-$ROOT/build/imagine}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
SHARED=${IMAGINE_SHARED:-$ROOT/../shared}
case $SHARED in /*) ;; *) SHARED=$PWD/$SHARED ;; esac
SD1=$SHARED/golden/sd1-tiny/model
export OMP_NUM_THREADS=${IMAGINE_REDIS_THREADS:-1}

PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1: $2"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }
die() { echo "redis: $*" >&2; exit 2; }

[ -x "$BIN" ] || die "no binary at $BIN (make first)"
[ -f "$SD1/model_index.json" ] || die "no tiny model under $SHARED/golden"
command -v redis-server >/dev/null || die "redis-server is missing (apt-get install redis-server)"
command -v curl >/dev/null && command -v python3 >/dev/null || die "curl and python3 are needed"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || NGINX=

T=$(mktemp -d "${TMPDIR:-/tmp}/imagine-redis.XXXXXX") || die "mktemp failed"
PIDS=() REDIS_PID= NGINX_UP=
cleanup() {
    local p
    [ -n "$NGINX_UP" ] && "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -s stop 2>/dev/null
    for p in "${PIDS[@]}" $REDIS_PID; do
        kill -CONT "$p" 2>/dev/null
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}" $REDIS_PID; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$FAIL" = 0 ] && [ "${IMAGINE_REDIS_KEEP:-0}" != 1 ]; then rm -rf "$T"; else echo "redis: logs kept in $T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

RPORT=$(free_port)
start_redis() {
    redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no --dir "$T" >>"$T/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 50); do
        redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    die "redis-server did not start (see $T/redis.log)"
}
start_redis
Q=redis://127.0.0.1:$RPORT

# SLOW: the tiny model drawn at 640x640 (imagine.json "native"): 0.3-0.6 s a step on 2 cores, so a job of
# 150 steps outlasts a front's 15 s lease many times over (at 256x256 a step took 0.03 s on a quiet
# machine: the job ended before the lease and the give-up could not be seen)
SLOW=$T/slow-model
mkdir -p "$SLOW" && ln -s "$SD1"/* "$SLOW"/ && echo '{"native": 640}' >"$SLOW/imagine.json" || die "cannot make $SLOW"

# serve NAME ARGS...: a server on a free port (--port-file), its pid in NAME_PID, port in NAME_PORT.
# MODEL (default sd1=$SD1) replaces the model; DATA_DIR set: --data-dir DATA_DIR instead of --store redis.
serve() {
    local name=$1 store=(--store redis)
    shift
    [ -n "${DATA_DIR:-}" ] && store=(--data-dir "$DATA_DIR")
    "$BIN" serve --model "${MODEL:-sd1=$SD1}" --queue "$Q" "${store[@]}" --port 0 --port-file "$T/$name.port" \
        --no-warmup --timeout 60 "$@" >"$T/$name.log" 2>&1 &
    eval "${name}_PID=$!"
    PIDS+=($!)
}
wait_port() {
    for _ in $(seq 300); do
        [ -s "$T/$1.port" ] && { eval "$1_PORT=$(cat "$T/$1.port")"; return 0; }
        sleep 0.1
    done
    die "$1 did not start (see $T/$1.log)"
}
serve W1 --role worker --claim-timeout 3
serve W2 --role worker --claim-timeout 3
serve F1 --role api --model "ghost=$SD1" --model "slow=$SLOW" --model "retry=$SLOW"
serve F2 --role api --model "ghost=$SD1"
serve F3 --role api --max-queue 1
MODEL="slow=$SLOW" serve FS --role api                    # killed mid-request (sections 0, 8)
MODEL="retry=$SLOW" serve FT --role api --timeout 2       # the deadline across processes (section 10)
mkdir -p "$T/files"
MODEL="disk=$SD1" DATA_DIR="$T/files" serve FD1 --role api # two fronts on one --data-dir (section 11)
MODEL="disk=$SD1" DATA_DIR="$T/files" serve FD2 --role api
for n in W1 W2 F1 F2 F3 FS FT FD1 FD2; do wait_port $n; done
workers() { curl -s -m 5 "127.0.0.1:$1/health" | sed -n 's/.*"live_workers":\([0-9-]*\).*/\1/p'; }
for _ in $(seq 100); do [ "$(workers "$F1_PORT")" = 2 ] && break; sleep 0.1; done
check "two live workers seen by a front" "$(workers "$F1_PORT")" 2

# nginx with docs/nginx.conf, its ports pointed at our fronts, everything else inside $T
NPORT=
if [ -n "$NGINX" ]; then
    NPORT=$(free_port)
    mkdir -p "$T/nginx/logs" "$T/nginx/tmp"
    sed -e "s/127.0.0.1:8081/127.0.0.1:$F1_PORT/; s/127.0.0.1:8082/127.0.0.1:$F2_PORT/; s/127.0.0.1:8080/127.0.0.1:$NPORT/" \
        "$ROOT/docs/nginx.conf" >"$T/nginx/imagine.conf"
    cat >"$T/nginx/nginx.conf" <<EOF
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log;
user root;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log $T/nginx/logs/access.log;
    client_body_temp_path $T/nginx/tmp/body;
    proxy_temp_path $T/nginx/tmp/proxy;
    fastcgi_temp_path $T/nginx/tmp/fastcgi;
    uwsgi_temp_path $T/nginx/tmp/uwsgi;
    scgi_temp_path $T/nginx/tmp/scgi;
    include $T/nginx/imagine.conf;
}
EOF
    if "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" 2>"$T/nginx/start.log"; then
        NGINX_UP=1
        for _ in $(seq 50); do curl -s -m 2 "127.0.0.1:$NPORT/health" >/dev/null && break; sleep 0.1; done
    else
        bad "nginx starts with docs/nginx.conf" "$(cat "$T/nginx/start.log")"
        NPORT=
    fi
else
    echo "skip nginx: not installed (apt-get install nginx)"
fi

# gen PORT FILE BODY [MAX_S]: POST a generation; prints the HTTP status, body in FILE
gen() {
    curl -s -m "${4:-60}" -o "$2" -w '%{http_code}' "127.0.0.1:$1/v1/images/generations" \
        -H 'Content-Type: application/json' -d "$3"
}
BODY='{"prompt":"a red apple","size":"64x64","quality":"low"}'

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a <= b) }'; }
# wait_log NAME PATTERN [TENTHS]: until NAME's log has PATTERN (bounded: TENTHS x 0.1 s, default 15 s)
wait_log() {
    for _ in $(seq "${3:-150}"); do grep -q "$2" "$T/$1.log" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
# wait_live MODEL: until a worker of MODEL announced itself (bounded, 10 s)
wait_live() {
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$RPORT" zcard "imagine:workers:$1" 2>/dev/null)" -ge 1 ] 2>/dev/null && return 0
        sleep 0.1
    done
    bad "a worker of $1 announced itself" "not within 10 s"
    return 1
}
SLOWJOB='"size":"256x256","steps":150' # SLOW's 150 steps: a minute and more

# ---- 0. a front killed mid-request: started here, so that its job's 15 s lease runs out while sections
# 1-7 run; checked in section 8 (the worker gives the job up, then serves a new request)
MODEL="slow=$SLOW" serve WS --role worker
wait_port WS
wait_live slow
gen "$FS_PORT" "$T/fs.json" "{\"prompt\":\"a long one\",\"model\":\"slow\",$SLOWJOB}" 60 >"$T/fs.code" &
GONE_PID=
if wait_log WS 'job model=slow'; then
    kill -KILL "$FS_PID"
    wait "$FS_PID" 2>/dev/null
    TK=$(now)
    (for _ in $(seq 300); do # bounded: 30 s
        grep -q 'failed: 500 cancelled' "$T/WS.log" && { since "$TK" >"$T/ws.gone"; break; }
        sleep 0.1
    done) &
    GONE_PID=$!
else
    bad "front killed mid-request" "the worker did not start its job within 15 s"
fi

# ---- 1. requests spread over both fronts (and nginx) all answered ------------------------------------
T0=$(date +%s.%N)
for i in $(seq 8); do
    case $((i % 3)) in 0) p=$F1_PORT ;; 1) p=$F2_PORT ;; *) p=${NPORT:-$F1_PORT} ;; esac
    gen "$p" "$T/spread$i.json" "$BODY" >"$T/spread$i.code" &
done
wait_bg() { local j; for j in $(jobs -p); do [ "$j" = "$REDIS_PID" ] || wait "$j" 2>/dev/null; done; }
for i in $(seq 8); do for _ in $(seq 600); do [ -s "$T/spread$i.code" ] && break; sleep 0.1; done; done
n200=0
for i in $(seq 8); do [ "$(cat "$T/spread$i.code")" = 200 ] && grep -q '"b64_json"' "$T/spread$i.json" && n200=$((n200 + 1)); done
check "8 requests over 2 fronts + nginx: all 200 with an image" "$n200" 8
echo "     8 requests in $(python3 -c "print(round($(date +%s.%N) - $T0, 2))") s"
w1=$(grep -c 'imagine: job model' "$T/W1.log") w2=$(grep -c 'imagine: job model' "$T/W2.log")
if [ "$w1" -gt 0 ] && [ "$w2" -gt 0 ]; then ok "both workers ran jobs ($w1 + $w2)"; else bad "both workers ran jobs" "$w1 + $w2"; fi

# ---- 2. streaming through a front --------------------------------------------------------------------
curl -s -N -m 60 "127.0.0.1:$F2_PORT/v1/images/generations" -H 'Content-Type: application/json' \
    -d '{"prompt":"a boat","size":"64x64","quality":"low","stream":true,"partial_images":2}' >"$T/stream.txt"
ev=$(sed -n 's/^event: //p' "$T/stream.txt" | tr '\n' ' ')
check "stream: partial, partial, completed" "$ev" "image_generation.partial_image image_generation.partial_image image_generation.completed "
if [ -n "$NPORT" ]; then
    curl -s -N -m 60 "127.0.0.1:$NPORT/v1/images/generations" -H 'Content-Type: application/json' \
        -d '{"prompt":"a boat","size":"64x64","quality":"low","stream":true,"partial_images":1}' >"$T/stream2.txt"
    ev=$(sed -n 's/^event: //p' "$T/stream2.txt" | tr '\n' ' ')
    check "stream through nginx: partial, completed" "$ev" "image_generation.partial_image image_generation.completed "
fi

# ---- 3. url links from one front served by the other, and through nginx ---------------------------------
code=$(gen "$F1_PORT" "$T/url.json" '{"prompt":"a cat","size":"64x64","quality":"low","response_format":"url"}')
url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$T/url.json")
name=${url##*/}
check "url request answered" "$code" 200
check "url fetched from the other front" \
    "$(curl -s -m 10 -o "$T/url.png" -w '%{http_code} %{content_type}' "127.0.0.1:$F2_PORT/v1/images/files/$name")" "200 image/png"
check "the file is a PNG" "$(head -c 4 "$T/url.png" | tail -c 3)" "PNG"
[ -n "$NPORT" ] && check "url fetched through nginx" \
    "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "127.0.0.1:$NPORT/v1/images/files/$name")" 200
check "unknown file: 404" "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "127.0.0.1:$F2_PORT/v1/images/files/00000000000000000000000000000000.png")" 404

# ---- 3a. an edit crosses processes with its image, mask and extension fields: the same seed through
# either front gives the same bytes, and the seed comes back
python3 -c "
import struct, zlib
def png(path, w, h, px, ct):
    raw = b''.join(b'\\0' + px[y * w * (4 if ct == 6 else 3):(y + 1) * w * (4 if ct == 6 else 3)] for y in range(h))
    def ch(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    open(path, 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + ch(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, ct, 0, 0, 0)) +
                           ch(b'IDAT', zlib.compress(raw)) + ch(b'IEND', b''))
png('$T/in.png', 64, 64, bytes((x * 7 + y * 3) % 256 for y in range(64) for x in range(64 * 3)), 2)
png('$T/mask.png', 64, 64, bytes(v for y in range(64) for x in range(64) for v in (0, 0, 0, 0 if x < 32 else 255)), 6)
"
edit() { # edit PORT OUT
    curl -s -m 60 -o "$2" -w '%{http_code}' "127.0.0.1:$1/v1/images/edits" -F prompt="a red apple" \
        -F "image=@$T/in.png;type=image/png" -F "mask=@$T/mask.png;type=image/png" -F size=64x64 -F seed=77 \
        -F steps=3 -F negative_prompt=blurry
}
check "an edit with image, mask and seed through front 1" "$(edit "$F1_PORT" "$T/edit1.json")" 200
check "the same edit through front 2" "$(edit "$F2_PORT" "$T/edit2.json")" 200
check "the seed comes back" "$(sed -n 's/.*"seed":\([0-9]*\).*/\1/p' "$T/edit1.json")" 77
check "same seed, same bytes across fronts and workers" \
    "$(sed -n 's/.*"b64_json":"\([^"]*\)".*/\1/p' "$T/edit1.json" | md5sum)" \
    "$(sed -n 's/.*"b64_json":"\([^"]*\)".*/\1/p' "$T/edit2.json" | md5sum)"

# ---- 3b. a client that goes away cancels its job on the worker -------------------------------------------
CANCEL='failed: 500 cancelled\|let go of it; not started'
n0=$(cat "$T/W1.log" "$T/W2.log" | grep -c "$CANCEL")
# the client hangs up after the first partial image (head exits; curl's next write fails)
curl -s -N -m 20 "127.0.0.1:$F1_PORT/v1/images/generations" -H 'Content-Type: application/json' \
    -d '{"prompt":"a long one","size":"64x64","quality":"high","n":10,"stream":true,"partial_images":3}' | head -c 100 >/dev/null
T0=$(date +%s) n1=$n0
for _ in $(seq 200); do
    n1=$(cat "$T/W1.log" "$T/W2.log" | grep -c "$CANCEL")
    [ "$n1" -gt "$n0" ] && break
    sleep 0.1
done
if [ "$n1" -gt "$n0" ]; then ok "client gone: its job cancelled on the worker $(($(date +%s) - T0)) s later"
else bad "client gone: job cancelled on the worker" "no cancel within 20 s"; fi

# ---- 4. /health and /metrics ------------------------------------------------------------------------------
h=$(curl -s -m 5 "127.0.0.1:$F1_PORT/health")
case $h in *'"queue":"redis"'*'"redis":"ok"'*'"role":"api"'*) ok "/health reports the shared queue ($h)" ;; *) bad "/health" "$h" ;; esac
m=$(curl -s -m 5 "127.0.0.1:$W1_PORT/metrics")
for k in imagine_shared_queue_depth imagine_live_workers imagine_claims_total imagine_retries_total; do
    echo "$m" | grep -q "^$k " && ok "/metrics has $k" || bad "/metrics has $k" "missing"
done
check "a worker refuses generations" "$(gen "$W1_PORT" "$T/w.json" "$BODY")" 404

# ---- 5. a model no live worker serves -------------------------------------------------------------------
code=$(gen "$F1_PORT" "$T/ghost.json" '{"prompt":"x","model":"ghost","size":"64x64"}' 10)
check "model without a live worker: 503 no_worker" "$code $(grep -o '"code":"[a-z_]*"' "$T/ghost.json")" '503 "code":"no_worker"'
check "unknown model: 404" "$(gen "$F1_PORT" "$T/nomodel.json" '{"prompt":"x","model":"nope"}' 10)" 404

# ---- 6. queue full from the shared depth: workers paused, F3 (--max-queue 1) takes 1 + 2 live ---------
kill -STOP "$W1_PID" "$W2_PID"
for i in 1 2 3; do gen "$F3_PORT" "$T/q$i.json" "$BODY" >"$T/q$i.code" & done
sleep 0.5
code=$(curl -s -m 10 -D "$T/q4.h" -o "$T/q4.json" -w '%{http_code}' "127.0.0.1:$F3_PORT/v1/images/generations" \
    -H 'Content-Type: application/json' -d "$BODY")
check "fourth job on a full shared queue: 429" "$code" 429
grep -qi '^retry-after: [0-9]' "$T/q4.h" && ok "429 has Retry-After" || bad "429 has Retry-After" "$(cat "$T/q4.h")"
kill -CONT "$W1_PID" "$W2_PID"
for i in 1 2 3; do for _ in $(seq 600); do [ -s "$T/q$i.code" ] && break; sleep 0.1; done; done
check "the three queued jobs answered" "$(cat "$T/q1.code" "$T/q2.code" "$T/q3.code" | tr -d '\n')" 200200200

# ---- 7. a worker stopped while blocked on the stream, then killed: every request still answered --------
# Both are stopped while blocked in XREADGROUP (BLOCK 1000: Redis still hands a stopped worker an entry
# within its second), then the jobs come. The one that received a job while stopped is killed: it
# holds a delivered, unacknowledged job. Which one got it (or whether either did: the second may have
# run out) is read from XINFO CONSUMERS, whose names carry the worker's pid; up to 3 tries.
pending_of() { # pending_of PID: entries delivered to that worker and not acknowledged
    redis-cli -p "$RPORT" --no-raw xinfo consumers imagine:jobs:sd1 imagine-workers 2>/dev/null |
        tr -d '"' | awk -v p="-$1-" '$NF ~ p {f=1; next} f && /pending/ {getline; print $NF; exit}'
}
holder=
for attempt in 1 2 3; do
    sleep 1 # both idle again, blocked in XREADGROUP
    kill -STOP "$W1_PID" "$W2_PID"
    T0=$(date +%s)
    for i in $(seq 6); do
        p=$F1_PORT; [ $((i % 2)) = 0 ] && p=$F2_PORT
        gen "$p" "$T/k$i.json" "$BODY" >"$T/k$i.code" &
    done
    sleep 1
    for pid in "$W2_PID" "$W1_PID"; do
        [ "$(pending_of "$pid")" -ge 1 ] 2>/dev/null && { holder=$pid; break; }
    done
    [ -n "$holder" ] && break
    kill -CONT "$W1_PID" "$W2_PID" # neither was blocked when the jobs came: let them run, try again
    for i in $(seq 6); do for _ in $(seq 600); do [ -s "$T/k$i.code" ] && break; sleep 0.1; done; done
done
if [ -z "$holder" ]; then bad "a stopped worker held a delivered job" "none did in 3 tries"; holder=$W2_PID; fi
if [ "$holder" = "$W1_PID" ]; then W1_PID=$W2_PID W1_PORT=$W2_PORT W2_PID=$holder; fi # W2 is the one to die
kill -KILL "$W2_PID"
kill -CONT "$W1_PID"
wait "$W2_PID" 2>/dev/null # no "Killed" line from bash
for i in $(seq 6); do for _ in $(seq 600); do [ -s "$T/k$i.code" ] && break; sleep 0.1; done; done
n200=0
for i in $(seq 6); do [ "$(cat "$T/k$i.code")" = 200 ] && n200=$((n200 + 1)); done
el=$(($(date +%s) - T0))
check "worker SIGSTOPped then SIGKILLed: 6 of 6 answered 200" "$n200" 6
if [ "$el" -le 30 ]; then ok "within the claim timeout plus the work (${el} s)"; else bad "answered in time" "${el} s"; fi
claims=$(curl -s -m 5 "127.0.0.1:$F1_PORT/health" | sed -n 's/.*"claims":\([0-9]*\).*/\1/p')
if [ "${claims:-0}" -ge 1 ]; then ok "a job was claimed from the dead worker (claims $claims)"; else bad "claims" "${claims:-none}"; fi
serve W3 --role worker --claim-timeout 3 # a fresh second worker
wait_port W3

# ---- 8. the front killed in section 0: its job was given up when the lease ran out; the worker is free --
if [ -n "$GONE_PID" ]; then
    wait "$GONE_PID" 2>/dev/null
    g=$(cat "$T/ws.gone" 2>/dev/null)
    if le "$g" 20; then ok "front killed mid-request: the worker gave its job up ${g} s later (lease 15 s + a step)"
    else bad "front killed: the worker gave its job up within 20 s" "${g:-not within 30 s}"; fi
    T0=$(now)
    code=$(gen "$F1_PORT" "$T/fs2.json" '{"prompt":"a quick one","model":"slow","size":"256x256","steps":2}' 20)
    el=$(since "$T0")
    check "then that worker serves a new request" "$code" 200
    if le "$el" 10; then ok "promptly (${el} s)"; else bad "promptly" "${el} s"; fi
fi

# ---- 9. --data-dir on a folder two fronts share (no --store redis): a url made through one front is
# served by the other (the worker writes the file, so it names the folder too)
MODEL="disk=$SD1" DATA_DIR="$T/files" serve WD --role worker
wait_port WD
wait_live disk
code=$(gen "$FD1_PORT" "$T/disk.json" '{"prompt":"a cat","model":"disk","size":"64x64","quality":"low","response_format":"url"}')
url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$T/disk.json")
name=${url##*/}
check "--data-dir front: url request answered" "$code" 200
check "the file is in the shared folder" "$(find "$T/files" -name "${name:-none}" | wc -l)" 1
check "--data-dir: url fetched from the other front" \
    "$(curl -s -m 10 -o "$T/disk.png" -w '%{http_code} %{content_type}' "127.0.0.1:$FD2_PORT/v1/images/files/${name:-none}")" \
    "200 image/png"
check "the same bytes as the file" "$(md5sum <"$T/disk.png")" "$(find "$T/files" -name "${name:-none}" -exec cat {} + | md5sum)"

# ---- 10. the retry limit: a worker killed right after it took the job, three times over (fresh workers,
# --claim-timeout 1, a model of their own); the fourth take-over answers 500 job_failed naming the cause
T0=$(now)
counters() { curl -s -m 5 "127.0.0.1:$F1_PORT/health" | sed -n 's/.*"claims":\([0-9]*\),"retries":\([0-9]*\).*/\1 \2/p'; }
read -r claims0 retries0 <<<"$(counters)"
MODEL="retry=$SLOW" serve WR1 --role worker --claim-timeout 1
wait_port WR1
wait_live retry
gen "$F1_PORT" "$T/retry.json" "{\"prompt\":\"a long one\",\"model\":\"retry\",$SLOWJOB}" 60 >"$T/retry.code" &
took=0
for i in 1 2 3; do
    [ "$i" = 1 ] || MODEL="retry=$SLOW" serve "WR$i" --role worker --claim-timeout 1
    wait_log "WR$i" 'job model=retry' || break # started (after counting the start in imagine:tries:<id>)
    took=$((took + 1))
    eval "p=\$WR${i}_PID"
    kill -KILL "$p"
    wait "$p" 2>/dev/null
done
check "a job started and its worker killed, 3 times" "$took" 3
MODEL="retry=$SLOW" serve WR4 --role worker --claim-timeout 1
for _ in $(seq 200); do [ -s "$T/retry.code" ] && break; sleep 0.1; done
check "the fourth take-over: 500 job_failed" "$(cat "$T/retry.code") $(grep -o '"code":"[a-z_]*"' "$T/retry.json")" \
    '500 "code":"job_failed"'
msg=$(grep -o '"message":"[^"]*"' "$T/retry.json")
case $msg in *'started 3 times on workers that died'*'--claim-timeout (1 s)'*) ok "the error names the cause ($msg)" ;;
*) bad "the error names the cause" "${msg:-$(cat "$T/retry.json")}" ;; esac
check "the fourth worker did not start it" "$(grep -c 'job model=retry' "$T/WR4.log")" 0
grep -q '(attempt 4) failed: 500 job_failed' "$T/WR4.log" && ok "the fourth worker logs it" ||
    bad "the fourth worker logs it" "$(tail -3 "$T/WR4.log")"
read -r claims1 retries1 <<<"$(counters)"
check "/health counts 3 claims and 2 restarts (the fourth take-over started nothing)" \
    "$((claims1 - ${claims0:-0})) $((retries1 - ${retries0:-0}))" "3 2"
echo "     retry limit reached in $(since "$T0") s"

# ---- 11. the deadline across processes: FT (--timeout 2) answers 504 and the worker stops the job ---------
T0=$(now)
code=$(gen "$FT_PORT" "$T/ft.json" "{\"prompt\":\"a long one\",\"model\":\"retry\",$SLOWJOB}" 20)
el=$(since "$T0")
check "front with --timeout 2, a slow job: 504 timeout" "$code $(grep -o '"code":"[a-z_]*"' "$T/ft.json")" \
    '504 "code":"timeout"'
if le "$el" 6.5; then ok "answered at the deadline (${el} s), not at the front's grace (7 s)"; else bad "504 in time" "${el} s"; fi
if wait_log WR4 'failed: 504 timeout' 50; then ok "the worker stopped the job at its deadline"
else bad "the worker stopped the job" "$(tail -3 "$T/WR4.log")"; fi

# ---- 12. Redis restarted mid-run --------------------------------------------------------------------------
gen "$F1_PORT" "$T/r1.json" '{"prompt":"a red apple","size":"64x64","quality":"high","n":4}' 40 >"$T/r1.code" &
sleep 0.3
kill -TERM "$REDIS_PID"
for _ in $(seq 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
sleep 1
start_redis
for _ in $(seq 450); do [ -s "$T/r1.code" ] && break; sleep 0.1; done
code=$(cat "$T/r1.code" 2>/dev/null)
case "$code" in
200) ok "request in flight across the Redis restart: 200" ;;
503) grep -q '"code":"queue_' "$T/r1.json" && ok "request in flight across the Redis restart: a clear 503 ($(grep -o '"message":"[^"]*"' "$T/r1.json"))" ||
    bad "503 names the queue" "$(cat "$T/r1.json")" ;;
*) bad "request in flight across the Redis restart" "status '${code:-none}'" ;;
esac
T0=$(date +%s) code=
for _ in $(seq 40); do
    code=$(gen "$F2_PORT" "$T/r2.json" "$BODY" 20)
    [ "$code" = 200 ] && break
    sleep 0.5
done
check "after the restart a new request is answered" "$code" 200
echo "     reconnected in $(($(date +%s) - T0)) s"
code=$(gen "$F1_PORT" "$T/r3.json" "$BODY" 20)
check "and through the other front" "$code" 200

for n in W1 W2 W3 F1 F2 F3 FS FT FD1 FD2 WS WD WR1 WR2 WR3 WR4; do
    grep -q 'ERROR: AddressSanitizer\|runtime error:' "$T/$n.log" && bad "$n sanitizer report" "see $T/$n.log"
done
echo "redis: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
