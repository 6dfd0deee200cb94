/* filesystem.h — additions of the filesystem driver beyond the ops table
 * (storage/driver.h declares its constructor, driver_filesystem_new). */
#ifndef WHARF_DRIVER_FILESYSTEM_H
#define WHARF_DRIVER_FILESYSTEM_H

#include "../driver.h"

/* fs_reader_fd: the open file descriptor behind a filesystem driver reader
 * (positioned at the reader's current offset), so the response layer may
 * sendfile() from it. The reader keeps owning the fd: do not close it.
 * Returns -1 when r is not a filesystem reader or is already closed. */
int fs_reader_fd(struct storage_reader *r);

/* driver_filesystem_directio: on (the driver's default; fastcgi.directio, off by
 * default, decides for wharf serve) writers put whole aligned
 * blocks of upload data with O_DIRECT, bypassing the page cache; off: plain
 * buffered writes. Filesystems without O_DIRECT fall back by themselves. */
void driver_filesystem_directio(struct storage_driver *d, int on);

#endif
