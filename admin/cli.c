#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cli_config_arg(const char *cmd, int argc, char **argv, int *i, const char **path)
{
    const char *a = argv[*i];
    if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "wharf %s: %s needs a file\n", cmd, a);
            return 2;
        }
        *path = argv[++*i];
        return 1;
    }
    if (!strncmp(a, "--config=", 9)) {
        *path = a + 9;
        return 1;
    }
    return 0;
}
