/* interrupt.c - see interrupt.h */
#include "interrupt.h"

#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
  if(caught) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  caught = sig;
}

void dpi_interrupt_install(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int dpi_interrupted(void)
{
  return caught != 0;
}

int dpi_sleep(double seconds)
{
  while(seconds > 0) {
    if(caught)
      return 1;
    double step = seconds < 0.05 ? seconds : 0.05;
    struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
    nanosleep(&ts, NULL); /* EINTR: the loop looks at the flag */
    seconds -= step;
  }
  return caught != 0;
}
