// Answers that a client can take: gRPC clients refuse an answer over 4 MiB unless told otherwise,
// and runs, events or leased tasks within the engine's payload limits can add up to far more. A
// page ends before its page_size when its items would pass kPageByteBudget (encoded bytes),
// always with at least one item, and its token continues after the last item sent; an answer of
// leased tasks carries those that fit and gives the others back to their queue; a run's open
// tasks (DescribeRun) come without their details, then not at all, past the budget.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "engine/api/proto_convert.h"

namespace gridflow::engine {

inline constexpr size_t kPageByteBudget = size_t{3} * 1024 * 1024;

// Appends `rows` to `page`, each converted by its ToProto (proto_convert.h), while the page stays
// within kPageByteBudget (the first row always goes in). Returns how many went in: the rest are for
// the next page, or, for tasks leased for this answer, to be given back.
template <typename Row, typename Item>
size_t FillPage(const std::vector<Row>& rows, google::protobuf::RepeatedPtrField<Item>* page) {
  size_t page_bytes = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    Item item;
    ToProto(rows[i], &item);
    const size_t item_bytes = item.ByteSizeLong();
    if (page->size() > 0 && page_bytes + item_bytes > kPageByteBudget) return i;
    page_bytes += item_bytes;
    *page->Add() = std::move(item);
  }
  return rows.size();
}

// Appends a run's open tasks to `page` within kPageByteBudget: a task that would pass it comes
// without its heartbeat and failure details (details_omitted), and one that would pass it even so
// is left out. Returns how many were left out.
int FillOpenTasks(const std::vector<persistence::TaskRow>& tasks,
                  google::protobuf::RepeatedPtrField<v1::TaskInfo>* page);

}  // namespace gridflow::engine
