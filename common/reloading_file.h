// ReloadingFile<T>: a value parsed from a file that operators may replace while the process runs
// (a rotated Kubernetes Secret: the tokens file, the access policy).
//
// Current() re-reads the file when its modification time or size changed, checked at most once
// per interval. A file that cannot be read or parsed keeps the previous value in force, logs why,
// and is tried again at the next check: a typo in a rotated file never opens or closes the door.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/duration.h"
#include "common/status.h"

namespace gridflow {

template <typename T>
class ReloadingFile {
 public:
  // Parses the file at `path` into *out; anything but OK keeps the previous value.
  using Parser = std::function<Status(const std::string& path, T* out)>;

  // `initial` is what the file held when the caller read it first (for clear start-up errors).
  ReloadingFile(std::string what, std::string path, T initial, Millis interval, Parser parse)
      : what_(std::move(what)),
        path_(std::move(path)),
        interval_(interval),
        parse_(std::move(parse)),
        value_(std::make_shared<const T>(std::move(initial))),
        version_(FileVersion(path_)),
        checked_(std::chrono::steady_clock::now()) {}

  std::shared_ptr<const T> Current() {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - checked_ < interval_) return value_;
    checked_ = now;
    const auto version = FileVersion(path_);
    if (version == version_) return value_;
    T fresh;
    if (Status s = parse_(path_, &fresh); !s.ok()) {
      spdlog::error("{} {} changed but is unusable, keeping the previous one: {}", what_, path_,
                    s.message());
      return value_;  // version_ unchanged: tried again at the next check
    }
    version_ = version;
    value_ = std::make_shared<const T>(std::move(fresh));
    spdlog::info("{} {} reloaded", what_, path_);
    return value_;
  }

 private:
  // Modification time and size: Kubernetes replaces a Secret's files by swapping a symbolic
  // link, which changes both.
  static std::pair<int64_t, uintmax_t> FileVersion(const std::string& path) {
    std::error_code error;
    const auto time = std::filesystem::last_write_time(path, error);
    const auto size = std::filesystem::file_size(path, error);
    if (error) return {0, 0};
    return {static_cast<int64_t>(time.time_since_epoch().count()), size};
  }

  const std::string what_;
  const std::string path_;
  const Millis interval_;
  const Parser parse_;
  std::mutex mu_;
  std::shared_ptr<const T> value_;                 // guarded by mu_
  std::pair<int64_t, uintmax_t> version_;          // guarded by mu_
  std::chrono::steady_clock::time_point checked_;  // guarded by mu_
};

}  // namespace gridflow
