/* fuzz_htpasswd: an htpasswd file (auth.htpasswd.path, the token service's
 * users) and the credentials of an Authorization: Basic header
 * (handlers/auth_htpasswd.c). Input: the first line is the header value,
 * the rest the file. */
#include "fuzz.h"

#include "../../handlers/htpasswd.h"
#include "../../lib/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *hdr = fuzz_split(&data, &size);
    struct arena *a = arena_new();
    char *user = NULL, *pass = NULL;
    if (auth_basic_parse(a, hdr, &user, &pass) == 0 && (!user || !pass)) abort();
    char path[64], err[256];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd >= 0) {
        struct htpasswd *h = NULL;
        if (htpasswd_load(path, &h, err, sizeof err) == 0) {
            (void)htpasswd_count(h);
            /* the lookup, not bcrypt itself (a hash costs milliseconds) */
            if (user) (void)htpasswd_hash(h, user);
            htpasswd_free(h);
        }
        close(fd);
    }
    arena_free(a);
    free(hdr);
    return 0;
}
