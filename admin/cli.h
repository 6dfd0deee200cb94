/* cli.h — what every `wharf` subcommand shares: finding and loading the
 * configuration the way `wharf serve` does. */
#ifndef WHARF_CLI_H
#define WHARF_CLI_H

#include "../lib/config.h"

#define CLI_DEFAULT_CONFIG "/etc/wharf/config.yml"

/* cli_config_path: given (-c FILE) if not NULL, else $WHARF_CONFIG, else the
 * default file when it exists, else NULL (defaults + REGISTRY_* only). */
const char *cli_config_path(const char *given);
/* cli_config_load: load the configuration cli_config_path(given) names, with
 * the environment's REGISTRY_* overrides. On error prints "[file:line]
 * key: reason" to stderr and returns NULL; else the caller's config_free. */
struct config *cli_config_load(const char *given);

/* cli_config_arg: when argv[*i] is "-c FILE", "--config FILE" or
 * "--config=FILE", set *path, advance *i past what it consumed and return 1;
 * return 0 for any other argument; 2 (usage error, reported on stderr with
 * cmd) when the file is missing after -c/--config. */
int cli_config_arg(const char *cmd, int argc, char **argv, int *i, const char **path);

#endif
