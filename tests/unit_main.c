/* unit_main.c - runs the CUnit suites: all of them, or those named.
 *
 * Exits non-zero when a test fails or when no test ran at all: a run that
 * checks nothing must not look like a pass. */
#include <CUnit/Basic.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>

#include "ocr.h"
#include "suites.h"

int main(int argc, char **argv)
{
  xmlInitParser();
  if(CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  for(const struct dpt_suite_entry *e = dpt_suite_list; e->name; e++) {
    int wanted = argc < 2;
    for(int i = 1; i < argc; i++)
      wanted |= !strcmp(argv[i], e->name);
    if(wanted)
      e->add();
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned ran = CU_get_number_of_tests_run();
  unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_failures();
  CU_cleanup_registry();
  xmlCleanupParser();
  dpi_ocr_thread_done(); /* the main thread's OCR engine (ocr.h) */
  if(ran == 0) {
    fprintf(stderr, "docpipe_tests: no test ran\n");
    return 1;
  }
  printf("docpipe_tests: %u tests run, %u failed\n", ran, failed);
  return failed ? 1 : 0;
}
