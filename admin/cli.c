#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

const char *cli_config_path(const char *given)
{
    if (given) return given;
    const char *e = getenv("WHARF_CONFIG");
    if (e && *e) return e;
    if (access(CLI_DEFAULT_CONFIG, F_OK) == 0) return CLI_DEFAULT_CONFIG;
    return NULL;
}

struct config *cli_config_load(const char *given)
{
    struct config *cfg = NULL;
    char err[1024] = "";
    if (config_load(cli_config_path(given), environ, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err[0] ? err : "invalid configuration");
        return NULL;
    }
    return cfg;
}
