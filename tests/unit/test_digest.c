/* test_digest.c — lib/digest.c: the digest grammar (digest_parse), the
 * hasher against published NIST vectors and OpenSSL's EVP one-shot, and the
 * saved hash state (Go's crypto/sha256|sha512 MarshalBinary layout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/digest.h"
#include "../../lib/err.h"

/* Published test vectors (FIPS 180-2 appendix examples and NIST CAVS zero-length). */
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_2BLK "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA256_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA512_EMPTY                                                                               \
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"                             \
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
#define SHA512_ABC                                                                                 \
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"                             \
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
#define SHA512_2BLK                                                                                \
    "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"                             \
    "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
#define SHA512_MILLION_A                                                                           \
    "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"                             \
    "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
#define MSG_2BLK_256 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define MSG_2BLK_512                                                                               \
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmno" \
    "p"                                                                                            \
    "qrsmnopqrstnopqrstu"

/* 64 and 128 valid lowercase hex characters (input data, not results) */
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64

static void fill_pattern(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + (i >> 8) * 7u + 1u) & 0xff);
}

/* evp_hex: "alg:hex" of p computed by OpenSSL's EVP one-shot (independent path). */
static void evp_hex(enum digest_alg alg, const void *p, size_t n, char out[DIGEST_MAX_STR])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const EVP_MD *md_type = alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
    assert_int_equal(EVP_Digest(p, n, md, &mdlen, md_type, NULL), 1);
    int o = snprintf(out, DIGEST_MAX_STR, "%s:", alg == DIGEST_SHA512 ? "sha512" : "sha256");
    for (unsigned int i = 0; i < mdlen; i++)
        o += snprintf(out + o, DIGEST_MAX_STR - (size_t)o, "%02x", md[i]);
}

/* ---- digest_parse ---- */

static void test_parse_valid(void **state)
{
    enum digest_alg alg = DIGEST_NONE;
    const char *hex = NULL;
    const char *s256 = "sha256:" HEX64;
    assert_int_equal(digest_parse(s256, &alg, &hex), 0);
    assert_int_equal(alg, DIGEST_SHA256);
    assert_ptr_equal(hex, s256 + 7);

    const char *s512 = "sha512:" HEX128;
    alg = DIGEST_NONE;
    assert_int_equal(digest_parse(s512, &alg, &hex), 0);
    assert_int_equal(alg, DIGEST_SHA512);
    assert_ptr_equal(hex, s512 + 7);

    /* out pointers are optional */
    assert_int_equal(digest_parse(s256, NULL, NULL), 0);
    assert_int_equal(digest_parse("sha256:" SHA256_EMPTY, NULL, NULL), 0);
}

static void test_parse_uppercase_hex(void **state)
{
    assert_int_equal(digest_parse("sha256:"
                                  "0123456789ABCDEF0123456789abcdef0123456789abcdef"
                                  "0123456789abcdef",
                                  NULL, NULL),
                     WERR_INVALID);
    assert_int_equal(digest_parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA49599"
                                  "1B7852B855",
                                  NULL, NULL),
                     WERR_INVALID);
    /* the algorithm is lowercase by grammar */
    assert_int_equal(digest_parse("SHA256:" HEX64, NULL, NULL), WERR_INVALID);
    assert_int_equal(digest_parse("Sha512:" HEX128, NULL, NULL), WERR_INVALID);
}

static void test_parse_wrong_length(void **state)
{
    char s[300];
    for (size_t n = 1; n <= 200; n++) {
        if (n == 64) continue;
        snprintf(s, sizeof s, "sha256:%.*s", (int)n, HEX128 HEX128);
        assert_int_equal(digest_parse(s, NULL, NULL), WERR_INVALID);
    }
    for (size_t n = 1; n <= 200; n++) {
        if (n == 128) continue;
        snprintf(s, sizeof s, "sha512:%.*s", (int)n, HEX128 HEX128);
        assert_int_equal(digest_parse(s, NULL, NULL), WERR_INVALID);
    }
    /* a sha512-length value under sha256 and the other way round */
    assert_int_equal(digest_parse("sha256:" HEX128, NULL, NULL), WERR_INVALID);
    assert_int_equal(digest_parse("sha512:" HEX64, NULL, NULL), WERR_INVALID);
}

static void test_parse_unknown_algorithm(void **state)
{
    static const char *const cases[] = {
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha384:" HEX64,
        "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",         /* OCI spec example */
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", /* OCI spec example */
        "sha256.x:" HEX64,
        "a:b",
        "x-y_z.w+v:Zz=_-",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        enum digest_alg alg = DIGEST_SHA256;
        const char *hex = (const char *)1;
        int rc = digest_parse(cases[i], &alg, &hex);
        if (rc != WERR_UNSUPPORTED) fail_msg("%s: rc %d, want WERR_UNSUPPORTED", cases[i], rc);
    }
}

static void test_parse_malformed(void **state)
{
    static const char *const cases[] = {
        "",
        ":",
        "sha256",
        "sha256:",
        ":" HEX64,
        "sha256::" HEX64,
        "sha256:" HEX64 ":",
        "sha-:" HEX64,
        "-sha:abc",
        "+sha:abc",
        "sha__256:abc",
        "sha256 :" HEX64,
        " sha256:" HEX64,
        "sha256:" HEX64 " ",
        "sha256:" HEX64 "\n",
        "sha256:abc/def",
        "sha256:abc def",
        "md5:abc!",
        "sha256:"
        "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:"
        "=123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256/x:" HEX64,
        "Sha256:" HEX64,
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = digest_parse(cases[i], NULL, NULL);
        if (rc != WERR_INVALID) fail_msg("\"%s\": rc %d, want WERR_INVALID", cases[i], rc);
    }
    assert_int_equal(digest_parse(NULL, NULL, NULL), WERR_INVALID);
}

static void test_alg_helpers(void **state)
{
    assert_string_equal(digest_alg_name(DIGEST_SHA256), "sha256");
    assert_string_equal(digest_alg_name(DIGEST_SHA512), "sha512");
    assert_int_equal(digest_alg_from_name("sha256"), DIGEST_SHA256);
    assert_int_equal(digest_alg_from_name("sha512"), DIGEST_SHA512);
    assert_int_equal(digest_alg_from_name("sha384"), DIGEST_NONE);
    assert_int_equal(digest_alg_from_name(""), DIGEST_NONE);
    assert_int_equal(digest_alg_from_name("SHA256"), DIGEST_NONE);
    assert_int_equal(digest_hex_len(DIGEST_SHA256), 64);
    assert_int_equal(digest_hex_len(DIGEST_SHA512), 128);
    assert_int_equal(digest_hex_len(DIGEST_NONE), 0);
}

/* ---- hasher: published vectors ---- */

static void test_vectors_sha256(void **state)
{
    char out[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "", 0, out);
    assert_string_equal(out, "sha256:" SHA256_EMPTY);
    digest_of(DIGEST_SHA256, "abc", 3, out);
    assert_string_equal(out, "sha256:" SHA256_ABC);
    digest_of(DIGEST_SHA256, MSG_2BLK_256, strlen(MSG_2BLK_256), out);
    assert_string_equal(out, "sha256:" SHA256_2BLK);

    unsigned char *m = malloc(1000000);
    assert_non_null(m);
    memset(m, 'a', 1000000);
    digest_of(DIGEST_SHA256, m, 1000000, out);
    assert_string_equal(out, "sha256:" SHA256_MILLION_A);
    /* streamed in odd pieces */
    struct hasher h;
    hasher_init(&h, DIGEST_SHA256);
    for (size_t off = 0; off < 1000000;) {
        size_t n = 1 + (off * 7919) % 9973;
        if (n > 1000000 - off) n = 1000000 - off;
        hasher_update(&h, m + off, n);
        off += n;
    }
    assert_int_equal(h.len, 1000000);
    hasher_final(&h, out);
    assert_string_equal(out, "sha256:" SHA256_MILLION_A);
    free(m);
    assert_int_equal(digest_parse(out, NULL, NULL), 0);
}

static void test_vectors_sha512(void **state)
{
    char out[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA512, "", 0, out);
    assert_string_equal(out, "sha512:" SHA512_EMPTY);
    digest_of(DIGEST_SHA512, "abc", 3, out);
    assert_string_equal(out, "sha512:" SHA512_ABC);
    digest_of(DIGEST_SHA512, MSG_2BLK_512, strlen(MSG_2BLK_512), out);
    assert_string_equal(out, "sha512:" SHA512_2BLK);

    unsigned char *m = malloc(1000000);
    assert_non_null(m);
    memset(m, 'a', 1000000);
    struct hasher h;
    hasher_init(&h, DIGEST_SHA512);
    for (size_t off = 0; off < 1000000;) {
        size_t n = 1 + (off * 104729) % 4099;
        if (n > 1000000 - off) n = 1000000 - off;
        hasher_update(&h, m + off, n);
        off += n;
    }
    hasher_final(&h, out);
    assert_string_equal(out, "sha512:" SHA512_MILLION_A);
    free(m);
    assert_int_equal(digest_parse(out, NULL, NULL), 0);
}

/* 1 MiB of a pattern: compared with OpenSSL's EVP one-shot at run time */
static void test_mib_pattern_vs_evp(void **state)
{
    size_t n = 1u << 20;
    unsigned char *m = malloc(n);
    assert_non_null(m);
    fill_pattern(m, n);
    enum digest_alg algs[] = {DIGEST_SHA256, DIGEST_SHA512};
    for (int i = 0; i < 2; i++) {
        char want[DIGEST_MAX_STR], got[DIGEST_MAX_STR];
        evp_hex(algs[i], m, n, want);
        digest_of(algs[i], m, n, got);
        assert_string_equal(got, want);
        struct hasher h;
        hasher_init(&h, algs[i]);
        for (size_t off = 0; off < n; off += 4096)
            hasher_update(&h, m + off, 4096);
        hasher_final(&h, got);
        assert_string_equal(got, want);
    }
    free(m);
}

/* ---- saved state ---- */

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* check_split: hash data[0..k), save, check the layout, load into a fresh
 * hasher, hash the rest; the result must equal the one-shot digest. */
static void check_split(enum digest_alg alg, const unsigned char *data, size_t n, size_t k,
                        const char *want)
{
    const size_t block = alg == DIGEST_SHA512 ? 128 : 64;
    const size_t want_len = alg == DIGEST_SHA512 ? 204 : 108;
    const char *magic = alg == DIGEST_SHA512 ? "sha\x07" : "sha\x03";
    const size_t buf_off = alg == DIGEST_SHA512 ? 68 : 36;

    struct hasher h;
    hasher_init(&h, alg);
    hasher_update(&h, data, k);
    unsigned char st[DIGEST_STATE_MAX + 16];
    memset(st, 0xee, sizeof st);
    size_t sl = hasher_save(&h, st);
    if (sl != want_len) fail_msg("split %zu: saved %zu bytes, want %zu", k, sl, want_len);
    for (size_t i = sl; i < sizeof st; i++)
        if (st[i] != 0xee) fail_msg("split %zu: hasher_save wrote past its length", k);
    assert_memory_equal(st, magic, 4);
    /* the length field: the last 8 bytes, big-endian byte count */
    if (be64(st + sl - 8) != k)
        fail_msg("split %zu: length field %llu", k, (unsigned long long)be64(st + sl - 8));
    /* the block buffer: the pending bytes first, zeros after */
    size_t pend = k % block;
    assert_memory_equal(st + buf_off, data + (k - pend), pend);
    for (size_t i = pend; i < block; i++)
        if (st[buf_off + i] != 0) fail_msg("split %zu: buffer byte %zu not zero", k, i);

    struct hasher h2;
    memset(&h2, 0x5a, sizeof h2);
    assert_int_equal(hasher_load(&h2, alg, st, sl), 0);
    assert_int_equal(h2.alg, alg);
    assert_int_equal(h2.len, k);
    /* saving the loaded state gives the same bytes */
    unsigned char st2[DIGEST_STATE_MAX];
    assert_int_equal(hasher_save(&h2, st2), sl);
    assert_memory_equal(st, st2, sl);
    hasher_update(&h2, data + k, n - k);
    assert_int_equal(h2.len, n);
    char got[DIGEST_MAX_STR];
    hasher_final(&h2, got);
    if (strcmp(got, want) != 0) fail_msg("split %zu: %s, want %s", k, got, want);
}

static void roundtrip(enum digest_alg alg, size_t n)
{
    unsigned char *data = malloc(n);
    assert_non_null(data);
    fill_pattern(data, n);
    char want[DIGEST_MAX_STR];
    evp_hex(alg, data, n, want);
    for (size_t k = 0; k <= 200 && k <= n; k++)
        check_split(alg, data, n, k, want);
    static const size_t edges[] = {255, 256, 257, 319,  320,  321,  383,  384,  385,
                                   511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        if (edges[i] <= n) check_split(alg, data, n, edges[i], want);
    check_split(alg, data, n, n, want);

    /* several save/load hops, as an upload in many PATCHes */
    struct hasher h;
    hasher_init(&h, alg);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t c = step < n - off ? step : n - off;
        hasher_update(&h, data + off, c);
        off += c;
        step = step * 3 + 1;
        unsigned char st[DIGEST_STATE_MAX];
        size_t sl = hasher_save(&h, st);
        assert_int_equal(hasher_load(&h, alg, st, sl), 0);
    }
    char got[DIGEST_MAX_STR];
    hasher_final(&h, got);
    assert_string_equal(got, want);
    free(data);
}

static void test_save_load_sha256(void **state)
{
    roundtrip(DIGEST_SHA256, 5000);
}

static void test_save_load_sha512(void **state)
{
    roundtrip(DIGEST_SHA512, 5000);
}

/* A fresh state holds the FIPS 180-4 initial hash values, big-endian. */
static void test_saved_initial_values(void **state)
{
    struct hasher h;
    unsigned char st[DIGEST_STATE_MAX];
    hasher_init(&h, DIGEST_SHA256);
    assert_int_equal(hasher_save(&h, st), 108);
    static const unsigned char h256[8] = {0x6a, 0x09, 0xe6, 0x67, 0xbb, 0x67, 0xae, 0x85};
    assert_memory_equal(st + 4, h256, 8);
    static const unsigned char h256_7[4] = {0x5b, 0xe0, 0xcd, 0x19}; /* H7 */
    assert_memory_equal(st + 4 + 28, h256_7, 4);

    hasher_init(&h, DIGEST_SHA512);
    assert_int_equal(hasher_save(&h, st), 204);
    static const unsigned char h512[8] = {0x6a, 0x09, 0xe6, 0x67, 0xf3, 0xbc, 0xc9, 0x08};
    assert_memory_equal(st + 4, h512, 8);
    static const unsigned char h512_7[8] = {0x5b, 0xe0, 0xcd, 0x19, 0x13, 0x7e, 0x21, 0x79};
    assert_memory_equal(st + 4 + 56, h512_7, 8);
}

/* A large length (> 2^32 bits) survives the length field. */
static void test_saved_length_big(void **state)
{
    enum digest_alg algs[] = {DIGEST_SHA256, DIGEST_SHA512};
    for (int i = 0; i < 2; i++) {
        struct hasher h;
        unsigned char st[DIGEST_STATE_MAX];
        hasher_init(&h, algs[i]);
        size_t sl = hasher_save(&h, st);
        /* claim 5 GiB + 0 pending bytes hashed (a multiple of both block sizes) */
        uint64_t big = 5ull << 30;
        for (int b = 0; b < 8; b++)
            st[sl - 8 + b] = (unsigned char)(big >> (56 - 8 * b));
        struct hasher h2;
        assert_int_equal(hasher_load(&h2, algs[i], st, sl), 0);
        assert_int_equal(h2.len, big);
        unsigned char st2[DIGEST_STATE_MAX];
        assert_int_equal(hasher_save(&h2, st2), sl);
        assert_memory_equal(st, st2, sl);
    }
}

static void test_load_rejects(void **state)
{
    struct hasher h;
    unsigned char st[DIGEST_STATE_MAX];
    hasher_init(&h, DIGEST_SHA256);
    hasher_update(&h, "abc", 3);
    size_t sl = hasher_save(&h, st);
    assert_int_equal(sl, 108);
    struct hasher h2;
    assert_int_equal(hasher_load(&h2, DIGEST_SHA256, st, sl), 0);
    assert_int_equal(hasher_load(&h2, DIGEST_SHA256, st, sl - 1), WERR_INVALID);
    assert_int_equal(hasher_load(&h2, DIGEST_SHA256, st, sl + 1), WERR_INVALID);
    assert_int_equal(hasher_load(&h2, DIGEST_SHA256, st, 0), WERR_INVALID);
    /* a sha256 state is not a sha512 one */
    assert_int_equal(hasher_load(&h2, DIGEST_SHA512, st, sl), WERR_INVALID);
    for (int i = 0; i < 4; i++) {
        unsigned char bad[DIGEST_STATE_MAX];
        memcpy(bad, st, sl);
        bad[i] ^= 0x20;
        assert_int_equal(hasher_load(&h2, DIGEST_SHA256, bad, sl), WERR_INVALID);
    }
    unsigned char bad[DIGEST_STATE_MAX];
    memcpy(bad, st, sl);
    bad[3] = 0x07; /* sha512 magic with a sha256 length */
    assert_int_equal(hasher_load(&h2, DIGEST_SHA256, bad, sl), WERR_INVALID);
    bad[3] = 0x02; /* Go's sha224 magic */
    assert_int_equal(hasher_load(&h2, DIGEST_SHA256, bad, sl), WERR_INVALID);

    hasher_init(&h, DIGEST_SHA512);
    hasher_update(&h, "abc", 3);
    sl = hasher_save(&h, st);
    assert_int_equal(sl, 204);
    assert_int_equal(hasher_load(&h2, DIGEST_SHA512, st, sl), 0);
    assert_int_equal(hasher_load(&h2, DIGEST_SHA512, st, sl - 1), WERR_INVALID);
    assert_int_equal(hasher_load(&h2, DIGEST_SHA256, st, 108), WERR_INVALID);
    memcpy(bad, st, sl);
    bad[3] = 0x03;
    assert_int_equal(hasher_load(&h2, DIGEST_SHA512, bad, sl), WERR_INVALID);
    bad[3] = 0x05; /* Go's sha384 magic */
    assert_int_equal(hasher_load(&h2, DIGEST_SHA512, bad, sl), WERR_INVALID);
    memcpy(bad, st, sl);
    bad[0] = 'S';
    assert_int_equal(hasher_load(&h2, DIGEST_SHA512, bad, sl), WERR_INVALID);
}

/* The hasher struct is plain data: a copy continues independently. */
static void test_hasher_copy(void **state)
{
    struct hasher h, c;
    char a[DIGEST_MAX_STR], b[DIGEST_MAX_STR];
    hasher_init(&h, DIGEST_SHA256);
    hasher_update(&h, "ab", 2);
    c = h;
    hasher_update(&c, "c", 1);
    hasher_final(&c, a);
    assert_string_equal(a, "sha256:" SHA256_ABC);
    hasher_update(&h, "c", 1);
    hasher_final(&h, b);
    assert_string_equal(b, "sha256:" SHA256_ABC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),        cmocka_unit_test(test_parse_uppercase_hex),
        cmocka_unit_test(test_parse_wrong_length), cmocka_unit_test(test_parse_unknown_algorithm),
        cmocka_unit_test(test_parse_malformed),    cmocka_unit_test(test_alg_helpers),
        cmocka_unit_test(test_vectors_sha256),     cmocka_unit_test(test_vectors_sha512),
        cmocka_unit_test(test_mib_pattern_vs_evp), cmocka_unit_test(test_save_load_sha256),
        cmocka_unit_test(test_save_load_sha512),   cmocka_unit_test(test_saved_initial_values),
        cmocka_unit_test(test_saved_length_big),   cmocka_unit_test(test_load_rejects),
        cmocka_unit_test(test_hasher_copy),
    };
    return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
