/* test_gcs_sign.c — the GCS driver's signing: V4 signed URLs
 * (GOOG4-RSA-SHA256) against Google's published conformance vectors
 * (googleapis/conformance-tests, storage/v1/v4_signatures.json, signed with
 * the inactive dummy service account published beside them,
 * storage/v1/service-account): nine of them, all but those of styles the
 * driver does not make (virtual-hosted, bucket-bound domain, headers it
 * never signs) and "Simple headers", whose published signature verifies
 * (checked with the openssl CLI) only over the value "bar-value" where the
 * vector gives "BAR-value"; and the service-account JWT of the OAuth2
 * token exchange: its RS256 signature verified with the key's public half,
 * its claims decoded. The exchange itself (posting the JWT to token_uri,
 * caching, the 401 refresh) runs against tests/storage/gcs_server.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/arena.h"
#include "../../lib/b64url.h"
#include "../../lib/err.h"
#include "../../storage/drivers/gcs.h"

/* Google's dummy, inactive service account of the conformance tests */
static const char ACCOUNT[] =
    "{\"type\": \"service_account\", \"project_id\": \"dummy-project-id\",\n"
    "\"private_key_id\": \"ffffffffffffffffffffffffffffffffffffffff\",\n"
    "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCsPzMirIottfQ2\\n"
    "ryjQmPWocSEeGo7f7Q4/tMQXHlXFzo93AGgU2t+clEj9L5loNhLVq+vk+qmnyDz5\\n"
    "Q04y8jVWyMYzzGNNrGRW/yaYqnqlKZCy1O3bmnNjV7EDbC/jE1ZLBY0U3HaSHfn6\\n"
    "S9ND8MXdgD0/ulRTWwq6vU8/w6i5tYsU7n2LLlQTl1fQ7/emO9nYcCFJezHZVa0H\\n"
    "meWsdHwWsok0skwQYQNIzP3JF9BpR5gJT2gNge6KopDesJeLoLzaX7cUnDn+CAnn\\n"
    "LuLDwwSsIVKyVxhBFsFXPplgpaQRwmGzwEbf/Xpt9qo26w2UMgn30jsOaKlSeAX8\\n"
    "cS6ViF+tAgMBAAECggEACKRuJCP8leEOhQziUx8Nmls8wmYqO4WJJLyk5xUMUC22\\n"
    "SI4CauN1e0V8aQmxnIc0CDkFT7qc9xBmsMoF+yvobbeKrFApvlyzNyM7tEa/exh8\\n"
    "DGD/IzjbZ8VfWhDcUTwn5QE9DCoon9m1sG+MBNlokB3OVOt8LieAAREdEBG43kJu\\n"
    "yQTOkY9BGR2AY1FnAl2VZ/jhNDyrme3tp1sW1BJrawzR7Ujo8DzlVcS2geKA9at7\\n"
    "55ua5GbHz3hfzFgjVXDfnkWzId6aHypUyqHrSn1SqGEbyXTaleKTc6Pgv0PgkJjG\\n"
    "hZazWWdSuf1T5Xbs0OhAK9qraoAzT6cXXvMEvvPt6QKBgQDXcZKqJAOnGEU4b9+v\\n"
    "Odoh+nssdrIOBNMu1m8mYbUVYS1aakc1iDGIIWNM3qAwbG+yNEIi2xi80a2RMw2T\\n"
    "9RyCNB7yqCXXVKLBiwg9FbKMai6Vpk2bWIrzahM9on7AhCax/X2AeOp+UyYhFEy6\\n"
    "UFG4aHb8THscL7b515ukSuKb5QKBgQDMq+9PuaB0eHsrmL6q4vHNi3MLgijGg/zu\\n"
    "AXaPygSYAwYW8KglcuLZPvWrL6OG0+CrfmaWTLsyIZO4Uhdj7MLvX6yK7IMnagvk\\n"
    "L3xjgxSklEHJAwi5wFeJ8ai/1MIuCn8p2re3CbwISKpvf7Sgs/W4196P4vKvTiAz\\n"
    "jcTiSYFIKQKBgCjMpkS4O0TakMlGTmsFnqyOneLmu4NyIHgfPb9cA4n/9DHKLKAT\\n"
    "oaWxBPgatOVWs7RgtyGYsk+XubHkpC6f3X0+15mGhFwJ+CSE6tN+l2iF9zp52vqP\\n"
    "Qwkjzm7+pdhZbmaIpcq9m1K+9lqPWJRz/3XXuqi+5xWIZ7NaxGvRjqaNAoGAdK2b\\n"
    "utZ2y48XoI3uPFsuP+A8kJX+CtWZrlE1NtmS7tnicdd19AtfmTuUL6fz0FwfW4Su\\n"
    "lQZfPT/5B339CaEiq/Xd1kDor+J7rvUHM2+5p+1A54gMRGCLRv92FQ4EON0RC1o9\\n"
    "m2I4SHysdO3XmjmdXmfp4BsgAKJIJzutvtbqlakCgYB+Cb10z37NJJ+WgjDt+yT2\\n"
    "yUNH17EAYgWXryfRgTyi2POHuJitd64Xzuy6oBVs3wVveYFM6PIKXlj8/DahYX5I\\n"
    "R2WIzoCNLL3bEZ+nC6Jofpb4kspoAeRporj29SgesK6QBYWHWX2H645RkRGYGpDo\\n"
    "51gjy9m/hSNqBbH2zmh04A==\\n"
    "-----END PRIVATE KEY-----\\n\",\n"
    "\"client_email\": \"test-iam-credentials@dummy-project-id.iam.gserviceaccount.com\",\n"
    "\"client_id\": \"000000000000000000000\",\n"
    "\"token_uri\": \"https://oauth2.googleapis.com/token\"}\n";

struct vector {
    const char *desc, *bucket, *object, *method;
    long expires;
    time_t now;
    struct sigv4_param hdrs[3];
    size_t nhdrs;
    struct sigv4_param query[3];
    size_t nquery;
    const char *want;
};

static const struct vector VECTORS[] = {
    {"Simple GET",
     "test-bucket",
     "test-object",
     "GET",
     10L,
     1549011600,
     {{NULL, NULL}},
     0,
     {{NULL, NULL}},
     0,
     "https://storage.googleapis.com/test-bucket/test-object?X-Goog-Algorithm=GOOG4-RSA-SHA256"
     "&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F201"
     "90201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&X-"
     "Goog-SignedHeaders=host&X-Goog-Signature=95e6a13d43a1d1962e667f17397f2b80ac9bdd1669210d5"
     "e08e0135df9dff4e56113485dbe429ca2266487b9d1796ebdee2d7cf682a6ef3bb9fbb4c351686fba90d7b62"
     "1cf1c4eb1fdf126460dd25fa0837dfdde0a9fd98662ce60844c458448fb2b352c203d9969cb74efa4bdb7422"
     "87744a4f2308afa4af0e0773f55e32e92973619249214b97283b2daa14195244444e33f938138d1e5f561088"
     "ce8011f4986dda33a556412594db7c12fc40e1ff3f1bedeb7a42f5bcda0b9567f17f65855f65071fabb88ea1"
     "2371877f3f77f10e1466fff6ff6973b74a933322ff0949ce357e20abe96c3dd5cfab42c9c83e740a4d32b9e1"
     "1e146f0eb3404d2e975896f74"},
    {"Simple PUT",
     "test-bucket",
     "test-object",
     "PUT",
     10L,
     1549011600,
     {{NULL, NULL}},
     0,
     {{NULL, NULL}},
     0,
     "https://storage.googleapis.com/test-bucket/test-object?X-Goog-Algorithm=GOOG4-RSA-SHA256"
     "&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F201"
     "90201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&X-"
     "Goog-SignedHeaders=host&X-Goog-Signature=8adff1d4285739e31aa68e73767a46bc5511fde377497db"
     "e08481bf5ceb34e29cc9a59921748d8ec3dd4085b7e9b7772a952afedfcdaecb3ae8352275b8b7c867f204e3"
     "db85076220a3127a8a9589302fc1181eae13b9b7fe41109ec8cdc93c1e8bac2d7a0cc32a109ca02d06957211"
     "326563ab3d3e678a0ba296e298b5fc5e14593c99d444c94724cc4be97015dbff1dca377b508fa0cb7169195d"
     "e98d0e4ac96c42b918d28c8d92d33e1bd125ce0fb3cd7ad2c45dae65c22628378f6584971b8bf3945b26f261"
     "1eb651e9b6a8648970c1ecf386bb71327b082e7296c4e1ee2fc0bdd8983da80af375c817fb1ad491d0bc22c0"
     "f51dba0d66e2cffbc90803e47"},
    {"POST for resumable uploads",
     "test-bucket",
     "test-object",
     "POST",
     10L,
     1549011600,
     {{"X-goog-resumable", "start"}},
     1,
     {{NULL, NULL}},
     0,
     "https://storage.googleapis.com/test-bucket/test-object?X-Goog-Algorithm=GOOG4-RSA-SHA256"
     "&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F201"
     "90201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&X-"
     "Goog-SignedHeaders=host%3Bx-goog-resumable&X-Goog-Signature=4a6d39b23343cedf4c30782aed4b"
     "384001828c79ffa3a080a481ea01a640dea0a0ceb58d67a12cef3b243c3f036bb3799c6ee88e8db3eaf7d0bd"
     "d4b70a228d0736e07eaa1ee076aff5c6ce09dff1f1f03a0d8ead0d2893408dd3604fdabff553aa6d7af2da67"
     "cdba6790006a70240f96717b98f1a6ccb24f00940749599be7ef72aaa5358db63ddd54b2de9e2d6d6a586eac"
     "4fe25f36d86fc6ab150418e9c6fa01b732cded226c6d62fc95b72473a4cc55a8257482583fe66d9ab6ede909"
     "eb41516a8690946c3e87b0f2052eb0e97e012a14b2f721c42e6e19b8a1cd5658ea36264f10b9b1ada66b8ed5"
     "bf7ed7d1708377ac6e5fe608ae361fb594d2e5b24c54"},
    {"Vary expiration and timestamp",
     "test-bucket",
     "test-object",
     "GET",
     20L,
     1551430800,
     {{NULL, NULL}},
     0,
     {{NULL, NULL}},
     0,
     "https://storage.googleapis.com/test-bucket/test-object?X-Goog-Algorithm=GOOG4-RSA-SHA256"
     "&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F201"
     "90301%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190301T090000Z&X-Goog-Expires=20&X-"
     "Goog-SignedHeaders=host&X-Goog-Signature=9669ed5b10664dc594c758296580662912cf4bcc5a4ba0b"
     "6bf055bcbf6f34eed7bdad664f534962174a924741a0c273a4f67bc1847cef20192a6beab44223bd9d4fbbd7"
     "49c407b79997598c30f82ddc269ff47ec09fa3afe74e00616d438df0d96a7d8ad0adacfad1dc3286f864d924"
     "fe919fb0dce45d3d975c5afe8e13af2db9cc37ba77835f92f7669b61e94c6d562196c1274529e76cfff1564c"
     "c2cad7d5387dc8e12f7a5dfd925685fe92c30b43709eee29fa2f66067472cee5423d1a3a4182fe8cea75c932"
     "9d181dc6acad7c393cd04f8bf5bc0515127d8ebd65d80c08e19ad03316053ea60033fd1b1fd85a69c576415d"
     "a3bf0a3718d9ea6d03e0d66f0"},
    {"Vary bucket and object",
     "test-bucket2",
     "test-object2",
     "GET",
     10L,
     1549011600,
     {{NULL, NULL}},
     0,
     {{NULL, NULL}},
     0,
     "https://storage.googleapis.com/test-bucket2/test-object2?X-Goog-Algorithm=GOOG4-RSA-SHA2"
     "56&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F2"
     "0190201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&"
     "X-Goog-SignedHeaders=host&X-Goog-Signature=36e3d58dfd3ec1d2dd2f24b5ee372a71e811ffaa2162a"
     "2b871d26728d0354270bc116face87127532969c4a3967ed05b7309af741e19c7202f3167aa8c2ac420b6141"
     "7d6451442bb91d7c822cd17be8783f01e05372769c88913561d27e6660dd8259f0081a71f831be6c50283626"
     "cbf04494ac10c394b29bb3bce74ab91548f58a37118a452693cf0483d77561fc9cac8f1765d2c724994cca46"
     "a83517a10157ee0347a233a2aaeae6e6ab5e204ff8fc5f54f90a3efdb8301d9fff5475d58cd05b181affd657"
     "f48203f4fb133c3a3d355b8eefbd10d5a0a5fd70d06e9515460ad74e22334b2cba4b29cae4f6f285cdb92d8f"
     "3126d7a1479ca3bdb69c207d860"},
    {"Slashes in object name should not be URL encoded",
     "test-bucket",
     "path/with/slashes/under_score/amper&sand/file.ext",
     "GET",
     10L,
     1549011600,
     {{"header/name/with/slash", "should-be-encoded"}},
     1,
     {{NULL, NULL}},
     0,
     "https://storage.googleapis.com/test-bucket/path/with/slashes/under_score/amper%26sand/fi"
     "le.ext?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=test-iam-credentials%40dummy-"
     "project-id.iam.gserviceaccount.com%2F20190201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Da"
     "te=20190201T090000Z&X-Goog-Expires=10&X-Goog-SignedHeaders=header%2Fname%2Fwith%2Fslash%"
     "3Bhost&X-Goog-Signature=2a9a82e84e39f5d2c0d980514db17f8c3dece473c9a5743d54e8453f9811927b"
     "1b99ce548c534cababd8fa339183e75b410e12e32a4c72f5ff176e95651fabed0072e59e7e236eb7e26f52c0"
     "ce599db1c47ae07af1a98d20872b6fde23432c0a5fcf4fb2dda735169198c80cd5cc51be9904f7e5eef2cc48"
     "9ff44ac5697c529e4b34ac08709a7d2e425619377212c64561ed8b4d2fcb70a26e4f9236f995ab4658d240ac"
     "85c7a353bae6b2d39d5fc0716afa435a1f6e100db5504612b5e610db370623ab4b8eba3c03c98f23dcb4b9ff"
     "d518f2212abb2f93649d25385d71603d470cff0b7631adb9d0849d38609dedb3097761c8f47ec0d57777bb06"
     "3611c05b"},
    {"List Objects",
     "test-bucket",
     NULL,
     "GET",
     10L,
     1549011600,
     {{NULL, NULL}},
     0,
     {{NULL, NULL}},
     0,
     "https://storage.googleapis.com/test-bucket?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Cred"
     "ential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F20190201%2Fauto"
     "%2Fstorage%2Fgoog4_request&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&X-Goog-SignedH"
     "eaders=host&X-Goog-Signature=6dbe94f8e52b2b8a9a476b1c857efa474e09944e2b52b925800316e094a"
     "7169d8dbe0df9c0ac08dabb22ac7e827470ceccd65f5a3eadba2a4fb9beebfe37f0d9bb1e552b851fa31a250"
     "45bdf019e507f5feb44f061551ef1aeb18dcec0e38ba2e2f77d560a46eaace9c56ed9aa642281301a9d848b0"
     "eb30749e34bc7f73a3d596240533466ff9b5f289cd0d4c845c7d96b82a35a5abd0c3aff83e4440ee6873e796"
     "087f43545544dc8c01afe1d79c726696b6f555371e491980e7ec145cca0803cf562c38f3fa1d724242f5dea2"
     "5aac91d74ec9ddd739ff65523627763eaef25cd1f95ad985aaf0079b7c74eb5bcb2870a9b137a7b2c8e41fbe"
     "838c95872f75b"},
    {"Query Parameter Encoding",
     "test-bucket",
     "test-object",
     "GET",
     10L,
     1549011600,
     {{NULL, NULL}},
     0,
     {{"souffl\xc3"
       "\xa9"
       "",
       "=%-_.~"}},
     1,
     "https://storage.googleapis.com/test-bucket/test-object?X-Goog-Algorithm=GOOG4-RSA-SHA256"
     "&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F201"
     "90201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&X-"
     "Goog-SignedHeaders=host&souffl%C3%A9=%3D%25-_.~&X-Goog-Signature=38dd9ca622b80bca10f405e"
     "7d9ba0f0fbea719ca84d66078a484c5b54b1ce98e3fa8a0d2065216ed6ac03179be69312dabf428f8171b959"
     "94bdafe465a6f7893bacc7213a7bf4054ce2d78d4b60c34df24cc43e509ad7c81be47148d43a0e67d50d8fe3"
     "8c85b0c63f9a51149b4f3335315946fef8ab34315ce3f6ce01f1831abb3eda5e7e211823855ed1767c65a8c7"
     "aeec357de096e3406897acfe092fead51bbea7df83e25a6180f80c8a0871e4901c370f77f5675f2405be7ccd"
     "55fd6dd22a87cf0adfafdb3f6fa99974fcf6c947b62294eebd7954e546c28f5490a6c50694c0e4882fcfe0d4"
     "a4ae8891a92579d6099a9b4c84d9f033a3b339163b6670b7e"},
    {"Query Parameter Ordering",
     "test-bucket",
     "test-object",
     "GET",
     10L,
     1549011600,
     {{NULL, NULL}},
     0,
     {{"prefix", "/foo"}, {"X-Goog-Meta-Foo", "bar"}},
     2,
     "https://storage.googleapis.com/test-bucket/test-object?X-Goog-Algorithm=GOOG4-RSA-SHA256"
     "&X-Goog-Credential=test-iam-credentials%40dummy-project-id.iam.gserviceaccount.com%2F201"
     "90201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&X-"
     "Goog-Meta-Foo=bar&X-Goog-SignedHeaders=host&prefix=%2Ffoo&X-Goog-Signature=a07745e1b3d59"
     "b85cbe11aa766df72c22468959e7217615dccb7f030234f66b60b37e480f30725ed51f29816362ca8286c619"
     "ebb66448ff1d370be2a4a48aacf20d3d2d6200ed17341a5791baf2ee5cd9c2823adacc6264f66c8a54fa887e"
     "1bce3c55cf78fb2f6a52618cf09d6f945f63d148052a7b66a75e075ff5065828a806b84bdc49a42399be7483"
     "225c720d5e18a6160f79d815f433e7921694fe1d041099851793c2581db0e5ca503cfb566e414f900ceede5f"
     "9b22030edd32ab20b6f7f9fb2afba89098b9364e03397c03a94eac3a140c99979b8786844fb4f6c62c198537"
     "8939dd1bbaea8e41b9100dda85a27733171cc78d96ee362ea2c3432f4d8"},
};

static EVP_PKEY *KEY;
static char *EMAIL, *TOKEN_URI;

static int setup(void **state)
{
    (void)state;
    char err[256];
    return gcs_account_parse(ACCOUNT, &KEY, &EMAIL, &TOKEN_URI, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(KEY);
    free(EMAIL);
    free(TOKEN_URI);
    return 0;
}

/* every vector: the whole URL, byte for byte */
static void t_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof VECTORS / sizeof *VECTORS; i++) {
        const struct vector *v = &VECTORS[i];
        struct buf b;
        buf_init(&b, 0);
        int rc =
            gcs_sign_url(KEY, EMAIL, "https", "storage.googleapis.com", v->bucket, v->object,
                         v->method, v->now, v->expires, v->hdrs, v->nhdrs, v->query, v->nquery, &b);
        if (rc || !b.data || strcmp(b.data, v->want))
            fprintf(stderr, "# %s:\n#  got  %s\n#  want %s\n", v->desc, b.data ? b.data : "",
                    v->want);
        assert_int_equal(rc, 0);
        assert_string_equal(b.data, v->want);
        buf_free(&b);
    }
}

/* a signature over anything else (another expiry) differs */
static void t_sign_depends_on_inputs(void **state)
{
    (void)state;
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    assert_int_equal(gcs_sign_url(KEY, EMAIL, "https", "storage.googleapis.com", "b", "o", "GET",
                                  1549011600, 10, NULL, 0, NULL, 0, &a),
                     0);
    assert_int_equal(gcs_sign_url(KEY, EMAIL, "https", "storage.googleapis.com", "b", "o", "GET",
                                  1549011600, 11, NULL, 0, NULL, 0, &b),
                     0);
    assert_string_not_equal(strstr(a.data, "X-Goog-Signature="),
                            strstr(b.data, "X-Goog-Signature="));
    buf_free(&a);
    buf_free(&b);
    assert_int_equal(
        gcs_sign_url(KEY, EMAIL, "https", "h", "b", "o", "GET", 0, 0, NULL, 0, NULL, 0, &a),
        WERR_INVALID);
    assert_int_equal(
        gcs_sign_url(KEY, EMAIL, "https", "h", "b", "o", "GET", 0, 604801, NULL, 0, NULL, 0, &a),
        WERR_INVALID);
    buf_free(&a);
}

/* the JWT: header, claims, and an RS256 signature the public key verifies */
static void t_jwt(void **state)
{
    (void)state;
    char *jwt = gcs_jwt(KEY, EMAIL, "http://127.0.0.1:1/token", 1700000000);
    assert_non_null(jwt);
    char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    unsigned char *hdr, *claims, *sig;
    size_t hl, cl, sl;
    assert_int_equal(b64url_decode(jwt, (size_t)(d1 - jwt), &hdr, &hl), 0);
    assert_int_equal(b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &claims, &cl), 0);
    assert_int_equal(b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl), 0);
    json_object *h = json_tokener_parse((char *)hdr), *c = json_tokener_parse((char *)claims), *v;
    assert_non_null(h);
    assert_non_null(c);
    assert_true(json_object_object_get_ex(h, "alg", &v));
    assert_string_equal(json_object_get_string(v), "RS256");
    assert_true(json_object_object_get_ex(c, "iss", &v));
    assert_string_equal(json_object_get_string(v), EMAIL);
    assert_true(json_object_object_get_ex(c, "scope", &v));
    assert_string_equal(json_object_get_string(v),
                        "https://www.googleapis.com/auth/devstorage.read_write");
    assert_true(json_object_object_get_ex(c, "aud", &v));
    assert_string_equal(json_object_get_string(v), "http://127.0.0.1:1/token");
    assert_true(json_object_object_get_ex(c, "iat", &v));
    assert_int_equal(json_object_get_int64(v), 1700000000);
    assert_true(json_object_object_get_ex(c, "exp", &v));
    assert_int_equal(json_object_get_int64(v), 1700003600);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, KEY), 1);
    assert_int_equal(EVP_DigestVerify(ctx, sig, sl, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    /* one bit off: refused */
    jwt[3] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, KEY), 1);
    assert_int_not_equal(EVP_DigestVerify(ctx, sig, sl, (unsigned char *)jwt, (size_t)(d2 - jwt)),
                         1);
    EVP_MD_CTX_free(ctx);
    json_object_put(h);
    json_object_put(c);
    free(hdr);
    free(claims);
    free(sig);
    free(jwt);
}

/* accounts that cannot be used are refused with a reason */
static void t_account_errors(void **state)
{
    (void)state;
    EVP_PKEY *k;
    char *e, *t, err[256];
    assert_int_equal(gcs_account_parse("not json", &k, &e, &t, err, sizeof err), WERR_INVALID);
    assert_int_equal(
        gcs_account_parse("{\"type\":\"authorized_user\"}", &k, &e, &t, err, sizeof err),
        WERR_INVALID);
    assert_non_null(strstr(err, "authorized_user"));
    assert_int_equal(gcs_account_parse("{\"client_email\":\"a@b\",\"private_key\":\"x\"}", &k, &e,
                                       &t, err, sizeof err),
                     WERR_INVALID);
    assert_null(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_vectors),
        cmocka_unit_test(t_sign_depends_on_inputs),
        cmocka_unit_test(t_jwt),
        cmocka_unit_test(t_account_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
