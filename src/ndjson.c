/* ndjson.c - placeholder */
typedef int dp_placeholder_ndjson;
