#pragma once
/// The schedule's JSON form, stored as part of a .kiln file's manifest section.
#include "runtime/Schedule.h"

#include <cstddef>
#include <nlohmann/json.hpp>

namespace kiln {

nlohmann::json schedule_to_json(const ScheduleDesc &d);
/// Parses and bounds-checks a manifest's schedule; throws CacheFileError("corrupt", ...).
ScheduleDesc schedule_from_json(const nlohmann::json &j, size_t weights_size);

} // namespace kiln
