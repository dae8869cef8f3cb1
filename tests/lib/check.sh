#!/bin/sh
# check.sh BUILD SHARED — libimagine as a user gets it (make lib-check, part of make check):
#  1. make install into BUILD/stage (DESTDIR), as root would into /usr/local;
#  2. the shared library exports exactly the functions include/imagine.h declares, all ig_-prefixed;
#  3. examples/txt2img.c built against the staged install with pkg-config, once static and once
#     shared, and both run on the tiny golden model: each writes a valid PNG of the model's native
#     size, and the two are byte-identical (same seed, same library);
#  4. a bad model path is a clear error with exit status 1;
#  5. the usage example at the top of imagine.h, cut out of its comment, compiles and links.
set -eu
BUILD=${1:-build}
SHARED=${2:-../shared}
STAGE=$(pwd)/$BUILD/stage
PREFIX=/usr/local
fail=0
pass=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

rm -rf "$STAGE"
make -s BUILD="$BUILD" DESTDIR="$STAGE" install >/dev/null
LIB=$STAGE$PREFIX/lib
[ -f "$STAGE$PREFIX/include/imagine.h" ] && [ -f "$LIB/libimagine.a" ] && [ -f "$LIB/pkgconfig/imagine.pc" ] &&
    [ -f "$STAGE$PREFIX/share/imagine/imagine-emoji/model_index.json" ] && ok "install: header, libraries, imagine.pc, assets" ||
    bad "install: header, libraries, imagine.pc, assets"

# 2. exports: the .so's defined dynamic symbols against the header's function declarations
nm -D --defined-only "$LIB/libimagine.so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u > "$BUILD/lib_exports.txt"
grep -o '^[a-z_ *]*[ *]\(ig_[a-z_0-9]*\)(' include/imagine.h | sed 's/.*\(ig_[a-z_0-9]*\)(/\1/' | sort -u > "$BUILD/lib_header.txt"
if cmp -s "$BUILD/lib_exports.txt" "$BUILD/lib_header.txt" && [ -s "$BUILD/lib_header.txt" ]; then
    ok "libimagine.so exports exactly the $(wc -l < "$BUILD/lib_header.txt") functions of imagine.h"
else
    bad "libimagine.so exports differ from imagine.h:"; diff "$BUILD/lib_exports.txt" "$BUILD/lib_header.txt" || true
fi
grep -v '^ig_' "$BUILD/lib_exports.txt" > /dev/null && bad "an exported symbol without the ig_ prefix" || ok "every export is ig_-prefixed"

# 3. the example against the installed library, through pkg-config
PC="pkg-config --define-variable=prefix=$STAGE$PREFIX"
export PKG_CONFIG_PATH="$LIB/pkgconfig"
cc -std=c11 -O2 -Wall -Wextra -Werror examples/txt2img.c $($PC --cflags imagine) -o "$BUILD/txt2img-shared" \
    $($PC --libs imagine) -Wl,-rpath,"$LIB" && ok "example builds against libimagine.so" || bad "example builds against libimagine.so"
cc -std=c11 -O2 -Wall -Wextra -Werror examples/txt2img.c $($PC --cflags imagine) -o "$BUILD/txt2img-static" \
    "$LIB/libimagine.a" $($PC --libs-only-l --static imagine | sed 's/-limagine//') -fopenmp &&
    ok "example builds against libimagine.a" || bad "example builds against libimagine.a"
ldd "$BUILD/txt2img-shared" | grep -q "$LIB/libimagine.so.0" && ok "the shared example loads the staged libimagine.so.0" ||
    bad "the shared example loads the staged libimagine.so.0"

# the usage example at the top of imagine.h: cut out of the comment, it compiles and links as it stands
sed -n '/^ \*     #include <stdio.h>/,/^ \* Rules of the house/p' include/imagine.h | sed '$d' |
    sed 's/^ \*     //; s/^ \*$//' > "$BUILD/header_example.c"
if [ "$(grep -c 'ig_generate' "$BUILD/header_example.c")" -ge 1 ] &&
    cc -std=c11 -Wall -Wextra -Werror "$BUILD/header_example.c" $($PC --cflags imagine) -o "$BUILD/header_example" \
        $($PC --libs imagine) -Wl,-rpath,"$LIB"; then
    ok "the usage example in imagine.h compiles and links ($(wc -l < "$BUILD/header_example.c") lines)"
else
    bad "the usage example in imagine.h does not compile"
fi

MODEL="$SHARED/golden/sd1-tiny/model"
for kind in shared static; do
    out="$BUILD/txt2img-$kind.png"
    rm -f "$out"
    if "$BUILD/txt2img-$kind" "$MODEL" "a photograph of an astronaut riding a horse" "$out" 7 2> "$BUILD/txt2img-$kind.log"; then
        # PNG signature, IHDR 64x64 (the tiny model's native size), 8-bit RGB
        head=$(od -An -tx1 -N26 "$out" | tr -d ' \n')
        case $head in
            89504e470d0a1a0a0000000d4948445200000040000000400802) ok "$kind example: a 64x64 RGB PNG" ;;
            *) bad "$kind example: not a 64x64 RGB PNG ($head)" ;;
        esac
        # the PNG decodes (python's zlib checks the stream and the Adler-32) to 64 rows of 193 bytes
        python3 -c "
import sys, zlib, struct
d = open(sys.argv[1], 'rb').read(); i = 8; idat = b''
while i < len(d):
    n, = struct.unpack('>I', d[i:i+4]); t = d[i+4:i+8]
    if zlib.crc32(d[i+4:i+8+n]) != struct.unpack('>I', d[i+8+n:i+12+n])[0]: sys.exit('bad crc')
    if t == b'IDAT': idat += d[i+8:i+8+n]
    i += 12 + n
raw = zlib.decompress(idat); assert len(raw) == 64 * 193, len(raw)
px = [raw[r * 193 + 1 + k] for r in range(64) for k in range(192)]
assert max(px) - min(px) > 20, 'a flat image'
" "$out" && ok "$kind example: the PNG decodes, CRCs and Adler-32 right, not flat" || bad "$kind example: the PNG does not decode"
    else
        bad "$kind example run: $(cat "$BUILD/txt2img-$kind.log")"
    fi
done
cmp -s "$BUILD/txt2img-shared.png" "$BUILD/txt2img-static.png" && ok "static and shared give the same bytes" ||
    bad "static and shared give different images"
if "$BUILD/txt2img-shared" /nonexistent/model "x" "$BUILD/never.png" 2> "$BUILD/txt2img-bad.log"; then
    bad "a missing model should fail"
else
    grep -q "/nonexistent/model" "$BUILD/txt2img-bad.log" && [ ! -e "$BUILD/never.png" ] &&
        ok "a missing model: exit 1 naming it, no file" || bad "a missing model: $(cat "$BUILD/txt2img-bad.log")"
fi
echo "lib-check: $pass passed, $fail failed"
[ "$fail" = 0 ]
