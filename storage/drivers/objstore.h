/* objstore.h — what the object-store drivers (s3/oss, swift, azure, gcs)
 * share to answer list(): directories are key prefixes, so a directory's
 * children are cut from the keys listed under "<dir>/". */
#ifndef WHARF_DRIVER_OBJSTORE_H
#define WHARF_DRIVER_OBJSTORE_H

#include <stddef.h>

#include "../../lib/arena.h"

/* objstore_child_name: the child of dirkey a listed key stands for ("x"
 * from "dirkey/x" or "dirkey/x/..."), on the arena; NULL when key is not
 * below dirkey or the name is reserved (STORAGE_TMP_PREFIX). */
char *objstore_child_name(struct arena *a, const char *dirkey, const char *key);
/* objstore_name_cmp: qsort comparator of char * names, bytewise. */
int objstore_name_cmp(const void *x, const void *y);
/* objstore_sort_unique: v[0..k) sorted bytewise, each name once (a file x
 * and a directory x/ list once); returns how many are kept. */
size_t objstore_sort_unique(char **v, size_t k);

#endif
