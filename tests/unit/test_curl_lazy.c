/* test_curl_lazy.c — lib/curl_lazy.c: libcurl is not loaded until asked for,
 * and the forwarders pass every kind of option argument (long, object
 * pointer, function pointer, curl_off_t) and getinfo pointer through intact.
 * A file:// transfer exercises them without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/curl_lazy.h"

static int seen_curl(struct dl_phdr_info *info, size_t size, void *found)
{
    if (info->dlpi_name && strstr(info->dlpi_name, "libcurl")) *(int *)found = 1;
    return 0;
}

static int curl_mapped(void)
{
    int found = 0;
    dl_iterate_phdr(seen_curl, &found);
    return found;
}

struct sink {
    char buf[512];
    size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t k = sz * n;
    if (k > sizeof s->buf - s->len) return 0;
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    return k;
}

/* runs first: nothing has called libcurl yet */
static void test_not_loaded_until_used(void **state)
{
    assert_false(curl_lazy_loaded());
    assert_false(curl_mapped());
    char err[256] = "";
    assert_int_equal(curl_lazy_load(err, sizeof err), 0);
    assert_true(curl_lazy_loaded());
    assert_true(curl_mapped());
    /* idempotent */
    assert_int_equal(curl_lazy_load(err, sizeof err), 0);
}

static void test_forwarders(void **state)
{
    char path[] = "/tmp/wharf-curl-lazy-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char body[] = "one hundred bytes? no: forty-one of them.";
    assert_int_equal(write(fd, body, sizeof body - 1), (ssize_t)(sizeof body - 1));
    close(fd);

    char url[128];
    snprintf(url, sizeof url, "file://%s", path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct sink s = {.len = 0};
    assert_int_equal(curl_easy_setopt(c, CURLOPT_URL, url), CURLE_OK);               /* pointer */
    assert_int_equal(curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L), CURLE_OK);           /* long */
    assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data), CURLE_OK); /* fn */
    assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEDATA, &s), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)1000), CURLE_OK);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_int_equal(s.len, sizeof body - 1);
    assert_memory_equal(s.buf, body, s.len);
    curl_off_t got = -1;
    assert_int_equal(curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got), CURLE_OK);
    assert_int_equal(got, (curl_off_t)(sizeof body - 1));
    char *eff = NULL;
    assert_int_equal(curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff), CURLE_OK);
    assert_string_equal(eff, url);

    /* the curl_off_t reached libcurl as the number it is: resuming from
     * offset 10 of the file gives the rest */
    s.len = 0;
    assert_int_equal(curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)10), CURLE_OK);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_int_equal(s.len, sizeof body - 1 - 10);
    assert_memory_equal(s.buf, body + 10, s.len);
    assert_non_null(strstr(curl_easy_strerror(CURLE_FILESIZE_EXCEEDED), "size"));

    /* the rest of the table */
    curl_easy_reset(c);
    char *e = curl_easy_escape(c, "a b/c", 0);
    assert_string_equal(e, "a%20b%2Fc");
    curl_free(e);
    struct curl_slist *l = curl_slist_append(NULL, "X-A: 1");
    l = curl_slist_append(l, "X-B: 2");
    assert_string_equal(l->next->data, "X-B: 2");
    curl_slist_free_all(l);
    assert_int_equal(curl_getdate("Sun, 06 Nov 1994 08:49:37 GMT", NULL), 784111777);
    curl_easy_cleanup(c);

    CURLM *m = curl_multi_init();
    assert_non_null(m);
    c = curl_easy_init();
    s.len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    assert_int_equal(curl_multi_add_handle(m, c), CURLM_OK);
    int running = 1, left = 0, done = 0;
    for (int i = 0; running && i < 1000; i++) {
        assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
        if (running) assert_int_equal(curl_multi_poll(m, NULL, 0, 100, NULL), CURLM_OK);
    }
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK) done = 1;
    assert_true(done);
    assert_int_equal(s.len, sizeof body - 1);
    assert_int_equal(curl_multi_remove_handle(m, c), CURLM_OK);
    curl_easy_cleanup(c);
    assert_int_equal(curl_multi_cleanup(m), CURLM_OK);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_loaded_until_used),
        cmocka_unit_test(test_forwarders),
    };
    return cmocka_run_group_tests_name("curl_lazy", tests, NULL, NULL);
}
