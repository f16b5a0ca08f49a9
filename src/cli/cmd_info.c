/* cmd_info.c - placeholder until the module behind it lands. */
#include "cli.h"

int cmd_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("info", DESK_EXIT_FAIL, "not built yet");
}
