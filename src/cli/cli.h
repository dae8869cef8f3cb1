/* cli.h — the `imagine` subcommands other than bench (bench/bench.h). */
#ifndef IG_CLI_H
#define IG_CLI_H

int ig_cli_generate(int argc, char **argv); /* argv after "generate" */

#endif
