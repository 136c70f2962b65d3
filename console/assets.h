// The web UI's files (console/web/), built into the binary by console/embed_assets.cmake: the
// console loads nothing from anywhere at run time.
#pragma once

#include <cstddef>
#include <string_view>

namespace gridflow::console {

struct Asset {
  std::string_view path;  // "/app.js"
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path` ("/" is index.html); nullptr when there is none.
const Asset* FindAsset(std::string_view path);

}  // namespace gridflow::console
