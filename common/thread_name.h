// Thread names: every long-lived thread Gridflow starts names itself, so `top -H`, `perf`, `gdb`
// and /proc/<pid>/task/*/comm show what it does ("gf-commit", "gf-lease-reaper") instead of the
// binary's name. Linux keeps 15 bytes of a name: longer ones are cut.
#pragma once

#include <string>
#include <string_view>

namespace gridflow {

// "gf-" + `what` with spaces turned into dashes, at most 15 bytes ("lease reaper" →
// "gf-lease-reaper").
std::string ThreadName(std::string_view what);

// Names the calling thread ThreadName(what). Best effort: a platform without names ignores it.
void NameThisThread(std::string_view what);

}  // namespace gridflow
