/* fuzz_range: the Range header of a blob GET and the Content-Range of an
 * upload PATCH (lib/httprange.c). Input: the blob size in decimal on the
 * first line, then the header value. */
#include "fuzz.h"

#include <inttypes.h>

#include "../../lib/err.h"
#include "../../lib/httprange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *first = fuzz_split(&data, &size);
    int64_t blob = strtoll(first, NULL, 10);
    char *hdr = fuzz_strndup(data, size);
    int64_t start = -1, end = -1;
    if (blob >= 0 && range_parse(hdr, blob, &start, &end) == 0) {
        /* what blob GET then serves must lie inside the blob */
        if (start < 0 || end < start || end >= blob) {
            fprintf(stderr, "range_parse(%s, %" PRId64 ") = [%" PRId64 ", %" PRId64 "]\n", hdr,
                    blob, start, end);
            abort();
        }
    }
    if (content_range_parse(hdr, &start, &end) == 0) {
        if (start < 0 || end < start) {
            fprintf(stderr, "content_range_parse(%s) = [%" PRId64 ", %" PRId64 "]\n", hdr, start,
                    end);
            abort();
        }
    }
    free(hdr);
    free(first);
    return 0;
}
