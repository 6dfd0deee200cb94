/* log.h — leveled logging to stderr (or a file) in the reference's three
 * formats (logrus's text and JSON formatters, the logstash formatter), with
 * log.fields on every line and, with log.reportcaller, the call site; lines
 * at a log.hooks entry's levels are handed to lib/loghook.h (mail). One
 * write(2) per line, so lines of several processes never interleave.
 * log_init / log_configure may be called again (reload). Never logs secrets:
 * callers pass none. docs/logging.md. */
#ifndef WHARF_LOG_H
#define WHARF_LOG_H

#include <stddef.h>
#include <time.h>

struct config;

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON = 1, LOG_FMT_LOGSTASH = 2 };

/* log_init: level and formatter (json 0: text, 1: JSON); path NULL = stderr.
 * No fields, no caller, no hooks, no access log (the CLI's and the tests' way).
 * Returns 0 or WERR_IO when the file cannot be opened (stderr kept). */
int log_init(enum log_level level, int json, const char *path);
/* log_configure: everything the log section of cfg says (level, formatter,
 * fields, reportcaller, hooks, access log) and fastcgi.logfile; what it needs
 * is copied (cfg may be freed after). cgi: stdout is the response, so access
 * lines go to the log instead. Returns 0, WERR_IO (the file cannot be opened:
 * stderr kept, the rest applied) or WERR_NOMEM. */
int log_configure(const struct config *cfg, int cgi);
/* log_level_parse: "error","warn","info","debug" → level; -1 when unknown. */
int log_level_parse(const char *s);
int log_enabled(enum log_level level);

void log_msg_at(enum log_level level, const char *file, int line, const char *func, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
#define log_msg(level, ...) log_msg_at(level, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_error(...) log_msg_at(LOG_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn(...) log_msg_at(LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info(...) log_msg_at(LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...) log_msg_at(LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)

/* log_format_line: the line log_msg_at would write for an entry at time ts
 * (the configured formatter, fields, caller; "\n"-terminated), into buf of
 * len bytes (truncated, still one line ending in "\n"); returns its length.
 * For tests and for the mail hook's body. */
size_t log_format_line(char *buf, size_t len, const struct timespec *ts, enum log_level level,
                       const char *file, int line, const char *func, const char *msg);

/* log_access_enabled: 1 when access lines are written (log.accesslog.disabled
 * false and log_configure called). log_access_write: one access line (the
 * caller formats it, "\n" included) with one write(2) to stdout, or to the
 * log's file or stderr when fastcgi.logfile is set or in CGI mode. */
int log_access_enabled(void);
void log_access_write(const char *line, size_t len);

/* log_go_quote: s as Go's strconv.Quote writes it ("..." with \" \\ \n \t
 * \xNN escapes) into buf (truncated, always closed with '"' and NUL);
 * returns the length. The text formatter's and the access log's quoting. */
size_t log_go_quote(char *buf, size_t len, const char *s);

#endif
