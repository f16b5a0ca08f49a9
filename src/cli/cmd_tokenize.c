/* cmd_tokenize.c - placeholder until the module behind it lands. */
#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("tokenize", DESK_EXIT_FAIL, "not built yet");
}
