#include "engine/scheduler/parsed_run_cache.h"

#include <utility>

namespace gridflow::engine {

std::map<std::string, HeldRun> ParsedRunCache::TakeForTasks(const std::vector<int64_t>& task_ids) {
  std::map<std::string, HeldRun> taken;
  std::lock_guard lock(mu_);
  for (const int64_t task_id : task_ids) {
    const auto run = runs_of_tasks_.find(task_id);
    if (run == runs_of_tasks_.end()) continue;
    const auto it = items_.find(run->second);
    taken.emplace(it->first, std::move(it->second.held));
    Erase(it);
  }
  return taken;
}

void ParsedRunCache::Put(const std::string& run_id, HeldRun held,
                         std::vector<int64_t> open_task_ids) {
  const size_t text_bytes = held.run.text_bytes;
  if (text_bytes > max_text_bytes_ / 4) return;
  std::lock_guard lock(mu_);
  if (const auto it = items_.find(run_id); it != items_.end()) Erase(it);
  while (!ages_.empty() &&
         (text_bytes_ + text_bytes > max_text_bytes_ || items_.size() >= max_runs_)) {
    Erase(items_.find(ages_.front()));
  }
  text_bytes_ += text_bytes;
  ages_.push_back(run_id);
  for (const int64_t task_id : open_task_ids)
    runs_of_tasks_[task_id] = run_id;
  items_.emplace(run_id, Item{std::move(held), std::move(open_task_ids), std::prev(ages_.end())});
}

size_t ParsedRunCache::text_bytes() const {
  std::lock_guard lock(mu_);
  return text_bytes_;
}

size_t ParsedRunCache::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

void ParsedRunCache::Erase(std::map<std::string, Item>::iterator it) {
  for (const int64_t task_id : it->second.task_ids) {
    const auto run = runs_of_tasks_.find(task_id);
    if (run != runs_of_tasks_.end() && run->second == it->first) runs_of_tasks_.erase(run);
  }
  text_bytes_ -= it->second.held.run.text_bytes;
  ages_.erase(it->second.age);
  items_.erase(it);
}

}  // namespace gridflow::engine
