#!/bin/bash
# tests/hostile/faults.sh — fault handling of `imagine serve` (issue 5 item 5). One server at a time, each
# on a private copy of the tiny golden model, loopback, --port 0; bounded (about a minute here).
#
#   1. the model's files change under the running server: bytes overwritten, the UNet/VAE/text encoder
#      truncated to half, a file replaced by rename. The server must answer (an image from its packed
#      weights or a clear 500) and stay up; a SIGBUS is a finding. Then a model folder truncated BEFORE
#      start (and other broken folders): a clear message and exit status 1, no crash.
#   2. a full disk for the url store: `ulimit -f` (64 KiB; the server ignores SIGXFSZ) and
#      response_format=url with a large image: a clear 500 JSON error, the server stays up, nothing
#      half-written in the data dir; a small url image still works.
#   3. out of memory: the address space limited (prlimit RLIMIT_AS on the running server, from its
#      measured VmSize) and n=10 at 2048x2048: success with a loose limit, a clear error (500) or success
#      with a tight one, never a crash; the server answers afterwards.
#
# Environment: IMAGINE_BIN (build/imagine), HOSTILE_BIN (build/hostile), IMAGINE_SHARED (../shared),
# FAULTS_OOM_MARGINS (MiB of address space above the idle VmSize, default "3072 128 32"),
# FAULTS_SERVE_ARGS (more `imagine serve` arguments for every server here, e.g. --copy-weights),
# HOSTILE_KEEP=1 keeps the temporary folder.
set -u
cd "$(dirname "$0")/../.." || exit 2
BIN=${IMAGINE_BIN:-build/imagine}
HOSTILE=${HOSTILE_BIN:-build/hostile}
SHARED=${IMAGINE_SHARED:-../shared}
MODEL=$SHARED/golden/sd1-tiny/model
for f in "$BIN" "$HOSTILE"; do [ -x "$f" ] || { echo "faults.sh: $f is missing (make hostile)"; exit 2; }; done
[ -d "$MODEL" ] || { echo "faults.sh: no tiny model at $MODEL"; exit 2; }

tmp=$(mktemp -d /tmp/imagine-faults.XXXXXX)
spid=
fails=0
cleanup() {
    [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
    if [ "${HOSTILE_KEEP:-0}" = 1 ]; then echo "faults.sh: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() { # check COND-STATUS MESSAGE
    if [ "$1" = 0 ]; then echo "  ok   $2"; else echo "  FAIL $2"; fails=$((fails + 1)); fi
}
sig_name() { [ "$1" -gt 128 ] && echo " (signal $(kill -l $(($1 - 128)) 2>/dev/null))"; }

fresh_model() { # fresh_model DIR: a writable copy of the tiny model
    rm -rf "$1"
    cp -r "$MODEL" "$1" && chmod -R u+w "$1"
}

# start_server NAME MODEL_DIR [ulimit -f KB] [more serve args...]: sets spid, port, log
start_server() {
    local name=$1 dir=$2 fsize=$3
    shift 3
    log=$tmp/$name.log
    rm -f "$tmp/port"
    (
        [ "$fsize" != - ] && ulimit -f "$fsize"
        exec "$BIN" serve --model "tiny=$dir" --host 127.0.0.1 --port 0 --port-file "$tmp/port" \
            --data-dir "$tmp/data-$name" --max-queue 4 --timeout 300 ${FAULTS_SERVE_ARGS:-} "$@"
    ) >"$log" 2>&1 &
    spid=$!
    local i=0
    while [ ! -s "$tmp/port" ]; do
        kill -0 "$spid" 2>/dev/null || { wait "$spid"; echo "  server $name exited $?$(sig_name $?) before listening"; tail -5 "$log"; spid=; return 1; }
        i=$((i + 1)); [ $i -gt 1200 ] && { echo "  server $name did not listen in 120 s"; return 1; }
        sleep 0.1
    done
    port=$(cat "$tmp/port")
}

# stop_server: SIGTERM, exit status in $rc (or the death that happened before)
stop_server() {
    rc=
    [ -z "$spid" ] && return
    if kill -0 "$spid" 2>/dev/null; then
        kill -TERM "$spid"
        ( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep 60 & sp=$!; wait $sp; kill -KILL "$spid" ) >/dev/null 2>&1 &
        local w=$!
        wait "$spid"; rc=$?
        kill "$w" 2>/dev/null; wait "$w" 2>/dev/null
    else
        wait "$spid"; rc=$?
    fi
    spid=
}

alive() { [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; }

# req EXPECT [BODY]: one generation through hostile's gen mode; prints its line; $st is the status
req() {
    local expect=$1
    shift
    out=$("$HOSTILE" gen 127.0.0.1 "$port" "$spid" --expect "$expect" ${1:+--body "$1"} 2>&1)
    st=${out%% *}
    case $st in [0-9]*) ;; *) st=0 ;; esac # no answer at all
    echo "     -> $out" | cut -c1-300
}

vmsize() { awk '/^VmSize/ {print $2}' "/proc/$1/status"; }
vmrss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
t0=$(date +%s)

# ---- 1. the model changes under the running server ----------------------------------------------------
echo "== 1. model files changed or truncated under the running server"
UNET=unet/diffusion_pytorch_model.safetensors
TE=text_encoder/model.safetensors
VAE=vae/diffusion_pytorch_model.safetensors
for case in overwrite truncate-unet truncate-te-vae replace; do
    m=$tmp/model-$case
    fresh_model "$m"
    start_server "$case" "$m" - || { check 1 "$case: the server starts"; continue; }
    req 200 >/dev/null
    check $([ "$st" = 200 ] && echo 0 || echo 1) "$case: a request before the change is answered 200"
    case $case in
    overwrite) # 64 KiB of random bytes in the middle of each weight file, same size
        for f in $UNET $TE $VAE; do
            sz=$(stat -c %s "$m/$f")
            dd if=/dev/urandom of="$m/$f" bs=4096 seek=$((sz / 2 / 4096)) count=16 conv=notrunc status=none
        done ;;
    truncate-unet) truncate -s $(( $(stat -c %s "$m/$UNET") / 2 )) "$m/$UNET" ;;
    truncate-te-vae) for f in $TE $VAE; do truncate -s $(( $(stat -c %s "$m/$f") / 2 )) "$m/$f"; done ;;
    replace) # a new file renamed over the old one (how a careful update replaces weights)
        cp "$m/$UNET" "$m/$UNET.new" && truncate -s 100 "$m/$UNET.new" && mv "$m/$UNET.new" "$m/$UNET" ;;
    esac
    for k in 1 2; do
        req 0 '{"model":"MODEL","prompt":"after the change","size":"64x64","quality":"low"}'
        if [ "$st" = 200 ] || [ "$st" = 500 ]; then check 0 "$case: request $k after the change: $st (an image or a clear 500)"
        else check 1 "$case: request $k after the change: '$st' (expected 200 or 500)"; fi
    done
    req 0 '{"model":"MODEL","prompt":"after the change, a larger drawing","size":"128x128","quality":"high","n":2}'
    if alive; then
        check 0 "$case: the server is alive"
        stop_server
        check $([ "$rc" = 0 ] && echo 0 || echo 1) "$case: SIGTERM exit status $rc"
    else
        stop_server
        check 1 "$case: the server died: exit status $rc$(sig_name "$rc")"
        grep -vE '^imagine: (generations|health|models) ' "$log" | tail -5 | sed 's/^/     log: /'
    fi
done

echo "== 1b. a broken model folder before start: a clear message and exit status 1"
for case in unet-half unet-empty unet-7-bytes unet-header-only te-half vae-half index-garbage config-truncated no-unet; do
    m=$tmp/model-start-$case
    fresh_model "$m"
    case $case in
    unet-half) truncate -s $(( $(stat -c %s "$m/$UNET") / 2 )) "$m/$UNET" ;;
    unet-empty) : >"$m/$UNET" ;;
    unet-7-bytes) truncate -s 7 "$m/$UNET" ;;
    unet-header-only) # the 8-byte length and the JSON header, no tensor data
        hl=$(od -An -tu8 -N8 "$m/$UNET" | tr -d ' '); truncate -s $((8 + hl)) "$m/$UNET" ;;
    te-half) truncate -s $(( $(stat -c %s "$m/$TE") / 2 )) "$m/$TE" ;;
    vae-half) truncate -s $(( $(stat -c %s "$m/$VAE") / 2 )) "$m/$VAE" ;;
    index-garbage) printf '{"_class_name": [' >"$m/model_index.json" ;;
    config-truncated) head -c 200 "$m/unet/config.json" >"$m/unet/c" && mv "$m/unet/c" "$m/unet/config.json" ;;
    no-unet) rm -rf "$m/unet" ;;
    esac
    ts=$(date +%s%N)
    "$BIN" serve --model "tiny=$m" --host 127.0.0.1 --port 0 --port-file "$tmp/port-$case" \
        --data-dir "$tmp/data-start" >"$tmp/start-$case.log" 2>&1 &
    spid=$!
    # it exits (the expected outcome) or listens (only fine for a file the loader does not read)
    i=0
    while kill -0 "$spid" 2>/dev/null && [ ! -s "$tmp/port-$case" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    if [ -s "$tmp/port-$case" ]; then
        port=$(cat "$tmp/port-$case")
        req 200 >/dev/null
        stop_server
        echo "     $case: the server starts and serves ($st): this file is not read"
        check $([ "$case" = index-garbage ] && [ "$st" = 200 ] && echo 0 || echo 1) "$case: served correctly or refused at start"
        continue
    fi
    stop_server
    ms=$(( ($(date +%s%N) - ts) / 1000000 ))
    msg=$(grep -E '^imagine serve:' "$tmp/start-$case.log" | tail -1)
    [ -z "$msg" ] && msg=$(tail -1 "$tmp/start-$case.log")
    echo "     $case: exit $rc$(sig_name $rc) in $ms ms: ${msg:0:220}"
    check $([ "$rc" = 1 ] && [ -n "$msg" ] && echo 0 || echo 1) "$case: exit status 1 with a message, never listening"
done

# ---- 2. a full disk for the url store ------------------------------------------------------------------
echo "== 2. the url store cannot write (ulimit -f 64 KiB; the server ignores SIGXFSZ)"
m=$tmp/model-disk
fresh_model "$m"
start_server disk "$m" 64 && {
    data=$tmp/data-disk
    req 200 '{"model":"MODEL","prompt":"a small url image","size":"64x64","quality":"low","response_format":"url"}'
    check $([ "$st" = 200 ] && echo 0 || echo 1) "a 64x64 url image (a few KiB) is stored: $st"
    req 0 '{"model":"MODEL","prompt":"a large url image","size":"1024x1024","quality":"low","response_format":"url"}'
    check $([ "$st" = 500 ] && [[ "$out" == *message=* ]] && echo 0 || echo 1) "1024x1024 url image past the limit: '$st' (expected a 500 JSON error)"
    req 0 '{"model":"MODEL","prompt":"a large url batch","size":"1024x1024","quality":"low","response_format":"url","n":3}'
    check $([ "$st" = 500 ] && echo 0 || echo 1) "n=3 1024x1024 url images past the limit: '$st'"
    req 0 '{"model":"MODEL","prompt":"a large b64 image","size":"1024x1024","quality":"low"}'
    check $([ "$st" = 200 ] && echo 0 || echo 1) "the same image as b64_json (no file) is served: $st"
    req 200 '{"model":"MODEL","prompt":"a small url image again","size":"64x64","quality":"low","response_format":"url"}'
    check $([ "$st" = 200 ] && echo 0 || echo 1) "a small url image afterwards: $st"
    echo "     data dir:"; ls -la "$data" | sed 's/^/       /'
    n_tmp=$(find "$data" -name '.tmp-*' | wc -l)
    n_big=$(find "$data" -type f -size +63k | wc -l)
    n_files=$(find "$data" -type f | wc -l)
    check $([ "$n_tmp" = 0 ] && [ "$n_big" = 0 ] && echo 0 || echo 1) \
        "no half-written file in the data dir ($n_files files, $n_tmp temporary, $n_big at the limit)"
    alive; check $? "the server is alive"
    stop_server
    check $([ "$rc" = 0 ] && echo 0 || echo 1) "SIGTERM exit status $rc$(sig_name "$rc")"
}

# ---- 3. out of memory on a huge batch -------------------------------------------------------------------
echo "== 3. out of memory: RLIMIT_AS on the running server, then n=10 at 2048x2048"
m=$tmp/model-oom
fresh_model "$m"
BIG='{"model":"MODEL","prompt":"ten large images","size":"2048x2048","quality":"low","n":10}'
for margin_mb in ${FAULTS_OOM_MARGINS:-3072 128 32}; do
    start_server "oom-$margin_mb" "$m" - || { check 1 "oom-$margin_mb: the server starts"; continue; }
    req 200 >/dev/null
    vs=$(vmsize "$spid"); rs=$(vmrss "$spid")
    limit=$(( (vs + margin_mb * 1024) * 1024 ))
    prlimit --pid "$spid" --as=$limit:$limit
    echo "     idle VmSize $((vs / 1024)) MiB, VmRSS $((rs / 1024)) MiB; RLIMIT_AS = VmSize + $margin_mb MiB"
    ts=$(date +%s%N)
    req 0 "$BIG"
    ms=$(( ($(date +%s%N) - ts) / 1000000 ))
    if ! alive; then
        stop_server
        check 1 "margin $margin_mb MiB: the server died during n=10 2048x2048: exit $rc$(sig_name "$rc")"
        grep -vE '^imagine: (generations|health|models) ' "$log" | tail -5 | sed 's/^/     log: /'
        continue
    fi
    if [ "$margin_mb" -ge 3072 ]; then
        check $([ "$st" = 200 ] && echo 0 || echo 1) "margin $margin_mb MiB: n=10 2048x2048 served: $st in $ms ms"
    else
        check $([ "$st" = 200 ] || [ "$st" = 500 ] && echo 0 || echo 1) "margin $margin_mb MiB: n=10 2048x2048: $st in $ms ms (200 or a clear 500)"
    fi
    req 0
    if [ "$margin_mb" -ge 1024 ]; then
        check $([ "$st" = 200 ] && echo 0 || echo 1) "margin $margin_mb MiB: a small request afterwards: $st"
    else # little left (each new connection thread's malloc arena reserves 64 MiB): served, or refused clearly
        check $([ "$st" = 200 ] || [[ "$out" == "500 out_of_memory"* ]] && echo 0 || echo 1) \
            "margin $margin_mb MiB: a small request afterwards: $st (200 or 500 out_of_memory)"
    fi
    alive; check $? "margin $margin_mb MiB: the server is alive"
    stop_server
    check $([ "$rc" = 0 ] && echo 0 || echo 1) "margin $margin_mb MiB: SIGTERM exit status $rc$(sig_name "$rc")"
done

echo "faults.sh: $(( $(date +%s) - t0 )) s, $fails failed check(s)"
if [ $fails = 0 ]; then echo "faults.sh: PASSED"; else echo "faults.sh: FAILED"; fi
[ $fails = 0 ]
