// How gridflowctl writes times, durations and statuses for people (tables), and parses the times
// people type (--since, --until).
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <optional>
#include <string>

#include "common/duration.h"
#include "gridflow/v1/types.pb.h"

namespace gridflow::cli {

// "2026-11-25 14:28:42Z" (UTC, to the second); "" for an unset timestamp.
std::string FormatTime(const google::protobuf::Timestamp& t);
// "14:28:42.123" (UTC): for timelines, where the date is in the header.
std::string FormatClock(const google::protobuf::Timestamp& t);
// A duration rounded for reading: "350ms", "41s", "12m5s", "3h5m", "2d4h".
std::string ShortDuration(Millis d);
// How long ago `t` was, by this machine's clock: "12m5s ago"; "just now" when `t` is up to 5 s
// ahead (the engine's clock is PostgreSQL's), "in 3m" further ahead; "" for an unset timestamp.
std::string Ago(const google::protobuf::Timestamp& t);
// RUNNING, FAILED, ... (the enum name without its prefix).
std::string StatusName(v1::RunStatus status);

// A run's search attributes as "market=DE-LU delivery_day=2026-12-03" (names in order); "" when
// it has none. HasAttributes: it has at least one.
std::string FormatAttributes(const v1::Run& run);
bool HasAttributes(const v1::Run& run);
// A settlement revision as a list shows it: "2026-11 r2 (latest)" or "2026-11 r1, superseded
// by <workflow id>"; "" for a run that is not a revision.
std::string FormatRevision(const v1::Run& run);

// An instant as operators type it: RFC 3339 ("2026-11-25T11:00:00Z", "...+01:00"), a UTC date
// ("2026-11-25"), or a duration meaning that long ago ("2h"). nullopt when it is none of these.
std::optional<google::protobuf::Timestamp> ParseInstant(const std::string& text);

}  // namespace gridflow::cli
