/* ole2make.c - see ole2make.h */
#include "ole2make.h"

#include <gsf/gsf.h>
#include <stdlib.h>
#include <string.h>

static void put(GsfOutfile *dir, const char *name, const void *data, size_t len)
{
  GsfOutput *s = gsf_outfile_new_child(dir, name, FALSE);
  gsf_output_write(s, len, data);
  gsf_output_close(s);
  g_object_unref(s);
}

unsigned char *dpt_ole2_make(const struct dpt_stream *streams, size_t n, size_t *len)
{
  gsf_init();
  GsfOutput *mem = gsf_output_memory_new();
  GsfOutfile *ole = gsf_outfile_msole_new(mem);
  GsfOutfile *sub = NULL;
  char subname[64] = "";
  for(size_t i = 0; i < n; i++) {
    const char *slash = strchr(streams[i].name, '/');
    if(!slash) {
      put(ole, streams[i].name, streams[i].data, streams[i].len);
      continue;
    }
    size_t k = (size_t)(slash - streams[i].name);
    if(!sub || strlen(subname) != k || strncmp(subname, streams[i].name, k)) {
      if(sub) {
        gsf_output_close(GSF_OUTPUT(sub));
        g_object_unref(sub);
      }
      memcpy(subname, streams[i].name, k < 63 ? k : 63);
      subname[k < 63 ? k : 63] = '\0';
      sub = GSF_OUTFILE(gsf_outfile_new_child(ole, subname, TRUE));
    }
    put(sub, slash + 1, streams[i].data, streams[i].len);
  }
  if(sub) {
    gsf_output_close(GSF_OUTPUT(sub));
    g_object_unref(sub);
  }
  gsf_output_close(GSF_OUTPUT(ole));
  g_object_unref(ole);
  *len = (size_t)gsf_output_size(mem);
  unsigned char *out = malloc(*len ? *len : 1);
  if(out)
    memcpy(out, gsf_output_memory_get_bytes(GSF_OUTPUT_MEMORY(mem)), *len);
  g_object_unref(mem);
  return out;
}
