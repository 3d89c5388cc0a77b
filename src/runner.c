/* runner.c - placeholder */
typedef int dp_placeholder_runner;
