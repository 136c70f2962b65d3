#include "engine/api/page_budget.h"

namespace gridflow::engine {

int FillOpenTasks(const std::vector<persistence::TaskRow>& tasks,
                  google::protobuf::RepeatedPtrField<v1::TaskInfo>* page) {
  size_t page_bytes = 0;
  int omitted = 0;
  for (const persistence::TaskRow& task : tasks) {
    v1::TaskInfo info;
    ToProto(task, &info);
    size_t bytes = info.ByteSizeLong();
    if (page_bytes + bytes > kPageByteBudget) {
      // What makes a task large is its details (each up to the payload limit); without them a
      // task is a few hundred bytes, and an operator still sees every task of the run.
      info.clear_heartbeat_details_json();
      if (info.has_last_failure()) info.mutable_last_failure()->clear_details_json();
      info.set_details_omitted(true);
      bytes = info.ByteSizeLong();
    }
    if (page_bytes + bytes > kPageByteBudget) {
      ++omitted;
      continue;
    }
    page_bytes += bytes;
    *page->Add() = std::move(info);
  }
  return omitted;
}

}  // namespace gridflow::engine
