/* main.c - docpipe program entry. */
#include "cli.h"

int main(int argc, char **argv)
{
  return dpi_cli_main(argc, argv);
}
