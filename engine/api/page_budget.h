// Pages that a client can take: gRPC clients refuse an answer over 4 MiB unless told otherwise,
// and runs or events within the engine's payload limits can add up to far more. A page ends
// before its page_size when its items would pass kPageByteBudget (encoded bytes), always with at
// least one item; its token then continues after the last item sent.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <cstddef>
#include <utility>
#include <vector>

namespace gridflow::engine {

inline constexpr size_t kPageByteBudget = size_t{3} * 1024 * 1024;

// Appends `rows` to `page`, each converted by `convert(row, Item*)`, while the page stays within
// kPageByteBudget; drops from `rows` those left for the next page. True when some were left.
template <typename Row, typename Item, typename Convert>
bool FillPage(std::vector<Row>* rows, google::protobuf::RepeatedPtrField<Item>* page,
              const Convert& convert) {
  size_t page_bytes = 0;
  for (size_t i = 0; i < rows->size(); ++i) {
    Item item;
    convert((*rows)[i], &item);
    const size_t item_bytes = item.ByteSizeLong();
    if (page->size() > 0 && page_bytes + item_bytes > kPageByteBudget) {
      rows->resize(i);
      return true;
    }
    page_bytes += item_bytes;
    *page->Add() = std::move(item);
  }
  return false;
}

}  // namespace gridflow::engine
