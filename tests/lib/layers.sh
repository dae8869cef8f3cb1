#!/bin/sh
# layers.sh — imports only go down (../shared/DESIGN.md, STYLE.md): every #include "..." in src/
# names a header of its own folder or of a lower layer. The layers, top to bottom:
#   6 main.c
#   5 server/ cli/ bench/     programs on the library
#   4 lib/ api/               the public API's implementation; OpenAI JSON (server's only)
#   3 pipeline/
#   2 models/
#   1 engine/                 (engine/cpu/, engine/cpu/dnnl/ inside it)
#   0 io/ image/ common.h imagine.h   leaves
set -eu
rank() {
    case $1 in
    main.c) echo 6 ;; server | cli | bench) echo 5 ;; lib | api) echo 4 ;; pipeline) echo 3 ;;
    models) echo 2 ;; engine) echo 1 ;; io | image | common.c) echo 0 ;; *) echo 9 ;;
    esac
}
bad=0
n=0
for f in $(find src -name '*.[ch]' | sort); do
    from=$(echo "$f" | cut -d/ -f2)
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        n=$((n + 1))
        case $inc in
        common.h | imagine.h) continue ;; # below everything
        api/* | bench/* | cli/* | engine/* | image/* | io/* | lib/* | models/* | pipeline/* | server/*)
            to=$(echo "$inc" | cut -d/ -f1) ;;
        *) to=$from ;; # a header of its own folder or a sub-folder (engine/cpu/, ../ from there)
        esac
        [ "$to" = "$from" ] && continue
        if [ "$(rank "$to")" -ge "$(rank "$from")" ]; then
            echo "layers: $f includes $inc ($to is not below $from)"
            bad=$((bad + 1))
        fi
    done
done
echo "layers: $n includes, $bad going up or sideways"
[ "$bad" = 0 ]
