/* isowire.h - the wire protocol between docpipe and its extraction helpers.
 *
 * Both sides of isolation speak it: the parent (isolate.h) and the helper
 * process (isoworker.h); neither knows the other's code.  One socketpair,
 * the helper's end on descriptor DP_WIRE_FD.  Numbers are 8 bytes, little
 * endian.
 *
 *   request  "DPRQ", header length, body length, the record's JSON without
 *            its bytes (the header), then the raw bytes (the body)
 *   answer   frames, one per record or failure the extraction produced:
 *            a type byte, a length, a payload; then an end frame (a type
 *            byte alone)
 *
 * A record frame holds the record's NDJSON line; a failure frame the
 * record's JSON, without its bytes, with its error under "_err" (kind,
 * message, hint).  Bytes are never re-encoded on the way. */
#ifndef DP_ISOWIRE_H
#define DP_ISOWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define DP_WIRE_FD 3
#define DP_WIRE_MAGIC "DPRQ"

enum dp_wire_frame { DP_WIRE_RECORD = 'R', DP_WIRE_FAILED = 'F', DP_WIRE_END = 'E' };

/* Now, in seconds on the monotonic clock: what deadlines are made of. */
double dpi_wire_now(void);
/* Read or write exactly len bytes.  0 done, -1 the peer is gone, -2 the
 * deadline passed (0: none). */
int dpi_wire_io(int fd, void *buf, size_t len, int writing, double deadline);
int dpi_wire_put_u64(int fd, uint64_t v, double deadline);
int dpi_wire_get_u64(int fd, uint64_t *v, double deadline);

/* The parent's request: magic, lengths, header, body. */
int dpi_wire_send_request(int fd, const char *header, size_t hlen, const void *body, size_t blen,
                          double deadline);
/* The helper's reading of a request's start: 0 with both lengths, 1 when
 * the parent closed the socket (no more requests), -1 when the bytes are
 * no request. */
int dpi_wire_read_request(int fd, uint64_t *hlen, uint64_t *blen);

/* One answer frame; 0 or -1 (the peer is gone). */
int dpi_wire_send_frame(int fd, enum dp_wire_frame type, const char *data, size_t len);
/* The next answer frame: *type, and unless it is the end a payload of at
 * most max bytes, NUL-terminated, in *payload (the caller frees it).  0,
 * -1 (the peer is gone or broke the protocol) or -2 (the deadline). */
int dpi_wire_get_frame(int fd, size_t max, double deadline, enum dp_wire_frame *type,
                       char **payload, size_t *len);

/* A failure frame's payload made from rec (its error moves under "_err",
 * its bytes are dropped): text owned by rec->obj, valid until rec changes. */
const char *dpi_wire_failure(struct dp_record *rec, size_t *len);
/* The failed record a failure frame's JSON holds (obj is taken), or NULL. */
struct dp_record *dpi_wire_failed_record(json_object *obj);

#endif
