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

#endif
