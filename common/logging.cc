#include "common/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>

namespace gridflow {
namespace {

// One JSON object per line: {"time":..., "level":..., "component":..., "thread":..., "msg":...}.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string component) : component_(std::move(component)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using std::chrono::duration_cast;
    const auto micros =
        duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char stamp[40];
    const size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(stamp + n, sizeof stamp - n, ".%06lldZ",
                  static_cast<long long>(micros % 1'000'000));
    nlohmann::json line = {
        {"time", stamp},
        {"level", spdlog::level::to_string_view(msg.level).data()},
        {"component", component_},
        {"thread", msg.thread_id},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    for (auto& [key, value] : LogContextFields({msg.payload.data(), msg.payload.size()}))
      line[key] = std::move(value);
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(component_);
  }

 private:
  std::string component_;
};

}  // namespace

Status ConfigureLogging(std::string_view component, std::string_view level,
                        std::string_view format) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return Status::InvalidArgument("unknown log level '" + std::string(level) +
                                   "' (trace, debug, info, warn, error, critical, off)");
  }
  spdlog::drop(std::string(component));  // configuring twice replaces the logger
  auto logger = spdlog::stderr_logger_mt(std::string(component));
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>(std::string(component)));
  } else if (format == "text") {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ [" + std::string(component) + "] %v",
                        spdlog::pattern_time_type::utc);
  } else {
    return Status::InvalidArgument("unknown log format '" + std::string(format) + "' (text, json)");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> LogContextFields(std::string_view message) {
  static const std::pair<std::string_view, const char*> kKeys[] = {
      {"run=", "run_id"}, {"task=", "task_id"}, {"step=", "step"}, {"workflow_id=", "workflow_id"}};
  std::vector<std::pair<std::string, std::string>> fields;
  size_t at = 0;
  while (at < message.size()) {
    bool matched = false;
    for (const auto& [prefix, field] : kKeys) {
      if (message.substr(at, prefix.size()) != prefix) continue;
      const size_t start = at + prefix.size();
      size_t end = message.find_first_of(" :,", start);
      if (end == std::string_view::npos) end = message.size();
      fields.emplace_back(field, std::string(message.substr(start, end - start)));
      at = end;
      while (at < message.size() && message[at] == ' ')
        ++at;
      matched = true;
      break;
    }
    if (!matched) break;  // only the leading context, never words further in the message
  }
  return fields;
}

std::string RedactConnectionString(std::string_view dsn) {
  std::string out(dsn);
  // URI form: scheme://user:password@host
  static const std::regex kUriPassword(R"(^([a-z]+://[^:/@]*):[^@]*@)");
  out = std::regex_replace(out, kUriPassword, "$1:***@");
  // keyword form: password=secret or password='sec ret'
  static const std::regex kKeywordPassword(R"(password\s*=\s*('([^'\\]|\\.)*'|\S+))");
  out = std::regex_replace(out, kKeywordPassword, "password=***");
  return out;
}

}  // namespace gridflow
