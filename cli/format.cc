#include "cli/format.h"

#include <google/protobuf/util/time_util.h>

#include <nlohmann/json.hpp>

#include "common/time.h"

namespace gridflow::cli {

using google::protobuf::util::TimeUtil;

namespace {
constexpr Millis kClockSkewTolerance{5000};

bool IsSet(const google::protobuf::Timestamp& t) {
  return t.seconds() != 0 || t.nanos() != 0;
}
}  // namespace

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (!IsSet(t)) return "";
  google::protobuf::Timestamp whole;
  whole.set_seconds(t.seconds());
  std::string text = TimeUtil::ToString(whole);  // "2026-11-25T14:28:42Z"
  text[10] = ' ';
  return text;
}

std::string FormatClock(const google::protobuf::Timestamp& t) {
  if (!IsSet(t)) return "";
  const std::string text = TimeUtil::ToString(t);  // "...T14:28:42.123456Z" or "...T14:28:42Z"
  std::string clock = text.substr(11, 8);
  const size_t dot = text.find('.');
  clock += dot == std::string::npos ? ".000" : text.substr(dot, 4);
  return clock;
}

std::string ShortDuration(Millis d) {
  int64_t ms = d.count();
  const std::string sign = ms < 0 ? "-" : "";
  ms = std::abs(ms);
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  struct Unit {
    int64_t ms;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  // The two largest units: "3h5m", not "3h5m12s".
  std::string out = sign;
  int parts = 0;
  for (const Unit& unit : kUnits) {
    if (parts == 0 && ms < unit.ms) continue;
    if (ms / unit.ms > 0) out += std::to_string(ms / unit.ms) + unit.suffix;
    ms %= unit.ms;
    if (++parts == 2) break;
  }
  return out;
}

std::string Ago(const google::protobuf::Timestamp& t) {
  if (!IsSet(t)) return "";
  const int64_t now = TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime());
  const int64_t ago = now - TimeUtil::TimestampToMilliseconds(t);
  // The engine stamps times with PostgreSQL's clock; this machine's may lag it a little.
  if (ago < 0)
    return ago > -kClockSkewTolerance.count() ? "just now" : "in " + ShortDuration(Millis(-ago));
  return ShortDuration(Millis(ago)) + " ago";
}

std::string StatusName(v1::RunStatus status) {
  const std::string& name = v1::RunStatus_Name(status);
  return name.rfind("RUN_STATUS_", 0) == 0 ? name.substr(11) : name;
}

std::string FormatAttributes(const v1::Run& run) {
  const nlohmann::json values =
      nlohmann::json::parse(run.search_attributes_json(), nullptr, /*allow_exceptions=*/false);
  if (!values.is_object()) return "";
  std::string text;
  for (const auto& [name, value] : values.items()) {  // nlohmann orders keys
    text += (text.empty() ? "" : " ") + name + "=" +
            (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return text;
}

std::string FormatRevision(const v1::Run& run) {
  if (run.revision() == 0) return "";
  std::string text = run.period() + " r" + std::to_string(run.revision());
  if (!run.superseded_by_workflow_id().empty()) {
    return text + ", superseded by " + run.superseded_by_workflow_id();
  }
  return text + " (latest)";
}

bool HasAttributes(const v1::Run& run) {
  return !FormatAttributes(run).empty();
}

std::optional<google::protobuf::Timestamp> ParseInstant(const std::string& text) {
  if (const auto t = ParseTimestamp(text)) {
    return TimeUtil::MicrosecondsToTimestamp(t->time_since_epoch().count());
  }
  if (const auto day = ParseDate(text)) {
    return TimeUtil::SecondsToTimestamp(int64_t{*day} * 86400);
  }
  if (const auto ago = ParseDuration(text)) {
    return TimeUtil::MillisecondsToTimestamp(
        TimeUtil::TimestampToMilliseconds(TimeUtil::GetCurrentTime()) - ago->count());
  }
  return std::nullopt;
}

}  // namespace gridflow::cli
