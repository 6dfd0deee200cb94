/* azsign.c — Azure SharedKey and service SAS signing, see azsign.h. The
 * recipes: "Authorize with Shared Key" (Blob, version 2015-02-21 and later)
 * and "Create a service SAS" (version 2020-12-06 and later) of the Azure
 * Storage REST documentation. */
#include "azsign.h"

#include "err.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* the standard headers of the string-to-sign, in its order */
static const char *const STD_HDRS[] = {
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
};

#define AZSIGN_MAX_PARAMS 64

static int pcmp(const void *x, const void *y)
{
    const struct azsign_param *a = x, *b = y;
    return strcmp(a->name, b->name);
}

/* a header value trimmed, inner runs of whitespace folded to one space */
static int put_trimmed(struct buf *out, const char *v)
{
    int rc = 0, sp = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v && rc == 0; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            sp = 1;
            continue;
        }
        if (sp) rc = buf_append(out, " ", 1);
        sp = 0;
        if (rc == 0) rc = buf_append(out, v, 1);
    }
    return rc;
}

static char *lower_dup(struct arena *a, const char *s)
{
    char *o = arena_strdup(a, s);
    for (char *p = o; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return o;
}

int azsign_string_to_sign(const char *method, const char *account, const char *path,
                          const struct azsign_param *query, size_t nquery,
                          const struct azsign_param *hdrs, size_t nhdrs, struct buf *out)
{
    if (nquery > AZSIGN_MAX_PARAMS || nhdrs > AZSIGN_MAX_PARAMS) return WERR_INVALID;
    struct arena *a = arena_new();
    int rc = buf_printf(out, "%s\n", method);
    for (size_t s = 0; s < sizeof STD_HDRS / sizeof *STD_HDRS && rc == 0; s++) {
        const char *v = "";
        for (size_t i = 0; i < nhdrs; i++)
            if (!strcasecmp(hdrs[i].name, STD_HDRS[s]) && hdrs[i].value) v = hdrs[i].value;
        if (s == 2 && !strcmp(v, "0")) v = ""; /* Content-Length 0 signs as empty */
        rc = put_trimmed(out, v);
        if (rc == 0) rc = buf_append(out, "\n", 1);
    }
    struct azsign_param xs[AZSIGN_MAX_PARAMS];
    size_t nx = 0;
    for (size_t i = 0; i < nhdrs; i++)
        if (!strncasecmp(hdrs[i].name, "x-ms-", 5))
            xs[nx++] = (struct azsign_param){lower_dup(a, hdrs[i].name), hdrs[i].value};
    qsort(xs, nx, sizeof *xs, pcmp);
    for (size_t i = 0; i < nx && rc == 0; i++) {
        rc = buf_printf(out, "%s:", xs[i].name);
        if (rc == 0) rc = put_trimmed(out, xs[i].value ? xs[i].value : "");
        if (rc == 0) rc = buf_append(out, "\n", 1);
    }
    if (rc == 0) rc = buf_printf(out, "/%s%s", account, path);
    struct azsign_param qs[AZSIGN_MAX_PARAMS];
    for (size_t i = 0; i < nquery; i++)
        qs[i] = (struct azsign_param){lower_dup(a, query[i].name), query[i].value};
    qsort(qs, nquery, sizeof *qs, pcmp);
    for (size_t i = 0; i < nquery && rc == 0; i++) {
        if (i && !strcmp(qs[i].name, qs[i - 1].name)) {
            rc = WERR_INVALID;
            break;
        }
        rc = buf_printf(out, "\n%s:%s", qs[i].name, qs[i].value ? qs[i].value : "");
    }
    if (rc == 0) rc = buf_append(out, "", 0); /* NUL-terminated */
    arena_free(a);
    return rc;
}

int azsign_hmac_b64(const unsigned char *key, size_t keylen, const char *msg, size_t len,
                    char out[45])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, len, md, &mdlen) ||
        mdlen != 32)
        return WERR_IO;
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    return 0;
}

void azsign_rfc1123(time_t t, char out[30])
{
    static const char *const DAY[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", DAY[tm.tm_wday % 7], tm.tm_mday,
             MON[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* a query value: unreserved kept, the rest %XX */
static int qenc(struct buf *out, const char *s)
{
    static const char UP[] = "0123456789ABCDEF";
    int rc = 0;
    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            rc = buf_append(out, s, 1);
        } else {
            char e[3] = {'%', UP[c >> 4], UP[c & 15]};
            rc = buf_append(out, e, 3);
        }
    }
    return rc;
}

int azsign_sas_blob(const unsigned char *key, size_t keylen, const char *account,
                    const char *container, const char *blob, const char *perms, time_t expiry,
                    const char *version, struct buf *out)
{
    char se[32];
    struct tm tm;
    gmtime_r(&expiry, &tm);
    strftime(se, sizeof se, "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct buf sts;
    buf_init(&sts, 0);
    /* sp st se resource si sip spr sv sr snapshot ses rscc rscd rsce rscl rsct */
    int rc = buf_printf(&sts, "%s\n\n%s\n/blob/%s/%s/%s\n\n\n\n%s\nb\n\n\n\n\n\n\n", perms, se,
                        account, container, blob, version);
    char sig[45];
    if (rc == 0) rc = azsign_hmac_b64(key, keylen, sts.data, sts.len, sig);
    buf_free(&sts);
    if (rc) return rc;
    if ((rc = buf_printf(out, "sv=%s&sr=b&sp=%s&se=", version, perms)) != 0 ||
        (rc = qenc(out, se)) != 0 || (rc = buf_puts(out, "&sig=")) != 0 ||
        (rc = qenc(out, sig)) != 0)
        return rc;
    return buf_append(out, "", 0);
}
