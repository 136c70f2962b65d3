#include "cli/table.h"

#include <algorithm>

namespace gridflow::cli {
namespace {

size_t Width(const std::string& s) {
  return DisplayWidth(s);
}

std::string Cut(const std::string& s, size_t max) {
  if (Width(s) <= max) return s;
  std::string out;
  size_t chars = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80 && ++chars > max - 1) break;
    out += c;
  }
  return out + "…";
}

}  // namespace

size_t DisplayWidth(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string PadTo(const std::string& text, size_t width) {
  std::string cell = Cut(text, width);
  cell.append(width - Width(cell), ' ');
  return cell;
}

void Table::Print(std::ostream& out, size_t max_column) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i)
    widths[i] = Width(headers_[i]);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], std::min(Width(row[i]), MaxWidth(i, max_column)));
    }
  }
  const auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < cells.size() ? Cut(cells[i], MaxWidth(i, max_column)) : "";
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - Width(cell) + 2, ' ');
    }
    out << line << "\n";
  };
  print_row(headers_);
  for (const auto& row : rows_)
    print_row(row);
}

}  // namespace gridflow::cli
