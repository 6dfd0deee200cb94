#include "names.h"
#include "err.h"

#include <string.h>

static int is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* one path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* ; returns length or -1 */
static int component(const char *s)
{
    const char *p = s;
    if (!is_alnum_lower(*p)) return -1;
    while (is_alnum_lower(*p))
        p++;
    for (;;) {
        const char *q = p;
        if (*q == '.')
            q++;
        else if (*q == '_') {
            q++;
            if (*q == '_') q++;
        } else if (*q == '-') {
            while (*q == '-')
                q++;
        } else
            break;
        if (!is_alnum_lower(*q)) return -1;
        while (is_alnum_lower(*q))
            q++;
        p = q;
    }
    return (int)(p - s);
}

int name_valid(const char *name, size_t max_len)
{
    if (!name || !*name) return WERR_INVALID;
    size_t len = strlen(name);
    if (max_len && len > max_len) return WERR_TOOBIG;
    const char *p = name;
    for (;;) {
        int n = component(p);
        if (n < 0) return WERR_INVALID;
        p += n;
        if (*p == 0) return 0;
        if (*p != '/') return WERR_INVALID;
        p++;
    }
}

size_t name_components(const char *name)
{
    size_t n = 1;
    for (; *name; name++)
        if (*name == '/') n++;
    return n;
}

int tag_valid(const char *tag, size_t max_len)
{
    if (!tag || !*tag) return WERR_INVALID;
    size_t len = strlen(tag);
    if (max_len && len > max_len) return WERR_TOOBIG;
    for (size_t i = 0; i < len; i++) {
        char c = tag[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (i > 0 && (c == '.' || c == '-'));
        if (!ok) return WERR_INVALID;
    }
    return 0;
}

int uuid_valid(const char *id)
{
    if (!id || strlen(id) != 36) return WERR_INVALID;
    for (int i = 0; i < 36; i++) {
        char c = id[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return WERR_INVALID;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return WERR_INVALID;
        }
    }
    return 0;
}
