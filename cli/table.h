// Table: aligned text columns for gridflowctl's human output, cut to fit 120 columns.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace gridflow::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Columns wider than `max_column` are cut with "…".
  void Print(std::ostream& out, size_t max_column = 40) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace gridflow::cli
