// Reading small files whole (certificates, token files, definitions).
#pragma once

#include <string>

#include "common/status.h"

namespace gridflow {

// Reads the file at `path` into *text. INVALID_ARGUMENT "<what>: cannot read <path>" when it
// cannot be opened.
Status ReadTextFile(const std::string& what, const std::string& path, std::string* text);

}  // namespace gridflow
