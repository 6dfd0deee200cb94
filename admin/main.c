/* main.c — the `wharf` command: one binary, subcommands from one table.
 *
 * With no subcommand it serves as the web server started it: a FastCGI
 * listening socket on fd 0 (spawn-fcgi, mod_fcgid) runs one accept loop; a
 * GATEWAY_INTERFACE in the environment (plain CGI) serves one request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../fcgi/pool.h"
#include "../fcgi/transport.h"
#include "../lib/config.h"
#include "token.h"
#include "repository.h"
#include "gc.h"
#include "catalog.h"
#include "services.h"
#include "notify.h"

#ifndef WHARF_VERSION
#define WHARF_VERSION "0.1.0"
#endif

#define DEFAULT_CONFIG CLI_DEFAULT_CONFIG

extern char **environ;

struct subcommand {
    const char *name;
    const char *sub;                   /* second word ("config check"), or NULL */
    int (*run)(int argc, char **argv); /* argv[0] is the (last) command word */
    const char *args;
    const char *help;
};

static int cmd_serve(int argc, char **argv);
static int cmd_config_check(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

/* Add subcommands here (garbage-collect, htpasswd, token, ...). */
static const struct subcommand commands[] = {
    {"serve", NULL, cmd_serve, "[-c FILE | FILE] [--prefork]",
     "run the FastCGI pool (fastcgi.listen, or a socket on fd 0)"},
    {"config", "check", cmd_config_check, "[-c FILE | FILE]",
     "validate the configuration and print it resolved, secrets masked"},
    {"garbage-collect", NULL, cmd_garbage_collect, "[-d] [-m] [--online] [-c] FILE",
     "delete blobs (-m: and untagged manifests) no manifest references"},
    {"repository", "delete", cmd_repository_delete, "[-c FILE] [--dry-run] NAME",
     "delete a whole repository (its blobs are left to garbage-collect)"},
    {"catalog", "rebuild", cmd_catalog_rebuild, "[-c FILE] [--dry-run]",
     "rebuild the repository index (_catalog, list, search) from the storage"},
    {"token", "keygen", cmd_token_keygen, "[--alg ES256|RS256|EdDSA] [-o PREFIX]",
     "token service signing key, its certificate and JWKS"},
    {"notify", NULL, cmd_notify, "[-c FILE] [--once]",
     "deliver the queued notifications (where no `wharf serve` pool runs the sender)"},
    {"version", NULL, cmd_version, "", "print the version"},
    {"help", NULL, cmd_help, "", "this text"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: wharf <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s %s", commands[i].name, commands[i].sub ? " " : "",
                 commands[i].sub ? commands[i].sub : "", commands[i].args);
        fprintf(f, "  %-40s %s\n", name, commands[i].help);
    }
    fprintf(f,
            "\nThe configuration is -c FILE, else $WHARF_CONFIG, else %s if it exists;\n"
            "REGISTRY_<SECTION>_<KEY> variables override it (a file is optional then).\n"
            "Started by a web server with no command, wharf serves FastCGI on fd 0\n"
            "(spawn-fcgi, mod_fcgid) or, with GATEWAY_INTERFACE set, one CGI request.\n",
            DEFAULT_CONFIG);
}

/* Parse [-c FILE | --config FILE | --config=FILE | FILE] plus flags named in
 * flags (NULL-terminated; each found sets the matching int). Returns 0 or 2. */
static int parse_config_args(int argc, char **argv, const char **path, const char *const *flags,
                             int *flag_set)
{
    *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int known = 0;
        for (int k = 0; flags && flags[k]; k++) {
            if (strcmp(a, flags[k]) == 0) {
                flag_set[k] = 1;
                known = 1;
            }
        }
        if (known) continue;
        int c = cli_config_arg(argv[0], argc, argv, &i, path);
        if (c == 2) return 2;
        if (c) continue;
        if (a[0] != '-' && !*path) {
            *path = a; /* the reference's `registry serve config.yml` */
        } else {
            fprintf(stderr, "wharf %s: unexpected argument %s\n", argv[0], a);
            return 2;
        }
    }
    if (!*path) *path = cli_config_path(NULL);
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    static const char *const flags[] = {"--prefork", NULL};
    int set[1] = {0};
    const char *path;
    int rc = parse_config_args(argc, argv, &path, flags, set);
    if (rc) return rc;
    struct pool_opts o = {.config_path = path, .envp = environ, .inherit_fd = -1};
    o.ntasks = services_tasks(&o.tasks);
    if (services_init() != 0) {
        fprintf(stderr, "wharf serve: cannot map the shared state: %s\n", strerror(errno));
        return 1;
    }
    if (pool_fd_is_listener(0)) {
        /* spawn-fcgi / mod_fcgid manage the processes: one loop here unless
         * --prefork asks for our own pool on the inherited socket. */
        o.inherit_fd = 0;
        o.single = !set[0];
    }
    return pool_serve(&o);
}

static int cmd_config_check(int argc, char **argv)
{
    const char *path;
    int rc = parse_config_args(argc, argv, &path, NULL, NULL);
    if (rc) return rc;
    struct config *cfg = cli_config_load(path);
    if (!cfg) return 1;
    config_dump(cfg, stdout);
    config_free(cfg);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_version(int argc, char **argv)
{
    printf("wharf %s\n", WHARF_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    usage(stdout);
    return 0;
}

static const struct subcommand *find_command(int argc, char **argv, int *consumed)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct subcommand *c = &commands[i];
        if (strcmp(argv[1], c->name) != 0) continue;
        if (!c->sub) {
            *consumed = 1;
            return c;
        }
        if (argc > 2 && strcmp(argv[2], c->sub) == 0) {
            *consumed = 2;
            return c;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !find_command(argc, argv, &(int){0})) {
        if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0))
            return cmd_version(argc - 1, argv + 1);
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
            return cmd_help(argc - 1, argv + 1);
        /* Started by a web server: FastCGI socket on fd 0, or CGI. A CGI
         * query without '=' arrives as arguments, so argc is not checked. */
        if (pool_fd_is_listener(0)) {
            struct pool_opts o = {.config_path = cli_config_path(NULL),
                                  .envp = environ,
                                  .inherit_fd = 0,
                                  .single = 1};
            return pool_serve(&o);
        }
        const char *gi = getenv("GATEWAY_INTERFACE");
        if (gi && *gi) return transport_cgi_main(cli_config_path(NULL), environ);
        if (argc >= 2) {
            if (strcmp(argv[1], "config") == 0)
                fprintf(stderr, "wharf: unknown config command (try: wharf config check)\n");
            else
                fprintf(stderr, "wharf: unknown command '%s'\n", argv[1]);
        }
        usage(stderr);
        return 2;
    }
    int consumed = 0;
    const struct subcommand *c = find_command(argc, argv, &consumed);
    return c->run(argc - consumed, argv + consumed);
}
