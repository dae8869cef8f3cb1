# cases.sh — the curl table: every body field's errors, raw HTTP (methods, routes, 413 with and without
# Expect: 100-continue, chunked uploads, bytes that are not UTF-8), auth, rate limit. Sourced by run.sh,
# which defines t (one case), body (a request body file) and the servers' URLs A and B.
#
#   t NAME STATUS [CHECK ...] -- CURL_ARGS...
#     CHECK   'text'    the response body contains text (a fixed string; the server writes compact JSON)
#             '!text'   it does not
#             'H:text'  a response header line contains text (case-insensitive)
#             'U:N'     curl uploaded exactly N bytes of the body (0: refused before 100-continue)
#   err CODE [PARAM] expands to the checks of an OpenAI error body with that code and param (null: "-";
#                    no PARAM: param not checked)
# Every response whose Content-Type is JSON is also parsed afterwards (check_bodies.mjs): error bodies
# must be {"error":{"message":string,"type":string,"param":string|null,"code":string|null}}.

err() {
    printf '%s\n' "\"code\":$( [ "$1" = - ] && echo null || echo "\"$1\"")"
    [ $# -lt 2 ] || printf '%s\n' "\"param\":$( [ "$2" = - ] && echo null || echo "\"$2\"")"
    printf '%s\n' 'H:content-type: application/json'
}

# $(gen BODY): curl arguments for POST /v1/images/generations on server A with a JSON body
gen() { printf '%s\n' "$A/v1/images/generations" -H 'Content-Type: application/json' --data-binary "$1"; }

cases_main() {
    local IFS=$'\n' # gen/err expand to one argument per line
    local tiny='"size":"64x64","quality":"low"'

    # ---- routes and methods ----
    t 'GET /health' 200 '"status":"ok"' '"queue_depth":0' 'H:content-type: application/json' -- "$A/health"
    t 'HEAD /health' 200 -- -I "$A/health"
    t 'GET /health?query' 200 '"status":"ok"' -- "$A/health?x=1"
    t 'GET /v1/models' 200 '"object":"list"' '"id":"sd1"' '"id":"sd2"' '"id":"tiny"' '"id":"gpt-image-1"' \
        '"id":"gpt-image-1-mini"' '"id":"gpt-image-1.5"' '"id":"dall-e-2"' '"id":"dall-e-3"' -- "$A/v1/models"
    t 'GET /models (bare)' 200 '"id":"sd1"' -- "$A/models"
    t 'GET /v1/models/sd2' 200 '"id":"sd2"' '"object":"model"' '!"data"' -- "$A/v1/models/sd2"
    t 'GET /v1/models/{alias}' 200 '"id":"dall-e-2"' -- "$A/v1/models/dall-e-2"
    t 'GET /v1/models/{unknown}' 404 $(err model_not_found model) -- "$A/v1/models/nope"
    t 'GET /v1/models/ (no id)' 404 $(err - -) -- "$A/v1/models/"
    t 'GET /metrics' 200 'H:content-type: text/plain; version=0.0.4' 'imagine_queue_depth 0' -- "$A/metrics"
    t 'GET / → the playground page' 200 'id="prompt"' 'H:content-type: text/html' "H:content-security-policy: default-src 'none'" \
        'H:cache-control: no-cache' -- "$A/"
    t 'HEAD /playground' 200 'H:content-type: text/html' -- -I "$A/playground"
    t 'GET /playground.js' 200 'H:content-type: text/javascript' '/v1/images/generations' -- "$A/playground.js"
    t 'POST / → 405' 405 $(err method_not_allowed -) -- -X POST -d '{}' "$A/"
    t 'GET /playground/ → 404' 404 $(err - -) -- "$A/playground/"
    t 'GET /%00 → 404, not the page (a NUL does not end the path)' 404 $(err - -) -- "$A/%00"
    t 'GET /v2/anything → 404' 404 $(err - -) -- "$A/v2/anything"
    t 'POST /v1/images/edits with JSON → 400' 400 $(err invalid_content_type -) 'multipart/form-data' -- \
        -X POST -H 'Content-Type: application/json' -d '{"prompt":"x"}' "$A/v1/images/edits"
    t 'GET /v1/images/edits → 405' 405 $(err method_not_allowed -) -- "$A/v1/images/edits"
    t 'GET /v1/images/variations → 405' 405 $(err method_not_allowed -) -- "$A/images/variations"
    t 'GET /v1/models/sd1 lists the extension parameters' 200 '"parameters":{"seed":{"type":"integer","minimum":0' \
        '"steps":{"type":"integer","minimum":1,"maximum":150' '"guidance_scale":{"type":"number"' '"sampler":{"type":"string","enum":[' \
        '"strength":{"type":"number","minimum":0,"maximum":1' -- "$A/v1/models/sd1"
    t 'POST /v1/images/generations/ (slash) → 404' 404 $(err - -) -- -X POST -d '{"prompt":"x"}' "$A/v1/images/generations/"
    t 'GET /v1/images/generations → 405' 405 $(err method_not_allowed -) -- "$A/v1/images/generations"
    t 'PUT /v1/images/generations → 405' 405 $(err method_not_allowed -) -- -X PUT -d '{}' "$A/v1/images/generations"
    t 'DELETE /v1/images/generations → 405' 405 $(err method_not_allowed -) -- -X DELETE "$A/v1/images/generations"
    t 'POST /v1/models → 405' 405 $(err method_not_allowed -) -- -X POST -d '{}' "$A/v1/models"
    t 'POST /health → 405' 405 $(err method_not_allowed -) -- -X POST -d '{}' "$A/health"
    t 'DELETE /metrics → 405' 405 $(err method_not_allowed -) -- -X DELETE "$A/metrics"
    t 'OPTIONS /v1/models → 405' 405 $(err method_not_allowed -) -- -X OPTIONS "$A/v1/models"
    t 'GET a missing image → 404' 404 $(err not_found -) -- "$A/v1/images/files/0123456789abcdef0123456789abcdef.png"
    t 'GET a bad image name → 404' 404 $(err not_found -) -- "$A/v1/images/files/nope.png"
    t 'GET ../ in an image name → 404' 404 $(err not_found -) -- --path-as-is "$A/v1/images/files/../../../etc/passwd"
    t 'GET %2f in an image name → 404' 404 $(err not_found -) -- "$A/v1/images/files/..%2f..%2fetc%2fpasswd"

    # ---- success through curl: both paths, aliases, a key the server does not ask for ----
    t 'POST minimal (PNG in b64_json)' 200 '"b64_json":"iVBORw0KGgo' '"size":"64x64"' '"output_format":"png"' \
        '"background":"opaque"' '"quality":"low"' '"revised_prompt":"a cat"' '"usage":{"input_tokens":' \
        '"output_tokens":2,' '!"url"' 'H:content-type: application/json' -- $(gen '{"prompt":"a cat",'"$tiny"'}')
    t 'POST bare /images/generations (Gradient)' 200 '"b64_json":"' -- \
        "$A/images/generations" -H 'Content-Type: application/json' -d '{"prompt":"a cat",'"$tiny"'}'
    t 'alias tiny=sd2' 200 '"b64_json":"' -- $(gen '{"prompt":"a cat","model":"tiny",'"$tiny"'}')
    t 'alias dall-e-2 defaults to url' 200 '"url":"http://127.0.0.1:' '!"b64_json"' -- \
        $(gen '{"prompt":"a cat","model":"dall-e-2",'"$tiny"'}')
    t 'a Bearer key on a keyless server is ignored' 200 '"b64_json":"' -- \
        $(gen '{"prompt":"a cat",'"$tiny"'}') -H 'Authorization: Bearer anything'
    t 'Content-Type text/plain with a JSON body' 200 '"b64_json":"' -- \
        "$A/v1/images/generations" -H 'Content-Type: text/plain' -d '{"prompt":"a cat",'"$tiny"'}'
    t 'jpeg via curl' 200 '"b64_json":"/9j/' '"output_format":"jpeg"' -- \
        $(gen '{"prompt":"a cat","output_format":"jpeg",'"$tiny"'}')
    t 'webp via curl' 200 '"b64_json":"UklGR' '"output_format":"webp"' -- \
        $(gen '{"prompt":"a cat","output_format":"webp",'"$tiny"'}')
    t 'stream (raw SSE)' 200 'H:content-type: text/event-stream' 'event: image_generation.partial_image' \
        'data: {"type":"image_generation.partial_image"' '"partial_image_index":0' \
        'event: image_generation.completed' 'data: {"type":"image_generation.completed"' '"usage":{' -- \
        -N $(gen '{"prompt":"a cat","stream":true,"partial_images":1,'"$tiny"'}')
    t 'stream with dall-e-2 (url default → b64_json)' 200 'event: image_generation.completed' '"b64_json":"' -- \
        -N $(gen '{"prompt":"a cat","model":"dall-e-2","stream":true,'"$tiny"'}')

    # ---- prompt ----
    t 'prompt missing' 400 $(err missing_required_parameter prompt) -- $(gen '{"n":1}')
    t 'prompt empty' 400 $(err empty_string prompt) -- $(gen '{"prompt":""}')
    t 'prompt null' 400 $(err invalid_type prompt) -- $(gen '{"prompt":null}')
    t 'prompt a number' 400 $(err invalid_type prompt) -- $(gen '{"prompt":5}')
    t 'prompt an array' 400 $(err invalid_type prompt) -- $(gen '{"prompt":["a"]}')
    t 'prompt 32001 characters' 400 $(err string_above_max_length prompt) -- "$A/v1/images/generations" --data-binary "@$(body long_prompt)"
    t 'prompt with a 0xff byte' 400 $(err invalid_utf8 prompt) -- "$A/v1/images/generations" --data-binary "@$(body bad_utf8)"
    t 'prompt with an overlong UTF-8 /' 400 $(err invalid_utf8 prompt) -- "$A/v1/images/generations" --data-binary "@$(body overlong_utf8)"
    t 'prompt with a UTF-8 encoded surrogate' 400 $(err invalid_utf8 prompt) -- "$A/v1/images/generations" --data-binary "@$(body surrogate_utf8)"
    t 'prompt cut inside a UTF-8 character' 400 $(err invalid_utf8 prompt) -- "$A/v1/images/generations" --data-binary "@$(body truncated_utf8)"
    t 'prompt with a lone \ud800 escape' 400 $(err invalid_utf8 prompt) -- $(gen '{"prompt":"a \ud800 cat"}')
    t 'prompt with a \u0000 escape' 400 $(err invalid_value prompt) -- $(gen '{"prompt":"a\u0000b"}')
    t 'a 0xff byte in a key' 400 $(err invalid_utf8 -) -- "$A/v1/images/generations" --data-binary "@$(body bad_utf8_key)"
    t 'a 0xff byte between tokens' 400 $(err invalid_json -) -- "$A/v1/images/generations" --data-binary "@$(body bad_utf8_token)"
    t 'a 0xff byte after the object' 400 $(err invalid_json) -- "$A/v1/images/generations" --data-binary "@$(body bad_utf8_after)"
    t 'prompt with escaped emoji (surrogate pair) is fine' 200 '"b64_json":"' -- \
        $(gen '{"prompt":"a \ud83d\ude00 cat",'"$tiny"'}')
    t 'prompt with raw UTF-8 emoji is fine' 200 '"revised_prompt":"a 😀 cat"' -- \
        $(gen '{"prompt":"a 😀 cat",'"$tiny"'}')

    # ---- model ----
    t 'model unknown → 404' 404 $(err model_not_found model) "'nope'" -- $(gen '{"prompt":"x","model":"nope"}')
    t 'model case matters (GPT-IMAGE-1)' 404 $(err model_not_found model) -- $(gen '{"prompt":"x","model":"GPT-IMAGE-1"}')
    t 'model empty' 400 $(err empty_string model) -- $(gen '{"prompt":"x","model":""}')
    t 'model a number' 400 $(err invalid_type model) -- $(gen '{"prompt":"x","model":5}')

    # ---- n ----
    t 'n 0' 400 $(err integer_below_min_value n) -- $(gen '{"prompt":"x","n":0}')
    t 'n -1' 400 $(err integer_below_min_value n) -- $(gen '{"prompt":"x","n":-1}')
    t 'n 11' 400 $(err integer_above_max_value n) -- $(gen '{"prompt":"x","n":11}')
    t 'n 1e400' 400 $(err integer_above_max_value n) -- $(gen '{"prompt":"x","n":1e400}')
    t 'n 99999999999999999999' 400 $(err integer_above_max_value n) -- $(gen '{"prompt":"x","n":99999999999999999999}')
    t 'n 1.5' 400 $(err invalid_type n) -- $(gen '{"prompt":"x","n":1.5}')
    t 'n "2"' 400 $(err invalid_type n) -- $(gen '{"prompt":"x","n":"2"}')
    t 'n true' 400 $(err invalid_type n) -- $(gen '{"prompt":"x","n":true}')
    t 'n 2.0 counts as 2' 200 '"b64_json":"' -- $(gen '{"prompt":"x","n":2.0,'"$tiny"'}')

    # ---- size ----
    for s in 100x100 64x60 1030x1024; do
        t "size $s (not multiples of 8)" 400 $(err invalid_value size) 'multiples of 8' -- $(gen '{"prompt":"x","size":"'$s'"}')
    done
    for s in 4096x4096 2056x64 64x2056 56x64 64x56 0x0; do
        t "size $s (out of range)" 400 $(err invalid_value size) -- $(gen '{"prompt":"x","size":"'$s'"}')
    done
    for s in 1024X1024 1024x ' 64x64' '+64x64' 64x64x64 abc '' AUTO; do
        t "size '$s' (malformed)" 400 $(err invalid_value size) -- $(gen '{"prompt":"x","size":"'"$s"'"}')
    done
    t 'size a number' 400 $(err invalid_type size) -- $(gen '{"prompt":"x","size":1024}')
    t 'size 2048x2048 (max)' 200 '"size":"2048x2048"' -- $(gen '{"prompt":"x","size":"2048x2048","quality":"low","output_format":"jpeg"}')
    t 'size 64x2048 (extreme aspect)' 200 '"size":"64x2048"' -- $(gen '{"prompt":"x","size":"64x2048","quality":"low","output_format":"jpeg"}')

    # ---- enumerations: exact, case-sensitive ----
    for v in ultra HIGH '' Auto; do t "quality '$v'" 400 $(err invalid_value quality) -- $(gen '{"prompt":"x","quality":"'"$v"'"}'); done
    t 'quality a number' 400 $(err invalid_type quality) -- $(gen '{"prompt":"x","quality":1}')
    for v in bold Vivid ''; do t "style '$v'" 400 $(err invalid_value style) -- $(gen '{"prompt":"x","style":"'"$v"'"}'); done
    for v in white Transparent ''; do t "background '$v'" 400 $(err invalid_value background) -- $(gen '{"prompt":"x","background":"'"$v"'"}'); done
    t 'background transparent + jpeg' 400 $(err invalid_value background) "'jpeg'" -- \
        $(gen '{"prompt":"x","background":"transparent","output_format":"jpeg"}')
    t 'background transparent + webp' 200 '"background":"transparent"' '"output_format":"webp"' -- \
        $(gen '{"prompt":"x","background":"transparent","output_format":"webp",'"$tiny"'}')
    for v in gif PNG jpg ''; do t "output_format '$v'" 400 $(err invalid_value output_format) -- $(gen '{"prompt":"x","output_format":"'"$v"'"}'); done
    t 'output_compression -1' 400 $(err integer_below_min_value output_compression) -- $(gen '{"prompt":"x","output_compression":-1}')
    t 'output_compression 101' 400 $(err integer_above_max_value output_compression) -- $(gen '{"prompt":"x","output_compression":101}')
    t 'output_compression 50.5' 400 $(err invalid_type output_compression) -- $(gen '{"prompt":"x","output_compression":50.5}')
    t 'output_compression "50"' 400 $(err invalid_type output_compression) -- $(gen '{"prompt":"x","output_compression":"50"}')
    t 'output_compression 0 with jpeg' 200 '"output_format":"jpeg"' -- $(gen '{"prompt":"x","output_compression":0,"output_format":"jpeg",'"$tiny"'}')
    for v in json URL b64 ''; do t "response_format '$v'" 400 $(err invalid_value response_format) -- $(gen '{"prompt":"x","response_format":"'"$v"'"}'); done
    for v in high none LOW ''; do t "moderation '$v'" 400 $(err invalid_value moderation) -- $(gen '{"prompt":"x","moderation":"'"$v"'"}'); done
    t 'stream "true"' 400 $(err invalid_type stream) -- $(gen '{"prompt":"x","stream":"true"}')
    t 'stream 1' 400 $(err invalid_type stream) -- $(gen '{"prompt":"x","stream":1}')
    t 'stream true + response_format url' 400 $(err invalid_value response_format) -- \
        $(gen '{"prompt":"x","stream":true,"response_format":"url"}')
    t 'stream true + a bad value: JSON error, no event stream' 400 $(err integer_above_max_value n) '!event:' -- \
        $(gen '{"prompt":"x","stream":true,"n":11}')
    t 'partial_images -1' 400 $(err integer_below_min_value partial_images) -- $(gen '{"prompt":"x","partial_images":-1}')
    t 'partial_images 4' 400 $(err integer_above_max_value partial_images) -- $(gen '{"prompt":"x","partial_images":4}')
    t 'partial_images 1.5' 400 $(err invalid_type partial_images) -- $(gen '{"prompt":"x","partial_images":1.5}')
    t 'partial_images "1"' 400 $(err invalid_type partial_images) -- $(gen '{"prompt":"x","partial_images":"1"}')
    t 'user 257 characters' 400 $(err string_above_max_length user) -- $(gen '{"prompt":"x","user":"'"$(printf 'u%.0s' $(seq 257))"'"}')
    t 'user a number' 400 $(err invalid_type user) -- $(gen '{"prompt":"x","user":5}')
    t 'user 256 characters' 200 '"b64_json":"' -- $(gen '{"prompt":"x","user":"'"$(printf 'u%.0s' $(seq 256))"'",'"$tiny"'}')

    # ---- moderation (built-in list, src/server/plan.c) ----
    t 'moderation: a built-in term' 400 $(err moderation_blocked prompt) '"type":"image_generation_user_error"' -- \
        $(gen '{"prompt":"a gory scene"}')
    t 'moderation: case and punctuation do not hide it' 400 $(err moderation_blocked prompt) -- $(gen '{"prompt":"GORE!!!"}')
    t 'moderation low: an auto-only term passes' 200 '"b64_json":"' -- $(gen '{"prompt":"a gory scene","moderation":"low",'"$tiny"'}')
    t 'moderation low: a low term is still refused' 400 $(err moderation_blocked prompt) -- \
        $(gen '{"prompt":"CSAM","moderation":"low"}')
    t 'moderation: whole words only' 200 '"b64_json":"' -- $(gen '{"prompt":"a gorge in Essex",'"$tiny"'}')

    # ---- fields that are not there ----
    t 'unknown field' 400 $(err unknown_parameter foo) "'foo'" -- $(gen '{"prompt":"x","foo":1}')
    t 'unknown field (null)' 400 $(err unknown_parameter seeds) -- $(gen '{"prompt":"x","seeds":null}')
    t 'strength on generations' 400 $(err unknown_parameter strength) -- $(gen '{"prompt":"x","strength":0.5}')

    # ---- extension fields ----
    t 'seed is repeated' 200 '"seed":42' '"b64_json":"' -- $(gen '{"prompt":"a cat","seed":42,"steps":2,"sampler":"euler","guidance_scale":2,"negative_prompt":"dog",'"$tiny"'}')
    local first=$LAST
    t 'seed again' 200 '"seed":42' -- $(gen '{"prompt":"a cat","seed":42,"steps":2,"sampler":"euler","guidance_scale":2,"negative_prompt":"dog",'"$tiny"'}')
    if [ "$(sed 's/"created":[0-9]*//' "$first.body")" = "$(sed 's/"created":[0-9]*//' "$LAST.body")" ]; then pass
    else fail 'same seed, byte-identical images' "the two responses differ"; fi
    t 'seed out of range' 400 $(err integer_above_max_value seed) -- $(gen '{"prompt":"x","seed":9007199254740992}')
    t 'steps 0' 400 $(err integer_below_min_value steps) -- $(gen '{"prompt":"x","steps":0}')
    t 'guidance_scale as a string' 400 $(err invalid_type guidance_scale) -- $(gen '{"prompt":"x","guidance_scale":"7"}')
    t 'unknown sampler' 400 $(err invalid_value sampler) "'euler_a'" -- $(gen '{"prompt":"x","sampler":"ddim"}')

    # ---- edits and variations: every malformed multipart body is a 400 naming its param ----
    edits_cases
    for f in image mask input_fidelity; do
        t "edits-only field $f" 400 $(err unknown_parameter $f) '/v1/images/edits' -- $(gen '{"prompt":"x","'$f'":"a"}')
    done
    t 'duplicate field' 400 $(err duplicate_parameter prompt) -- $(gen '{"prompt":"x","prompt":"y"}')
    t 'every optional field null' 200 '"size":"1024x1024"' '"quality":"high"' '"output_format":"png"' '"background":"opaque"' -- \
        $(gen '{"prompt":"x","model":null,"n":null,"size":null,"quality":null,"style":null,"background":null,"output_format":null,"output_compression":null,"response_format":null,"moderation":null,"stream":null,"partial_images":null,"user":null}')

    # ---- not JSON, not an object, not a JSON body ----
    t 'empty body' 400 $(err invalid_json -) -- -X POST "$A/v1/images/generations"
    t 'truncated JSON' 400 $(err invalid_json -) -- $(gen '{"prompt":"x",')
    t 'trailing comma' 400 $(err invalid_json -) -- $(gen '{"prompt":"x",}')
    t 'bare word' 400 $(err invalid_json -) -- $(gen 'nul')
    t 'a comment after the object' 400 $(err invalid_json -) -- $(gen '{"prompt":"x"} // c')
    t 'two objects' 400 $(err invalid_json -) -- $(gen '{"prompt":"x"}{}')
    t 'an array' 400 $(err invalid_json -) 'array' -- $(gen '[{"prompt":"x"}]')
    t 'a string' 400 $(err invalid_json -) -- $(gen '"a cat"')
    t 'a number' 400 $(err invalid_json -) -- $(gen '42')
    t 'null' 400 $(err invalid_json -) -- $(gen 'null')
    t 'nested 17 deep' 400 $(err invalid_json -) -- $(gen '{"prompt":"x","a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"p":{"q":{}}}}}}}}}}}}}}}}}}')
    t 'form-urlencoded body' 400 $(err invalid_json -) -- "$A/v1/images/generations" -d 'prompt=a+cat'
    t 'multipart body' 400 $(err invalid_json -) -- "$A/v1/images/generations" -F 'prompt=a cat'

    # ---- body size: 1 MiB is the limit; refused on Content-Length before the body is read ----
    t 'body of exactly 1 MiB' 200 '"b64_json":"' 'U:1048576' -- "$A/v1/images/generations" -H 'Expect:' --data-binary "@$(body exact_1mib)"
    t '413 on Content-Length, no Expect' 413 $(err request_too_large -) -- \
        "$A/v1/images/generations" -H 'Expect:' --data-binary "@$(body over_1mib)"
    t '413 before 100-continue (body never sent)' 413 $(err request_too_large -) 'U:0' -- \
        "$A/v1/images/generations" -H 'Expect: 100-continue' --data-binary "@$(body over_1mib)"
    t '413 for a chunked body past 1 MiB' 413 $(err request_too_large -) -- \
        "$A/v1/images/generations" -H 'Transfer-Encoding: chunked' --data-binary "@$(body over_1mib)"
    t '413 on a Content-Length header alone' 413 $(err request_too_large -) -- \
        "$A/v1/images/generations" -H 'Content-Length: 2000000' -d '{"prompt":"x"}' --max-time 10
}

# Server B: --api-key, --api-keys-file, --rate-limit 3, --max-queue 1, --moderation-file,
# --public-url, --no-revise-prompt. Each key has its own rate bucket (3 requests at once).
cases_auth() {
    local IFS=$'\n'
    local tiny='"size":"64x64","quality":"low"' G="$B/v1/images/generations"
    local J='Content-Type: application/json'

    t 'no Authorization → 401' 401 $(err missing_api_key -) -- "$G" -H "$J" -d '{"prompt":"x"}'
    t 'empty Bearer → 401' 401 $(err missing_api_key -) -- "$G" -H "$J" -H 'Authorization: Bearer ' -d '{"prompt":"x"}'
    t 'Basic auth → 401' 401 $(err missing_api_key -) -- "$G" -H "$J" -H 'Authorization: Basic c2stZTJlOg==' -d '{"prompt":"x"}'
    t 'wrong key → 401' 401 $(err invalid_api_key -) -- "$G" -H "$J" -H 'Authorization: Bearer sk-wrong' -d '{"prompt":"x"}'
    t 'a prefix of the key → 401' 401 $(err invalid_api_key -) -- "$G" -H "$J" -H 'Authorization: Bearer sk-e2e-mai' -d '{"prompt":"x"}'
    t 'the key and more → 401' 401 $(err invalid_api_key -) -- "$G" -H "$J" -H 'Authorization: Bearer sk-e2e-mainX' -d '{"prompt":"x"}'
    t 'the page needs no key' 200 'id="generate"' '!sk-e2e' -- "$B/"
    t 'the page script needs no key' 200 'localStorage' '!sk-e2e' -- "$B/playground.js"
    t 'auth comes before validation' 401 $(err missing_api_key -) -- "$G" -H "$J" -d '{"n":0}'
    t 'auth comes before the 413' 401 $(err missing_api_key -) -- "$G" -H 'Expect: 100-continue' --data-binary "@$(body over_1mib)"
    t 'right key → 200 (no revision: revised_prompt is the prompt)' 200 '"b64_json":"' '"revised_prompt":"a cat"' -- \
        "$G" -H "$J" -H 'Authorization: Bearer sk-e2e-main' -d '{"prompt":"a cat","size":"64x64"}'
    t 'lower-case "bearer" → 200' 200 '"b64_json":"' -- \
        "$G" -H "$J" -H 'authorization: bearer sk-e2e-main' -d '{"prompt":"a cat",'"$tiny"'}'
    t 'a key from --api-keys-file, bare path' 200 '"b64_json":"' -- \
        "$B/images/generations" -H "$J" -H 'Authorization: Bearer sk-e2e-file' -d '{"prompt":"a cat",'"$tiny"'}'
    t 'a commented-out line of the keys file is no key' 401 $(err invalid_api_key -) -- \
        "$G" -H "$J" -H 'Authorization: Bearer sk-e2e-commented' -d '{"prompt":"x"}'
    t 'GET /v1/models without a key → 401' 401 $(err missing_api_key -) -- "$B/v1/models"
    t 'GET /v1/models/sd1 with a wrong key → 401' 401 $(err invalid_api_key -) -- -H 'Authorization: Bearer nope' "$B/v1/models/sd1"
    t 'GET /v1/models with the key' 200 '"id":"sd1"' -- -H 'Authorization: Bearer sk-e2e-main' "$B/v1/models"
    t 'GET /health needs no key' 200 '"status":"ok"' -- "$B/health"
    t 'GET /metrics needs no key' 200 'imagine_requests_total{route="generations",' -- "$B/metrics"
    t 'unknown route without a key → 404' 404 -- "$B/nope"

    # url on --public-url; the file itself needs no key
    t 'url with --public-url' 200 '"url":"https://images.example.test/base/v1/images/files/' -- \
        "$G" -H "$J" -H 'Authorization: Bearer sk-e2e-main' -d '{"prompt":"a cat","response_format":"url","output_format":"webp",'"$tiny"'}'
    local name
    name=$(sed -n 's|.*"url":"https://images.example.test/base/v1/images/files/\([0-9a-f]*\.webp\)".*|\1|p' "$LAST.body")
    t 'the url file, no key' 200 'H:content-type: image/webp' 'H:x-content-type-options: nosniff' -- "$B/v1/images/files/${name:-none}"
    t 'the url file, HEAD' 200 'H:content-type: image/webp' -- -I "$B/v1/images/files/${name:-none}"

    # --moderation-file: "octopus" (auto), "low: kraken", "giant squid"; built-ins still apply
    local K='Authorization: Bearer sk-e2e-mod'
    t 'moderation file: a term' 400 $(err moderation_blocked prompt) -- "$G" -H "$J" -H "$K" -d '{"prompt":"an Octopus"}'
    t 'moderation file: a term at low passes' 200 '"b64_json":"' -- "$G" -H "$J" -H "$K" -d '{"prompt":"an octopus","moderation":"low",'"$tiny"'}'
    t 'moderation file: a low: term at low' 400 $(err moderation_blocked prompt) -- "$G" -H "$J" -H "$K" -d '{"prompt":"a kraken","moderation":"low"}'
    t 'moderation file: two words, anything between' 400 $(err moderation_blocked prompt) -- "$G" -H "$J" -H "$K" -d '{"prompt":"a GIANT--squid"}'
    t 'moderation file: built-ins still apply' 400 $(err moderation_blocked prompt) -- "$G" -H "$J" -H "$K" -d '{"prompt":"gore"}'

    # --rate-limit 3: a bucket of 3 per key; refusals before the bucket (400, 401) take nothing from it
    K='Authorization: Bearer sk-e2e-rate'
    t 'rate: a 400 takes no token' 400 $(err integer_above_max_value n) -- "$G" -H "$J" -H "$K" -d '{"prompt":"x","n":11}'
    local i
    for i in 1 2 3; do
        t "rate: request $i of 3" 200 '"b64_json":"' -- "$G" -H "$J" -H "$K" -d '{"prompt":"a cat",'"$tiny"'}'
    done
    t 'rate: the 4th → 429' 429 $(err rate_limit_exceeded -) '"type":"requests"' 'H:retry-after: ' -- \
        "$G" -H "$J" -H "$K" -d '{"prompt":"a cat",'"$tiny"'}'
    t 'rate: a bad request is still a 400' 400 $(err invalid_value size) -- "$G" -H "$J" -H "$K" -d '{"prompt":"x","size":"1x1"}'
    t 'rate: other keys are not limited' 200 '"b64_json":"' -- \
        "$G" -H "$J" -H 'Authorization: Bearer sk-e2e-file' -d '{"prompt":"a cat",'"$tiny"'}'
}

# The multipart refusals of /v1/images/edits and /variations (issue 15 item 3), on server A. Images come
# from a generation made here (a 64x64 PNG), a 32x32 one for the mask of another size.
edits_cases() {
    local IFS=$'\n' img=$T/bodies/in.png small=$T/bodies/small.png big=$T/bodies/big.bin i
    local E=$A/v1/images/edits V=$A/v1/images/variations
    # through t, so that /metrics' expected counts include them
    t 'edits: an input image' 200 '"b64_json":"' -- $(gen '{"prompt":"a cat","size":"64x64","quality":"low","seed":1}')
    sed 's/.*"b64_json":"\([^"]*\)".*/\1/' "$LAST.body" | base64 -d >"$img"
    t 'edits: a 128x64 image' 200 '"b64_json":"' -- $(gen '{"prompt":"a dog","size":"128x64","quality":"low"}')
    sed 's/.*"b64_json":"\([^"]*\)".*/\1/' "$LAST.body" | base64 -d >"$small"
    t 'edits: no boundary' 400 $(err invalid_content_type -) -- -H 'Content-Type: multipart/form-data' --data-binary 'x' "$E"
    t 'edits: truncated part' 400 $(err invalid_multipart prompt) -- -H 'Content-Type: multipart/form-data; boundary=zz' \
        --data-binary $'--zz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na cat' "$E"
    t 'edits: no image' 400 $(err missing_required_parameter image) -- -F prompt=x "$E"
    t 'edits: no prompt' 400 $(err missing_required_parameter prompt) -- -F "image=@$img" "$E"
    t 'edits: a part that is not an image' 400 $(err invalid_image image) -- -F "image=@$T/keys" -F prompt=x "$E"
    t 'edits: a mask of another size' 400 $(err invalid_value mask) '64x64' -- -F "image=@$img" -F "mask=@$small" -F prompt=x "$E"
    t 'edits: 17 images' 400 $(err too_many_images image) -- $(for i in $(seq 17); do printf '%s\n' -F "image[]=@$img"; done) -F prompt=x "$E"
    t 'edits: a field given twice' 400 $(err duplicate_parameter prompt) -- -F "image=@$img" -F prompt=x -F prompt=y "$E"
    t 'edits: image given twice' 400 $(err duplicate_parameter image) -- -F "image=@$img" -F "image=@$img" -F prompt=x "$E"
    t 'edits: bad n' 400 $(err integer_above_max_value n) -- -F "image=@$img" -F prompt=x -F n=11 "$E"
    t 'edits: bad input_fidelity' 400 $(err invalid_value input_fidelity) -- -F "image=@$img" -F prompt=x -F input_fidelity=max "$E"
    t 'edits: style is not an edits field' 400 $(err unknown_parameter style) -- -F "image=@$img" -F prompt=x -F style=vivid "$E"
    t 'edits: strength 2' 400 $(err decimal_above_max_value strength) -- -F "image=@$img" -F prompt=x -F strength=2 "$E"
    t 'edits: body over the limit (Content-Length) → 413' 413 $(err request_too_large -) 'U:0' -- \
        -H 'Content-Type: multipart/form-data; boundary=zz' -H 'Content-Length: 900000000' -H 'Expect: 100-continue' \
        --data-binary 'x' "$E"
    head -c $((50 * 1048576 + 1)) /dev/zero >"$big"
    t 'edits: an image over 50 MiB' 400 $(err image_too_large image) -- -F "image=@$big" -F prompt=x "$E"
    rm -f "$big"
    t 'variations: prompt is not a variations field' 400 $(err unknown_parameter prompt) -- -F "image=@$img" -F prompt=x "$V"
    t 'variations: no image' 400 $(err missing_required_parameter image) -- -F n=1 "$V"
}
