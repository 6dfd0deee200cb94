/* gc.h — `wharf garbage-collect [--dry-run|-d] [--delete-untagged|-m]
 * [--online [--grace DURATION]] [-c] config.yml`: mark & sweep like the
 * reference's `registry garbage-collect` (storage/gc.h). Returns a process
 * exit status (0 ok, 1 failure, 2 usage). */
#ifndef WHARF_ADMIN_GC_H
#define WHARF_ADMIN_GC_H

int cmd_garbage_collect(int argc, char **argv);

#endif
