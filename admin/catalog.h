/* catalog.h — `wharf catalog rebuild -c config.yml`: make the repository
 * index of an object store (storage/catalog.h) match what the bucket holds.
 * Returns a process exit status (0 ok, 1 failure, 2 usage). */
#ifndef WHARF_ADMIN_CATALOG_H
#define WHARF_ADMIN_CATALOG_H

int cmd_catalog_rebuild(int argc, char **argv);

#endif
