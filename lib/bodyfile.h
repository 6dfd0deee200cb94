/* bodyfile.h — request bodies the web server received into a file (nginx's
 * $request_body_file, passed as the FastCGI parameter WHARF_BODY_FILE, a
 * name no client header can produce: headers arrive as HTTP_*). Wharf reads
 * such a file only when fastcgi.uploads.bodyfiles is on and only inside
 * fastcgi.uploads.bodydir (issue 12). */
#ifndef WHARF_BODYFILE_H
#define WHARF_BODYFILE_H

#include <stdint.h>

/* bodyfile_open: open path read-only if it is a regular file of the body
 * directory dir (absolute): an absolute path with no empty, "." or ".."
 * component, under dir (as configured or as realpath gives it), with no
 * symbolic link below dir (its realpath is itself), opened with O_NOFOLLOW
 * and checked once open (/proc/self/fd names the same path: no component
 * swapped meanwhile; a regular file; one link: not a hard link to a file
 * elsewhere). Returns 0 with *fd, *size and *real (the checked path,
 * malloc'd: the caller frees it); WERR_DENIED with *why (a static string
 * for the log) when refused; WERR_NOTFOUND when the file does not exist. */
int bodyfile_open(const char *dir, const char *path, int *fd, int64_t *size, char **real,
                  const char **why);

#endif
