#include "bench/resource_meter.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace gridflow::bench {
namespace {

struct ProcStat {
  bool ok = false;
  int ppid = 0;
  double own_seconds = 0;       // utime + stime
  double children_seconds = 0;  // cutime + cstime: children it reaped
};

ProcStat ReadStat(int pid) {
  ProcStat st;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return st;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return st;
  std::istringstream fields(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string field; fields >> field;)
    f.push_back(field);
  // f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
  if (f.size() < 15) return st;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  st.ppid = std::stoi(f[1]);
  st.own_seconds = (std::stod(f[11]) + std::stod(f[12])) / tick;
  st.children_seconds = (std::stod(f[13]) + std::stod(f[14])) / tick;
  st.ok = true;
  return st;
}

double RssMegabytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0;
}

}  // namespace

ResourceMeter::ResourceMeter(std::vector<int> engine_pids, int postmaster_pid)
    : engine_pids_(std::move(engine_pids)), postmaster_pid_(postmaster_pid) {
  Start();
}

void ResourceMeter::Start() {
  start_ = Take();
}

ResourceMeter::Sample ResourceMeter::Take() const {
  Sample s;
  s.at = std::chrono::steady_clock::now();
  for (const int pid : engine_pids_)
    s.engine_seconds += ReadStat(pid).own_seconds;
  if (postmaster_pid_ > 0) {
    const ProcStat postmaster = ReadStat(postmaster_pid_);
    s.postgres_seconds = postmaster.own_seconds + postmaster.children_seconds;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      const ProcStat child = ReadStat(std::stoi(name));
      if (child.ok && child.ppid == postmaster_pid_) s.postgres_seconds += child.own_seconds;
    }
  }
  return s;
}

ResourceUsage ResourceMeter::Stop() const {
  const Sample end = Take();
  const double wall = std::chrono::duration<double>(end.at - start_.at).count();
  ResourceUsage u;
  if (wall <= 0) return u;
  if (!engine_pids_.empty()) {
    u.engine_cores = (end.engine_seconds - start_.engine_seconds) / wall;
    u.engine_rss_mb = 0;
    for (const int pid : engine_pids_)
      u.engine_rss_mb += RssMegabytes(pid);
  }
  if (postmaster_pid_ > 0)
    u.postgres_cores = (end.postgres_seconds - start_.postgres_seconds) / wall;
  return u;
}

}  // namespace gridflow::bench
