/* fuzz_config: the configuration (lib/config*.c): a config.yml read with
 * libyaml, REGISTRY_* environment overrides on top, validation, and the dump
 * of what loaded. Input: environment lines ("REGISTRY_X=v"), a line "%%",
 * then the YAML; without a "%%" line the whole input is the YAML. */
#include "fuzz.h"

#include "../../lib/config.h"
#include "../../lib/log.h"

#define MAX_ENV 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *env[MAX_ENV + 1];
    size_t nenv = 0;
    const uint8_t *yaml = data;
    size_t ylen = size;
    static const char sep[] = "\n%%\n";
    for (size_t i = 0; i + 4 <= size; i++)
        if (!memcmp(data + i, sep, 4)) {
            yaml = data + i + 4;
            ylen = size - i - 4;
            const uint8_t *p = data;
            size_t n = i + 1; /* up to and with the newline before %% */
            while (n && nenv < MAX_ENV) {
                char *line = fuzz_split(&p, &n);
                if (*line)
                    env[nenv++] = line;
                else
                    free(line);
            }
            break;
        }
    env[nenv] = NULL;
    log_init(LOG_ERROR, 0, NULL);
    char path[64], err[512];
    int fd = fuzz_file(yaml, ylen, path, sizeof path);
    if (fd >= 0) {
        struct config *c = NULL;
        if (config_load(path, env, &c, err, sizeof err) == 0) {
            FILE *out = fopen("/dev/null", "w");
            if (out) {
                config_dump(c, out);
                fclose(out);
            }
            config_free(c);
        } else {
            (void)strlen(err);
        }
        close(fd);
    }
    /* the environment alone, as make run without CONFIG */
    struct config *c = NULL;
    if (nenv && config_load(NULL, env, &c, err, sizeof err) == 0) config_free(c);
    for (size_t i = 0; i < nenv; i++)
        free(env[i]);
    return 0;
}
