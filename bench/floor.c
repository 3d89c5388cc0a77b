/* floor.c - how fast the libraries alone go on the benchmark's documents:
 * poppler-glib lays out the text of every PDF page, libxml2 parses every
 * XML document, nothing else (no JSON, no Base64, no records).  docpipe
 * cannot beat this; bench/run prints how close it comes.
 *
 *   docpipe-floor THREADS FILE...   */
#include <libxml/parser.h>
#include <poppler.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char **files;
static int nfiles;
static atomic_int next_file;

static void one(const char *path)
{
  gchar *data;
  gsize len;
  if(!g_file_get_contents(path, &data, &len, NULL))
    return;
  if(len > 5 && !memcmp(data, "%PDF-", 5)) {
    GBytes *b = g_bytes_new_static(data, len);
    PopplerDocument *doc = poppler_document_new_from_bytes(b, NULL, NULL);
    for(int i = 0; doc && i < poppler_document_get_n_pages(doc); i++) {
      PopplerPage *p = poppler_document_get_page(doc, i);
      g_free(poppler_page_get_text(p));
      g_object_unref(p);
    }
    if(doc)
      g_object_unref(doc);
    g_bytes_unref(b);
  } else if(len && (data[0] == '<' || (len > 3 && !memcmp(data, "\xEF\xBB\xBF<", 4)))) {
    xmlDocPtr x = xmlReadMemory(data, (int)len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlFreeDoc(x);
  }
  g_free(data);
}

static void *worker(void *arg)
{
  (void)arg;
  for(int i; (i = atomic_fetch_add(&next_file, 1)) < nfiles;)
    one(files[i]);
  return NULL;
}

int main(int argc, char **argv)
{
  if(argc < 3) {
    fprintf(stderr, "usage: docpipe-floor THREADS FILE...\n");
    return 2;
  }
  int threads = atoi(argv[1]);
  files = argv + 2;
  nfiles = argc - 2;
  xmlInitParser();
  one(files[0]); /* poppler's one-time set-up, outside the clock */
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pthread_t t[64];
  if(threads < 1 || threads > 64)
    threads = 1;
  for(int i = 0; i < threads; i++)
    pthread_create(&t[i], NULL, worker, NULL);
  for(int i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  printf("%d %.6f\n", nfiles, s);
  return 0;
}
