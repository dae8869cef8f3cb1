/* main.c — the imagine command: subcommands dispatch to the library. Today: bench ops, version. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "imagine.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: imagine <command> [options]\n"
            "  bench ops [--reps N]   time each engine op on SD 512x512 shapes against the measured peak\n"
            "  version                print the version\n"
            "(serve and generate come with the pipeline and server issues)\n");
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
    if (!strcmp(argv[1], "bench")) {
        if (argc >= 3 && !strcmp(argv[2], "ops")) return ig_bench_ops(argc - 3, argv + 3);
        fprintf(stderr, "imagine bench: unknown target '%s' (ops)\n", argc >= 3 ? argv[2] : "");
        return 2;
    }
    fprintf(stderr, "imagine: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
