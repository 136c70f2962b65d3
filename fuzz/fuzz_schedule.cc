// Any bytes as a schedule spec or a calendar body (CreateSchedule's spec_json, PutCalendar's
// body_json): parsing must answer (a Status), never crash, hang or leak; an accepted spec's next
// nominal times strictly increase, each with a fire time and a run input that answer too; an
// accepted calendar's stored form reads back as the same calendar.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/json_text.h"
#include "engine/schedules/schedule_spec.h"

namespace {

using gridflow::TimePoint;
using gridflow::engine::Calendar;
using gridflow::engine::ScheduleSpec;

void Walk(const ScheduleSpec& spec, const Calendar* calendar, TimePoint from) {
  TimePoint after = from;
  for (int i = 0; i < 6; ++i) {
    const auto next = spec.NextNominal(after);
    if (!next) return;
    if (next->at <= after) std::abort();  // nominal times must move forward
    bool skip = false;
    spec.FireAt("fuzzed", *next, calendar, &skip);
    nlohmann::json input;
    (void)spec.RunInput("fuzzed", *next, &input);
    after = next->at;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json body;
  if (!gridflow::ParseJsonText("spec_json", text, gridflow::JsonLimits{}, &body).ok()) return 0;

  Calendar calendar;
  const bool is_calendar = Calendar::FromJson("fuzzed", body, &calendar).ok();
  if (is_calendar) {
    Calendar again;
    if (!Calendar::FromJson("fuzzed", calendar.ToJson(), &again).ok() ||
        again.ToJson() != calendar.ToJson()) {
      std::abort();  // what PutCalendar stores must read back the same
    }
  }

  ScheduleSpec spec;
  if (!ScheduleSpec::Parse(body, &spec).ok()) return 0;
  const Calendar* judged_by = is_calendar ? &calendar : nullptr;
  // Around a spring-forward night in Europe, and long after 2038.
  Walk(spec, judged_by, *gridflow::ParseTimestamp("2027-03-27T22:00:00Z"));
  Walk(spec, judged_by, *gridflow::ParseTimestamp("2100-10-30T23:00:00Z"));
  return 0;
}
