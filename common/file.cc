#include "common/file.h"

#include <fstream>
#include <sstream>

namespace gridflow {

Status ReadTextFile(const std::string& what, const std::string& path, std::string* text) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(what + ": cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return Status::Ok();
}

}  // namespace gridflow
