/* cli.c - placeholder */
typedef int dp_placeholder_cli;
