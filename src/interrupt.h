/* interrupt.h - Ctrl-C and SIGTERM: finish cleanly instead of dying.
 *
 * The first SIGINT or SIGTERM sets a flag: the runner stops reading input,
 * the records in hand are finished and written, network stages cancel what
 * they started on the server (a Bulk export job), and the run exits with its
 * summary.  A second signal ends the process at once. */
#ifndef DP_INTERRUPT_H
#define DP_INTERRUPT_H

void dpi_interrupt_install(void);
int dpi_interrupted(void);
/* Sleep, but wake within 50 ms of the first signal: every wait of docpipe
 * (backoffs, Retry-After, export polls, pacing) goes through here, so an
 * interrupted run never sits out a long wait.  Returns 1 when cut short. */
int dpi_sleep(double seconds);

#endif
