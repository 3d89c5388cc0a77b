/* ocr.c - see ocr.h */
#define _GNU_SOURCE 1 /* fmemopen */
#include "ocr.h"

#include <leptonica/allheaders.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tesseract/capi.h>
#include <unistd.h>

#include "dplimits.h"

/* One engine per thread, for the languages it was made for. */
struct engine {
  TessBaseAPI *api;
  char langs[DP_OCR_MAX_LANGS];
};

static pthread_key_t engine_key;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_free(void *p)
{
  struct engine *e = p;
  if(!e)
    return;
  TessBaseAPIEnd(e->api);
  TessBaseAPIDelete(e->api);
  free(e);
}

static void engine_key_make(void)
{
  (void)pthread_key_create(&engine_key, engine_free);
  /* Leptonica reports a file it cannot decode on stderr; docpipe says so
   * in the record instead. */
  setMsgSeverity(L_SEVERITY_NONE);
}

const char *dpi_ocr_version(void) { return TessVersion(); }

/* Where Tesseract looks for NAME.traineddata: $TESSDATA_PREFIX, else the
 * folder it was built for (CMakeLists.txt: DP_TESSDATA_DIR). */
static const char *tessdata_dir(void)
{
  const char *env = getenv("TESSDATA_PREFIX");
  return env && *env ? env : DP_TESSDATA_DIR;
}

int dpi_ocr_check_languages(const char *langs, char *why, size_t whylen)
{
  if(!langs || !*langs || strlen(langs) >= DP_OCR_MAX_LANGS) {
    snprintf(why, whylen, "--ocr-lang needs one or more language names joined by '+' "
                          "(eng, eng+deu)");
    return -1;
  }
  for(const char *p = langs; *p;) {
    size_t n = strcspn(p, "+");
    char name[DP_OCR_MAX_LANGS];
    memcpy(name, p, n);
    name[n] = 0;
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    if(!n || strspn(name, letters) != n) {
      snprintf(why, whylen, "--ocr-lang: '%s' is not a language name (eng, deu, eng+deu)", name);
      return -1;
    }
    char path[DP_OCR_MAX_PATH];
    if(snprintf(path, sizeof(path), "%s/%s.traineddata", tessdata_dir(), name) >=
           (int)sizeof(path) ||
       access(path, R_OK) != 0) {
      snprintf(why, whylen, "no OCR data for language '%s' in %s (install tesseract-ocr-%s, or "
                            "set TESSDATA_PREFIX)", name, tessdata_dir(), name);
      return -1;
    }
    p += n;
    if(*p == '+')
      p++;
  }
  return 0;
}

static const char *const mode_names[] = {
  [DP_OCR_AUTO] = "auto", [DP_OCR_ALWAYS] = "always", [DP_OCR_NEVER] = "never"};

int dpi_ocr_mode_parse(const char *name, enum dp_ocr_mode *mode)
{
  for(size_t k = 0; k < sizeof(mode_names) / sizeof(*mode_names); k++)
    if(!strcmp(name, mode_names[k])) {
      *mode = (enum dp_ocr_mode)k;
      return 0;
    }
  return -1;
}

const char *dpi_ocr_mode_name(enum dp_ocr_mode mode) { return mode_names[mode]; }

int dpi_ocr_limit_threads(void)
{
  if(getenv(DP_OCR_THREAD_VAR))
    return 0;
  return setenv(DP_OCR_THREAD_VAR, "1", 1) == 0;
}

/* The calling thread's engine for `langs`, made on first use. */
static TessBaseAPI *engine_for(const char *langs, char *why, size_t whylen)
{
  pthread_once(&engine_once, engine_key_make);
  struct engine *e = pthread_getspecific(engine_key);
  if(e && !strcmp(e->langs, langs))
    return e->api;
  engine_free(e);
  (void)pthread_setspecific(engine_key, NULL);
  e = calloc(1, sizeof(*e));
  if(!e || strlen(langs) >= sizeof(e->langs) || !(e->api = TessBaseAPICreate())) {
    free(e);
    snprintf(why, whylen, "out of memory for the OCR engine");
    return NULL;
  }
  strcpy(e->langs, langs);
  /* Tesseract's notes ("Estimating resolution as ...") go nowhere: stderr
   * is for docpipe's own lines. */
  if(TessBaseAPIInit3(e->api, tessdata_dir(), langs) != 0 ||
     !TessBaseAPISetVariable(e->api, "debug_file", "/dev/null")) {
    snprintf(why, whylen, "Tesseract cannot load language '%s' from %s", langs, tessdata_dir());
    TessBaseAPIDelete(e->api);
    free(e);
    return NULL;
  }
  /* The API's default is one uniform block; the tesseract program lays
   * out the page first (columns, blocks, paragraphs), as a scan needs. */
  TessBaseAPISetPageSegMode(e->api, PSM_AUTO);
  (void)pthread_setspecific(engine_key, e);
  return e->api;
}

void dpi_ocr_thread_done(void)
{
  pthread_once(&engine_once, engine_key_make);
  engine_free(pthread_getspecific(engine_key));
  (void)pthread_setspecific(engine_key, NULL);
}

/* Tesseract's text of the page set in api, appended after a blank line,
 * its trailing blank lines dropped; the word confidences counted. */
static int recognise(TessBaseAPI *api, unsigned page, struct dp_buf *text,
                     struct dp_ocr_stats *stats, char *why, size_t whylen)
{
  if(TessBaseAPIRecognize(api, NULL) != 0) {
    snprintf(why, whylen, "Tesseract could not read the page");
    return -1;
  }
  char *utf8 = TessBaseAPIGetUTF8Text(api);
  if(!utf8) {
    snprintf(why, whylen, "Tesseract gave no text for the page");
    return -1;
  }
  size_t n = strlen(utf8);
  while(n > 0 && (utf8[n - 1] == '\n' || utf8[n - 1] == ' ' || utf8[n - 1] == '\f'))
    n--;
  if(n > 0) {
    if(text->len)
      dpi_buf_adds(text, "\n\n");
    dpi_buf_add(text, utf8, n);
  }
  TessDeleteText(utf8);
  int *conf = TessBaseAPIAllWordConfidences(api);
  for(int *c = conf; c && *c >= 0; c++) {
    stats->words++;
    stats->conf_sum += *c;
  }
  TessDeleteIntArray(conf);
  stats->pages++;
  if(!stats->numbers)
    stats->numbers = json_object_new_array();
  json_object_array_add(stats->numbers, json_object_new_int((int)page));
  TessBaseAPIClear(api);
  return 0;
}

/* OCR of a decoded page of any depth (converted to 8-bit grey first). */
static int ocr_pix(const char *langs, unsigned page, PIX *pix, struct dp_buf *text,
                   struct dp_ocr_stats *stats, char *why, size_t whylen)
{
  TessBaseAPI *api = engine_for(langs, why, whylen);
  if(!api)
    return -1;
  PIX *gray = pixGetDepth(pix) == 8 && !pixGetColormap(pix) ? pixClone(pix)
                                                             : pixConvertTo8(pix, 0);
  if(!gray) {
    snprintf(why, whylen, "the page's pixels cannot be converted to grey");
    return -1;
  }
  TessBaseAPISetImage2(api, gray);
  if(pixGetXRes(pix) > 0)
    TessBaseAPISetSourceResolution(api, pixGetXRes(pix));
  int rc = recognise(api, page, text, stats, why, whylen);
  pixDestroy(&gray);
  return rc;
}

int dpi_ocr_gray(const char *langs, unsigned page, const unsigned char *gray, int width,
                 int height, int stride, int ppi, struct dp_buf *text,
                 struct dp_ocr_stats *stats, char *why, size_t whylen)
{
  PIX *pix = pixCreate(width, height, 8);
  if(!pix) {
    snprintf(why, whylen, "out of memory for a %dx%d page", width, height);
    return -1;
  }
  for(int y = 0; y < height; y++) {
    l_uint32 *line = pixGetData(pix) + (size_t)y * (size_t)pixGetWpl(pix);
    const unsigned char *row = gray + (size_t)y * (size_t)stride;
    for(int x = 0; x < width; x++)
      SET_DATA_BYTE(line, x, row[x]);
  }
  if(ppi > 0)
    pixSetResolution(pix, ppi, ppi);
  int rc = ocr_pix(langs, page, pix, text, stats, why, whylen);
  pixDestroy(&pix);
  return rc;
}

/* Frames of a TIFF in memory (libtiff counts its directories). */
static unsigned tiff_pages(const unsigned char *data, size_t len)
{
  FILE *f = fmemopen((void *)data, len, "rb");
  l_int32 n = 0;
  if(!f)
    return 1;
  if(tiffGetCount(f, &n) != 0 || n < 1)
    n = 1;
  fclose(f);
  return (unsigned)n;
}

int dpi_image_info(const unsigned char *data, size_t len, struct dp_image_info *info)
{
  pthread_once(&engine_once, engine_key_make);
  l_int32 format = 0, w = 0, h = 0, bps = 0, spp = 0, cmap = 0;
  memset(info, 0, sizeof(*info));
  if(len < 12 || pixReadHeaderMem(data, len, &format, &w, &h, &bps, &spp, &cmap) != 0 ||
     w <= 0 || h <= 0)
    return -1;
  info->width = w;
  info->height = h;
  info->pages = L_FORMAT_IS_TIFF(format) ? tiff_pages(data, len) : 1;
  info->pixels = (double)w * (double)h;
  return 0;
}

/* Whether page `n` of a TIFF is small enough to decode. */
static int tiff_page_size(const unsigned char *data, size_t len, unsigned n, double *pixels)
{
  l_int32 w = 0, h = 0, bps = 0, spp = 0, res = 0, cmap = 0, format = 0;
  if(readHeaderMemTiff(data, len, (l_int32)n, &w, &h, &bps, &spp, &res, &cmap, &format) != 0)
    return -1;
  *pixels = (double)w * (double)h;
  return 0;
}

int dpi_ocr_image(const char *langs, const unsigned char *data, size_t len, unsigned max_pages,
                  struct dp_buf *text, struct dp_ocr_stats *stats, char *why, size_t whylen)
{
  struct dp_image_info info;
  if(dpi_image_info(data, len, &info) != 0) {
    snprintf(why, whylen, "the image cannot be decoded");
    return -1;
  }
  int tiff = info.pages > 1;
  unsigned pages = info.pages < max_pages ? info.pages : max_pages;
  for(unsigned i = 0; i < pages && !dpi_buf_failed(text); i++) {
    double pixels = info.pixels;
    if(tiff && tiff_page_size(data, len, i, &pixels) != 0) {
      snprintf(why, whylen, "page %u of %u of the TIFF cannot be decoded", i + 1, info.pages);
      return -1;
    }
    if(pixels > DP_MAX_IMAGE_PIXELS) {
      snprintf(why, whylen, "page %u is %.0f megapixels, over the cap of %.0f", i + 1,
               pixels / 1e6, DP_MAX_IMAGE_PIXELS / 1e6);
      return -2;
    }
    PIX *pix = tiff ? pixReadMemTiff(data, len, (l_int32)i) : pixReadMem(data, len);
    if(!pix) {
      snprintf(why, whylen, "page %u of the image cannot be decoded", i + 1);
      return -1;
    }
    int rc = ocr_pix(langs, i + 1, pix, text, stats, why, whylen);
    pixDestroy(&pix);
    if(rc != 0)
      return rc;
  }
  return 0;
}

void dpi_ocr_stats_free(struct dp_ocr_stats *stats)
{
  json_object_put(stats->numbers);
  stats->numbers = NULL;
}

void dpi_ocr_describe(struct dp_record *rec, struct dp_ocr_stats *stats, const char *langs,
                      size_t text_len)
{
  if(!stats->pages) {
    dpi_ocr_stats_free(stats);
    return;
  }
  json_object *ocr = json_object_new_object();
  json_object_object_add(ocr, "pages", stats->numbers);
  stats->numbers = NULL;
  json_object_object_add(ocr, "language", json_object_new_string(langs));
  char engine[64];
  snprintf(engine, sizeof(engine), "tesseract %s", TessVersion());
  json_object_object_add(ocr, "engine", json_object_new_string(engine));
  /* One decimal: Tesseract's confidences are whole numbers. */
  char mean[32];
  snprintf(mean, sizeof(mean), "%.1f", stats->words ? stats->conf_sum / stats->words : 0.0);
  json_object_object_add(ocr, "meanConfidence",
                         json_object_new_double_s(strtod(mean, NULL), mean));
  json_object_object_add(dpi_record_object(rec, "meta"), "ocr", ocr);
  if(text_len == 0)
    dpi_record_warn(rec, "no text: OCR of %u scanned page%s found none", stats->pages,
                    stats->pages == 1 ? "" : "s");
}
