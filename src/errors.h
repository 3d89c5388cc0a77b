/* errors.h - status codes and the error kinds of the output contract.
 *
 * A stage never prints or exits.  It returns a status; when the status is
 * DP_FAIL the record carries an error (kind, message, optional hint) that the
 * runner turns into one error record, and the stream goes on.  DP_FATAL stops
 * the whole pipeline (a usage error, an unreadable option file). */
#ifndef DP_ERRORS_H
#define DP_ERRORS_H

enum dp_status {
  DP_OK = 0,  /* the record was emitted (or deliberately consumed) */
  DP_FAIL,    /* this record failed; its error is set */
  DP_FATAL    /* the pipeline cannot go on */
};

/* Error kinds, as named in RECORD.md.  Keep dpi_kind_name in step. */
enum dp_kind {
  DP_KIND_NONE = 0,
  DP_KIND_BAD_JSON,        /* the input line is not JSON */
  DP_KIND_INVALID_INPUT,   /* JSON, but not a resource or record docpipe can use */
  DP_KIND_BAD_BASE64,
  DP_KIND_EMPTY,           /* the document has no bytes */
  DP_KIND_UNSUPPORTED,     /* no extractor for these bytes */
  DP_KIND_DAMAGED,         /* the bytes claim a format but are broken or truncated */
  DP_KIND_ENCRYPTED,
  DP_KIND_TOO_LARGE,
  DP_KIND_TIMEOUT,
  DP_KIND_EXTRACTOR_CRASH,
  DP_KIND_NOT_VISIBLE,
  DP_KIND_NOT_FOUND,
  DP_KIND_UNAUTHORIZED,
  DP_KIND_FORBIDDEN,
  DP_KIND_VERSION_CONFLICT,
  DP_KIND_RATE_LIMITED,
  DP_KIND_SERVER_ERROR,
  DP_KIND_NETWORK,
  DP_KIND_EXPIRED,         /* a Bulk export's file or job is gone (410): export again */
  DP_KIND_UNTRUSTED_ORIGIN, /* a URL docpipe will not fetch: another origin, or an
                               address such as cloud metadata or the intranet */
  DP_KIND_IO,              /* a local file could not be read */
  DP_KIND_INTERNAL,        /* a docpipe bug: a stage lost a record */
  DP_KIND_COUNT
};

const char *dpi_kind_name(enum dp_kind kind);
/* What the kind means, in one line. */
const char *dpi_kind_summary(enum dp_kind kind);
/* Reverse of dpi_kind_name; DP_KIND_NONE when unknown. */
enum dp_kind dpi_kind_from_name(const char *name);

/* Exit statuses of the docpipe program (documented in README and --help). */
enum dp_exit {
  DP_EXIT_OK = 0,       /* every document converted */
  DP_EXIT_FAILURES = 1, /* the run finished, some documents gave error records */
  DP_EXIT_FATAL = 2     /* usage error or the run could not go on */
};

#endif
