#include "http/guard.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "base/strings.h"

namespace provisioner::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x != y && std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

// httplib adds these to every request itself; a client-sent copy would be
// found first by get_header_value() (CVE-2025-66570).
constexpr std::array<std::string_view, 4> kSynthetic = {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR",
                                                        "LOCAL_PORT"};

// RFC 9110 §5.6.2 tchar.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) return true;
    return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  });
}

size_t Count(const GuardRequest& r, std::string_view name) {
  return static_cast<size_t>(std::count_if(r.headers.begin(), r.headers.end(), [&](const auto& h) {
    return EqualsIgnoreCase(h.first, name);
  }));
}

const std::string_view* Find(const GuardRequest& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (EqualsIgnoreCase(h.first, name)) return &h.second;
  }
  return nullptr;
}

Rejection Reject(int status, std::string message) {
  return Rejection{status, ErrorCodeForStatus(status), std::move(message)};
}

bool IsBodyMethod(std::string_view m) { return m == "POST" || m == "PUT" || m == "PATCH"; }

// "application/json; charset=utf-8" -> "application/json".
std::string MediaType(std::string_view content_type) {
  return AsciiLower(Trim(content_type.substr(0, content_type.find(';'))));
}

}  // namespace

std::string_view ErrorCodeForStatus(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 409:
      return "conflict";
    case 411:
      return "length_required";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 415:
      return "unsupported_media_type";
    case 416:
      return "range_not_satisfiable";
    case 417:
      return "expectation_failed";
    case 431:
      return "request_header_fields_too_large";
    case 500:
      return "internal";
    case 501:
      return "not_implemented";
    case 503:
      return "unavailable";
    default:
      return "error";
  }
}

std::optional<uint64_t> ContentLength(const GuardRequest& request) {
  if (Count(request, "Content-Length") != 1) return std::nullopt;
  // Only digits: strtoull, which httplib uses, would also take "+5", " 5"
  // or "5, 5", and a proxy might frame those differently.
  return ParseUint(*Find(request, "Content-Length"));
}

std::optional<Rejection> CheckRequest(const GuardRequest& r, const GuardLimits& limits) {
  if (r.path.empty() || r.path[0] != '/') {
    return Reject(400, "the request target must be an absolute path");
  }
  if (r.path.size() > limits.max_path_bytes) {
    return Reject(414,
                  "the path is longer than " + std::to_string(limits.max_path_bytes) + " bytes");
  }
  if (std::any_of(r.path.begin(), r.path.end(), [](char ch) {
        unsigned char c = static_cast<unsigned char>(ch);
        return c < 0x20 || c == 0x7f;
      })) {
    return Reject(400, "the path contains control characters");
  }

  size_t synthetic = 0;
  for (std::string_view name : kSynthetic) {
    size_t n = Count(r, name);
    if (n > 1) return Reject(400, "the request carries a reserved header");
    synthetic += n;
  }
  if (r.headers.size() - synthetic > limits.max_headers) {
    return Reject(431, "more than " + std::to_string(limits.max_headers) + " headers");
  }
  for (const auto& [name, value] : r.headers) {
    if (!IsToken(name)) return Reject(400, "a header name is not a valid token");
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      return Reject(400, "a header value contains CR, LF or NUL");
    }
  }

  if (Find(r, "Range") != nullptr) return Reject(416, "range requests are not supported");
  if (Find(r, "Transfer-Encoding") != nullptr) {
    return Reject(501, "Transfer-Encoding is not supported: send Content-Length");
  }
  if (Find(r, "Content-Encoding") != nullptr) {
    return Reject(415, "compressed request bodies are not supported");
  }

  size_t lengths = Count(r, "Content-Length");
  if (lengths > 1) return Reject(400, "more than one Content-Length header");
  std::optional<uint64_t> length;
  if (lengths == 1) {
    length = ContentLength(r);
    if (!length) return Reject(400, "Content-Length is not a number");
  }
  if (IsBodyMethod(r.method) && !length) {
    return Reject(411, "Content-Length is required (use Content-Length: 0 for no body)");
  }
  if (length && *length > limits.max_body_bytes) {
    return Reject(413,
                  "the body is larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  }
  if ((r.method == "GET" || r.method == "HEAD") && length && *length > 0) {
    return Reject(400, "a GET or HEAD request cannot carry a body");
  }
  return std::nullopt;
}

std::optional<Rejection> CheckBodyType(const GuardRequest& r, bool json_body) {
  const std::string_view* content_type = Find(r, "Content-Type");
  std::string media = content_type != nullptr ? MediaType(*content_type) : std::string();
  if (media.starts_with("multipart/") || media == "application/x-www-form-urlencoded") {
    return Reject(415, "form and multipart bodies are not supported: send application/json");
  }
  if (!json_body) return std::nullopt;
  if (content_type != nullptr) {
    if (media != "application/json") return Reject(415, "the body must be application/json");
    return std::nullopt;
  }
  std::optional<uint64_t> length = ContentLength(r);
  if (length && *length > 0) return Reject(415, "the body must be application/json");
  return std::nullopt;
}

}  // namespace provisioner::http
