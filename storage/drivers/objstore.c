/* objstore.c — listing helpers of the object-store drivers, see objstore.h. */
#include "objstore.h"

#include "../driver.h"

#include <stdlib.h>
#include <string.h>

char *objstore_child_name(struct arena *a, const char *dirkey, const char *key)
{
    size_t dl = strlen(dirkey);
    if (strncmp(key, dirkey, dl)) return NULL;
    const char *n = key + dl;
    size_t l = strcspn(n, "/");
    if (l == 0 || strncmp(n, STORAGE_TMP_PREFIX, strlen(STORAGE_TMP_PREFIX)) == 0) return NULL;
    return arena_strndup(a, n, l);
}

int objstore_name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

size_t objstore_sort_unique(char **v, size_t k)
{
    if (k > 1) qsort(v, k, sizeof *v, objstore_name_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || strcmp(v[u - 1], v[i])) v[u++] = v[i];
    return u;
}
