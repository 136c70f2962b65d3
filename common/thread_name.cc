#include "common/thread_name.h"

#include <pthread.h>

#include <algorithm>

namespace gridflow {

namespace {
constexpr size_t kLinuxNameBytes = 15;  // TASK_COMM_LEN minus the terminating NUL
}  // namespace

std::string ThreadName(std::string_view what) {
  std::string name = "gf-" + std::string(what);
  std::replace(name.begin(), name.end(), ' ', '-');
  name.resize(std::min(name.size(), kLinuxNameBytes));
  return name;
}

void NameThisThread(std::string_view what) {
  pthread_setname_np(pthread_self(), ThreadName(what).c_str());
}

}  // namespace gridflow
