/* fuzz.h — what every libFuzzer target in tests/fuzz/ shares. A target
 * defines LLVMFuzzerTestOneInput only; it is linked either with libFuzzer
 * (make fuzz: clang -fsanitize=fuzzer) or with replay.c (make tests-bin: any
 * compiler), which runs every file of the seed corpus as a regression test.
 * Targets keep no state between inputs except what they build once and keep
 * reachable (keys, an empty configuration), so every input replays alone. */
#ifndef WHARF_FUZZ_H
#define WHARF_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_strndup: the input as a NUL-terminated string (malloc'd; an embedded
 * NUL ends it early, as it would in a header or a C string parameter). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* fuzz_split: cut [*data, *data+*size) at the first "\n" (or the end) and
 * return the part before as a malloc'd string; the rest stays in data/size. */
static inline char *fuzz_split(const uint8_t **data, size_t *size)
{
    const uint8_t *nl = memchr(*data, '\n', *size);
    size_t n = nl ? (size_t)(nl - *data) : *size;
    char *s = fuzz_strndup(*data, n);
    *data += nl ? n + 1 : n;
    *size -= nl ? n + 1 : n;
    return s;
}

/* fuzz_file: the bytes as a file, for parsers that read a path (config,
 * htpasswd, JWKS): a memfd, named by /proc/self/fd/N written into path.
 * Returns the fd (the caller closes it) or -1. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}
#endif
