/* isoworker.c - see isoworker.h */
#define _GNU_SOURCE 1 /* PR_SET_PDEATHSIG */
#include "isoworker.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "extract.h"
#include "isowire.h"
#include "ndjson.h"
#include "options.h"

/* Writes what the extraction emits as answer frames. */
struct frame_writer {
  struct dp_emitter base;
  int fd;
  int broken;
};

static void send_frame(struct frame_writer *w, enum dp_wire_frame type, const char *data,
                       size_t len)
{
  if(w->broken || dpi_wire_send_frame(w->fd, type, data, len))
    w->broken = 1;
}

static enum dp_status frame_emit(struct dp_emitter *self, struct dp_record *rec)
{
  struct frame_writer *w = (struct frame_writer *)self;
  struct dp_buf line;
  dpi_buf_init(&line, (size_t)4 << 30);
  if(dpi_record_write(rec, &line))
    w->broken = 1;
  else
    send_frame(w, DP_WIRE_RECORD, line.mem, line.len);
  dpi_buf_free(&line);
  dpi_record_free(rec);
  return w->broken ? DP_FATAL : DP_OK;
}

static enum dp_status frame_fail(struct dp_emitter *self, struct dp_record *rec)
{
  struct frame_writer *w = (struct frame_writer *)self;
  size_t n;
  const char *s = dpi_wire_failure(rec, &n);
  send_frame(w, DP_WIRE_FAILED, s, n);
  dpi_record_free(rec);
  return w->broken ? DP_FATAL : DP_OK;
}

/* Test hooks: make the helper crash or hang on a chosen document, so the
 * tests can prove that the run survives both (a real library crash cannot
 * be summoned on demand). */
static void test_hooks(const struct dp_record *rec)
{
  const char *sha = dpi_record_str(rec, "sha256");
  const char *crash = getenv("DOCPIPE_TEST_CRASH_SHA256");
  const char *hang = getenv("DOCPIPE_TEST_HANG_SHA256");
  if(sha && crash && *crash && !strncmp(sha, crash, strlen(crash)))
    raise(SIGSEGV);
  if(sha && hang && *hang && !strncmp(sha, hang, strlen(hang)))
    for(;;)
      pause();
}

/* The process's limits, and the caps of the run from the command line into
 * ctx.  0; -1 when the parent is already gone; 2 (the exit status) for bad
 * arguments. */
static int set_up(int argc, char **argv, const struct dp_stage_ops *const *stages,
                  struct dp_context *ctx)
{
  if(argc < 10)
    return 2;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if(getppid() == 1)
    return -1; /* the parent is already gone */
  signal(SIGINT, SIG_IGN);
  struct rlimit core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);
  dpi_context_defaults(ctx, stages);
  size_t mem = 0;
  if(dpi_parse_size(argv[2], &ctx->max_text) || dpi_parse_uint(argv[3], &ctx->max_pages) ||
     dpi_parse_size(argv[4], &ctx->max_document) || dpi_parse_size(argv[5], &mem) ||
     dpi_parse_uint(argv[6], &ctx->max_depth) || dpi_ocr_mode_parse(argv[7], &ctx->ocr) ||
     dpi_parse_uint(argv[9], &ctx->ocr_dpi))
    return 2;
  ctx->ocr_lang = argv[8];
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  /* (The sanitizers reserve terabytes of address space up front.) */
  struct rlimit as = {(rlim_t)mem, (rlim_t)mem};
  if(mem)
    setrlimit(RLIMIT_AS, &as);
#endif
  ctx->iso = NULL; /* in here, everything runs in this process */
  return 0;
}

/* No memory for the document under --max-memory: read it away and say so,
 * rather than die.  0, or 3 when the parent's bytes stop short. */
static int refuse(struct frame_writer *fw, struct dp_record *rec, uint64_t blen)
{
  char sink[65536];
  for(uint64_t left = blen; left;) {
    size_t n = left < sizeof(sink) ? (size_t)left : sizeof(sink);
    if(dpi_wire_io(fw->fd, sink, n, 0, 0))
      return 3;
    left -= n;
  }
  dpi_record_hint(rec, "raise --max-memory");
  dpi_record_fail(rec, DP_KIND_TOO_LARGE, "no memory for a %llu-byte document within "
                                          "--max-memory", (unsigned long long)blen);
  frame_fail(&fw->base, rec);
  return 0;
}

/* One request: read it, extract it, answer.  -1 when the parent is done
 * (the loop ends with status 0), 3 for a broken request, else 0. */
static int serve(const struct dp_context *ctx)
{
  uint64_t hlen, blen;
  int got = dpi_wire_read_request(DP_WIRE_FD, &hlen, &blen);
  if(got > 0)
    return -1; /* the parent closed the socket: done */
  if(got < 0 || hlen > (1u << 30) || blen > ctx->max_document)
    return 3;
  char *header = malloc((size_t)hlen + 1);
  if(!header || dpi_wire_io(DP_WIRE_FD, header, (size_t)hlen, 0, 0))
    return 3;
  json_object *obj = NULL;
  char why[128];
  dpi_json_parse(header, (size_t)hlen, &obj, why, sizeof(why));
  free(header);
  struct dp_record *rec = obj ? dpi_record_from_json(obj) : NULL;
  if(!rec)
    return 3;
  struct frame_writer fw = {{frame_emit, frame_fail}, DP_WIRE_FD, 0};
  struct dp_buf body;
  dpi_buf_init(&body, ctx->max_document);
  char *w = dpi_buf_reserve(&body, (size_t)blen);
  if(!w) {
    if(refuse(&fw, rec, blen))
      return 3;
  } else {
    if(dpi_wire_io(DP_WIRE_FD, w, (size_t)blen, 0, 0))
      return 3;
    dpi_buf_commit(&body, (size_t)blen);
    dpi_buf_free(&rec->body);
    rec->body = body;
    rec->has_body = 1;
    test_hooks(rec);
    if(dpi_extract_record(ctx, rec, &fw.base) == DP_FAIL)
      frame_fail(&fw.base, rec);
  }
  if(fw.broken || dpi_wire_send_frame(DP_WIRE_FD, DP_WIRE_END, NULL, 0))
    return -1;
  return 0;
}

int dpi_isolate_worker_main(int argc, char **argv, const struct dp_stage_ops *const *stages)
{
  struct dp_context ctx;
  int rc = set_up(argc, argv, stages, &ctx);
  if(rc)
    return rc < 0 ? 0 : rc;
  while(!(rc = serve(&ctx)))
    ;
  return rc < 0 ? 0 : rc;
}
