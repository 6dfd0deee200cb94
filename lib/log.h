/* log.h — leveled logging to stderr (or a file), text or JSON lines.
 * log_init may be called again (reload). Never logs secrets: callers pass none. */
#ifndef WHARF_LOG_H
#define WHARF_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* log_init: level and formatter ("text" or "json"); path NULL = stderr.
 * Returns 0 or WERR_IO when the file cannot be opened (stderr kept). */
int log_init(enum log_level level, int json, const char *path);
/* log_level_parse: "error","warn","info","debug" → level; -1 when unknown. */
int log_level_parse(const char *s);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_enabled(enum log_level level);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
