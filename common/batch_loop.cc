#include "common/batch_loop.h"

#include <spdlog/spdlog.h>

namespace gridflow {

BatchLoop::BatchLoop(std::string name, Millis interval, int batch, Step step)
    : name_(std::move(name)),
      batch_(batch),
      step_(std::move(step)),
      task_(name_, interval, [this] { Tick(); }) {}

void BatchLoop::Tick() {
  int done = batch_;
  while (done >= batch_) {
    done = 0;
    const Status s = step_(batch_, &done);
    if (!s.ok()) {
      spdlog::warn("{}: {}", name_, s.ToString());
      return;
    }
  }
}

}  // namespace gridflow
