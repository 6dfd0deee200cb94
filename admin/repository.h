/* repository.h — `wharf repository delete -c config.yml NAME`: remove a whole
 * repository from storage (links, tags, referrers, uploads); the blobs it alone
 * used are left to garbage-collect. Returns a process exit status (0 ok, 1
 * failure, 2 usage). */
#ifndef WHARF_ADMIN_REPOSITORY_H
#define WHARF_ADMIN_REPOSITORY_H

int cmd_repository_delete(int argc, char **argv);

#endif
