/* ocr.h - text from scanned pages: Tesseract's C API on pages that Leptonica
 * decodes (image files) or that the caller rendered (PDF pages).
 *
 * Each thread that reads pages gets its own Tesseract engine, made on its
 * first page and kept for every later one (loading the language data costs
 * far more than a page), so a worker pool of N threads runs N engines.
 * Tesseract's own OpenMP threads are capped through OMP_THREAD_LIMIT, which
 * the OpenMP runtime reads once when the program starts: see
 * dpi_ocr_limit_threads. */
#ifndef DP_OCR_H
#define DP_OCR_H

#include <stddef.h>

#include "buf.h"
#include "record.h"

/* --ocr: which pages are OCRed. */
enum dp_ocr_mode {
  DP_OCR_AUTO,   /* images, and PDF pages with no text layer (or next to none) */
  DP_OCR_ALWAYS, /* every page of a PDF too */
  DP_OCR_NEVER   /* nothing: images give empty content, as before OCR */
};

/* What the pages OCRed so far gave: for meta.ocr (dpi_ocr_describe). */
struct dp_ocr_stats {
  unsigned pages;         /* pages OCRed */
  unsigned words;         /* words Tesseract recognised */
  double conf_sum;        /* sum of their confidences (0-100) */
  json_object *numbers;   /* the numbers of the pages OCRed (1-based); owned */
};

/* What an image file is, from its header alone (no pixel is decoded). */
struct dp_image_info {
  int width, height;  /* of its first page */
  unsigned pages;     /* frames of a TIFF, else 1 */
  double pixels;      /* width x height summed over every page */
};

/* Tesseract's version, as it says it. */
const char *dpi_ocr_version(void);

/* 0 when every language of `langs` ("eng", "eng+deu", as Tesseract takes
 * them) has its data file where Tesseract will look; else -1 with a
 * one-line reason naming the missing one. */
int dpi_ocr_check_languages(const char *langs, char *why, size_t whylen);

/* "auto", "always", "never" (--ocr): 0, or -1 for another word. */
int dpi_ocr_mode_parse(const char *name, enum dp_ocr_mode *mode);
const char *dpi_ocr_mode_name(enum dp_ocr_mode mode);

/* The variable that caps the OpenMP threads of Tesseract. */
#define DP_OCR_THREAD_VAR "OMP_THREAD_LIMIT"

/* A process that has no OMP_THREAD_LIMIT gets 1, so that -j N means N busy
 * cores and not N times Tesseract's own threads.  The OpenMP runtime reads
 * it once, when it is loaded, before main (and libc's start-up resets any
 * environment set earlier still): so it is set for the helper processes
 * that OCR runs in, and a process that OCRs itself must execute itself
 * again once it is set.  Returns 1 when it was set here. */
int dpi_ocr_limit_threads(void);

/* The header of an image file: 0, or -1 when Leptonica cannot read it. */
int dpi_image_info(const unsigned char *data, size_t len, struct dp_image_info *info);

/* OCR one 8-bit grey page, number `page` (rows `stride` bytes apart, `ppi` its resolution,
 * 0 unknown) and append its text to `text`, after a blank line when `text`
 * already holds some (pages are separated as PDF pages are).  0, or -1 with
 * a reason. */
int dpi_ocr_gray(const char *langs, unsigned page, const unsigned char *gray, int width,
                 int height, int stride, int ppi, struct dp_buf *text,
                 struct dp_ocr_stats *stats, char *why, size_t whylen);

/* OCR every page of an image file (every frame of a TIFF), at most
 * `max_pages`.  0; -1 with a reason (the file cannot be decoded); -2 with
 * a reason when a page has more than DP_MAX_IMAGE_PIXELS pixels (a
 * decompression bomb: found from the header, before any decoding). */
int dpi_ocr_image(const char *langs, const unsigned char *data, size_t len, unsigned max_pages,
                  struct dp_buf *text, struct dp_ocr_stats *stats, char *why, size_t whylen);

/* meta.ocr of rec from stats (nothing when no page was OCRed): the pages,
 * the language, the engine and its version, the mean word confidence; and
 * the warning of a scan that gave no text at all.  Frees what stats owns. */
void dpi_ocr_describe(struct dp_record *rec, struct dp_ocr_stats *stats, const char *langs,
                      size_t text_len);
/* What stats owns goes (the paths that fail before dpi_ocr_describe). */
void dpi_ocr_stats_free(struct dp_ocr_stats *stats);

/* The calling thread's engine goes (threads' engines go when they end; the
 * main thread calls this before it exits, so that nothing is left). */
void dpi_ocr_thread_done(void);

#endif
