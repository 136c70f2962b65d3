// Table: aligned text columns for gridflowctl's human output, cut to fit 120 columns.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace gridflow::cli {

// Display width in characters (UTF-8 continuation bytes do not count).
size_t DisplayWidth(const std::string& text);
// `text` cut to `width` characters (the last one "…" when cut) and padded with spaces to it.
std::string PadTo(const std::string& text, size_t width);

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  size_t rows() const { return rows_.size(); }
  // Per-column limits (overriding Print's `max_column`), so a table can be made to fit 120 columns.
  void SetMaxWidths(std::vector<size_t> widths) { max_widths_ = std::move(widths); }
  // Columns wider than their limit are cut with "…".
  void Print(std::ostream& out, size_t max_column = 40) const;

 private:
  size_t MaxWidth(size_t column, size_t fallback) const {
    return column < max_widths_.size() ? max_widths_[column] : fallback;
  }

  std::vector<std::string> headers_;
  std::vector<size_t> max_widths_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace gridflow::cli
