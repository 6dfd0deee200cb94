/* xml.c — the little XML the object stores answer, see xml.h. */
#include "xml.h"

#include <stdlib.h>
#include <string.h>

/* xml_find: the text between <tag> and </tag> in [s, end); *next after it. */
int xml_find(const char *s, const char *end, const char *tag, const char **vs, const char **ve,
             const char **next)
{
    size_t tl = strlen(tag);
    const char *p = s;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || (size_t)(end - lt) < tl + 2) return 0;
        if (strncmp(lt + 1, tag, tl) == 0 &&
            (lt[tl + 1] == '>' || lt[tl + 1] == ' ' || lt[tl + 1] == '/')) {
            const char *gt = memchr(lt, '>', (size_t)(end - lt));
            if (!gt) return 0;
            if (gt[-1] == '/') { /* <tag/> */
                *vs = *ve = gt + 1;
                if (next) *next = gt + 1;
                return 1;
            }
            const char *q = gt + 1;
            while (q < end) {
                const char *c = memchr(q, '<', (size_t)(end - q));
                if (!c || (size_t)(end - c) < tl + 3) return 0;
                if (c[1] == '/' && strncmp(c + 2, tag, tl) == 0 && c[tl + 2] == '>') {
                    *vs = gt + 1;
                    *ve = c;
                    if (next) *next = c + tl + 3;
                    return 1;
                }
                q = c + 1;
            }
            return 0;
        }
        p = lt + 1;
    }
    return 0;
}

/* xml text [s, e) unescaped onto the arena */
char *xml_text(struct arena *a, const char *s, const char *e)
{
    char *out = arena_alloc(a, (size_t)(e - s) + 1), *o = out;
    while (s < e) {
        if (*s != '&') {
            *o++ = *s++;
            continue;
        }
        const char *semi = memchr(s, ';', (size_t)(e - s));
        if (!semi || semi - s > 10) {
            *o++ = *s++;
            continue;
        }
        size_t l = (size_t)(semi - s - 1);
        const char *n = s + 1;
        if (l == 3 && !strncmp(n, "amp", 3))
            *o++ = '&';
        else if (l == 2 && !strncmp(n, "lt", 2))
            *o++ = '<';
        else if (l == 2 && !strncmp(n, "gt", 2))
            *o++ = '>';
        else if (l == 4 && !strncmp(n, "quot", 4))
            *o++ = '"';
        else if (l == 4 && !strncmp(n, "apos", 4))
            *o++ = '\'';
        else if (l >= 2 && n[0] == '#') {
            unsigned long cp = n[1] == 'x' ? strtoul(n + 2, NULL, 16) : strtoul(n + 1, NULL, 10);
            if (cp < 0x80)
                *o++ = (char)cp;
            else if (cp < 0x800) {
                *o++ = (char)(0xc0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xe0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
        } else {
            memcpy(o, s, l + 2);
            o += l + 2;
        }
        s = semi + 1;
    }
    *o = '\0';
    return out;
}

char *xml_get(struct arena *a, const char *s, const char *e, const char *tag)
{
    const char *vs, *ve;
    return xml_find(s, e, tag, &vs, &ve, NULL) ? xml_text(a, vs, ve) : NULL;
}

int xml_escape(struct buf *b, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '&': rc = buf_puts(b, "&amp;"); break;
        case '<': rc = buf_puts(b, "&lt;"); break;
        case '>': rc = buf_puts(b, "&gt;"); break;
        case '"': rc = buf_puts(b, "&quot;"); break;
        case '\'': rc = buf_puts(b, "&apos;"); break;
        default: rc = buf_append(b, s, 1);
        }
    }
    return rc;
}
