// Small string helpers that the standard library lacks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace provisioner {

// Splits on every occurrence of `sep`; empty pieces are kept.
std::vector<std::string_view> Split(std::string_view text, char sep);

// Without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view text);

std::string Join(const std::vector<std::string>& parts, std::string_view sep);

std::string AsciiLower(std::string_view text);

// printf into a std::string.
std::string StringPrintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

// A whole non-negative decimal integer, or nullopt (no sign, no spaces, no overflow).
std::optional<uint64_t> ParseUint(std::string_view text);

// Appends `text` as a JSON string literal, quotes included. Control characters
// are escaped and invalid UTF-8 is replaced with U+FFFD, so the output is
// always valid JSON whatever bytes come in (tofu output, request paths).
void AppendJsonString(std::string* out, std::string_view text);

// Appends `text` with invalid UTF-8 sequences replaced by U+FFFD.
void AppendValidUtf8(std::string* out, std::string_view text);

// The byte offset of the first invalid UTF-8 sequence, or npos.
size_t FirstInvalidUtf8(std::string_view text);

// True if `text` matches a shell-style glob with `*` (any run) and `?` (one char).
bool GlobMatch(std::string_view pattern, std::string_view text);

// Lowercase hex of `data`.
std::string HexEncode(std::string_view data);

}  // namespace provisioner
