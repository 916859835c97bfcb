// RFC 3339 timestamps, the one time format of the CLI, the API, logs and state.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace provisioner {

struct Rfc3339Options {
  // 0 for whole seconds, 3 for milliseconds (logs), 6 or 9.
  int fraction_digits = 0;
  // Write a zero offset as "Z" instead of "+00:00".
  bool utc_as_z = false;
};

// `t` shown at the UTC offset `offset`, e.g. "2026-03-29T03:00:00+02:00".
// Fractions are truncated, never rounded, so a time never moves to the next second.
std::string FormatRfc3339(SystemTime t, std::chrono::seconds offset, Rfc3339Options options = {});

// UTC, with "Z", e.g. "2026-11-23T11:34:23Z". The form used in JSON documents.
inline std::string FormatUtc(SystemTime t, int fraction_digits = 0) {
  return FormatRfc3339(t, std::chrono::seconds(0), {fraction_digits, true});
}

// Parses "2026-03-29T03:00:00+02:00", "...Z", "...03:00:00.5Z" (T, t or a space
// between date and time). The offset is required: a local time without one is
// ambiguous. Errors are InvalidArgument and quote the input.
Result<SystemTime> ParseRfc3339(std::string_view text);

}  // namespace provisioner
