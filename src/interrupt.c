/* interrupt.c - see interrupt.h */
#include "interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t caught;
static pthread_t reader; /* the thread that installed the handler and reads the input */

static void on_signal(int sig)
{
  /* The kernel hands a process signal to any thread.  The one reading the
   * input must see it, so that a read(2) waiting on a pipe that has gone
   * quiet returns EINTR instead of holding the run until more comes. */
  if(!pthread_equal(pthread_self(), reader)) {
    pthread_kill(reader, sig);
    return;
  }
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
  reader = pthread_self();
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
