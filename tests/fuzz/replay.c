/* replay.c — a main() for a fuzz target without libFuzzer: runs every file
 * of the directories (or files) given on the command line through
 * LLVMFuzzerTestOneInput, once each, in name order, and prints one TAP line.
 * A crash, a sanitizer report or a leak ends the program with a non-zero
 * status (tests/run.sh counts it as a failure); inputs that libFuzzer once
 * found crashing live in the corpus, so this is the regression test. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (len == cap && !(buf = realloc(buf, cap *= 2))) abort();
        size_t r = fread(buf + len, 1, cap - len, f);
        if (r == 0) break;
        len += r;
    }
    int bad = ferror(f);
    fclose(f);
    if (!bad) {
        /* an exact-size copy, so ASan sees a read one past the input */
        uint8_t *in = malloc(len ? len : 1);
        memcpy(in, buf, len);
        LLVMFuzzerTestOneInput(in, len);
        free(in);
    }
    free(buf);
    return bad ? -1 : 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    size_t n = 0;
    int errors = 0;
    printf("1..1\n");
    fflush(stdout);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            printf("# %s: %s\n", argv[i], strerror(errno));
            errors++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            errors += run_file(argv[i]) != 0;
            n++;
            continue;
        }
        struct dirent **ents;
        int ne = scandir(argv[i], &ents, NULL, by_name);
        if (ne < 0) {
            errors++;
            continue;
        }
        for (int j = 0; j < ne; j++) {
            if (ents[j]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], ents[j]->d_name);
                if (getenv("FUZZ_REPLAY_VERBOSE")) fprintf(stderr, "%s\n", path);
                if (run_file(path) != 0) {
                    printf("# %s: unreadable\n", path);
                    errors++;
                }
                n++;
            }
            free(ents[j]);
        }
        free(ents);
    }
    if (errors || n == 0)
        printf("not ok 1 - %s: %zu inputs, %d unreadable\n", name, n, errors);
    else
        printf("ok 1 - %s: %zu inputs replayed\n", name, n);
    return errors || n == 0;
}
