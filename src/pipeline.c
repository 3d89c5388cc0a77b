/* pipeline.c - placeholder */
typedef int dp_placeholder_pipeline;
