// Durations in config syntax: "90s", "5m", "1h30m", "2h", "250ms", "0".
//
// The grammar is a sequence of <integer><unit> terms with units h, m, s and ms,
// largest unit first, each unit at most once. It is a subset of Go's
// time.ParseDuration, so a parsed value formats back into something `tofu`
// accepts for -lock-timeout. Negative values and fractions are refused.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace provisioner {

// Parses `text` into milliseconds. Errors are InvalidArgument and name the
// problem, e.g. `duration "90": missing unit (use ms, s, m or h, e.g. 90s)`.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The shortest config form: 5400s -> "1h30m", 0 -> "0s", 1500ms -> "1s500ms".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace provisioner
