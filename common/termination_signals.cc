#include "common/termination_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <ctime>

namespace gridflow {
namespace {

sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal(const std::atomic<bool>& stop) {
  sigset_t set = TerminationSet();
  const timespec tick{0, 200'000'000};
  while (!stop.load()) {
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig > 0) return sig;
    // EAGAIN: tick elapsed; EINTR: another signal interrupted us. Either way, look at `stop` again.
  }
  return 0;
}

}  // namespace gridflow
