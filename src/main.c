/* main.c — the imagine command: subcommands dispatch to the library. serve, generate, bench, version. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"
#include "imagine.h"
#include "server/server.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: imagine <command> [options]\n"
            "  generate --model DIR --prompt TEXT [...]   text to image (imagine generate --help)\n"
            "  bench ops [--reps N]   time each engine op on SD 512x512 shapes against the measured peak\n"
            "  bench --model DIR [--width W] [--height H] [--steps N] [--n N] [--cfg F] [--reps N]\n"
            "                         per-stage ms, GFLOP/s and peak RSS of a whole generation\n"
            "  version                print the version\n"
            "  serve [--model [ID=]PATH ...] [...]   the OpenAI / Gradient image API (imagine serve --help)\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("imagine %s\n", IG_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "generate")) return ig_cli_generate(argc - 2, argv + 2);
    if (!strcmp(argv[1], "serve")) return ig_cli_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench")) {
        if (argc >= 3 && !strcmp(argv[2], "ops")) return ig_bench_ops(argc - 3, argv + 3);
        if (argc >= 3 && !strncmp(argv[2], "--", 2)) return ig_bench_model(argc - 2, argv + 2);
        fprintf(stderr, "imagine bench: unknown target '%s' (ops, --model DIR)\n", argc >= 3 ? argv[2] : "");
        return 2;
    }
    fprintf(stderr, "imagine: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
