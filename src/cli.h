/* cli.h - the docpipe command line (the only place that prints or exits). */
#ifndef DP_CLI_H
#define DP_CLI_H

/* Returns the process exit status (enum dp_exit). */
int dpi_cli_main(int argc, char **argv);

#endif
