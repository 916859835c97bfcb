#include "base/trace_context.h"

#include <set>

namespace provisioner {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendHex(uint64_t v, std::string* out) {
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHex[v & 0xf];
    v >>= 4;
  }
  out->append(buf, 16);
}

// Lowercase hex digit value, or -1 (uppercase is invalid in traceparent).
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Exactly 16 lowercase hex digits.
std::optional<uint64_t> ParseHex64(std::string_view s) {
  if (s.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d = HexValue(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

bool IsLcAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsKeyChar(char c) {
  return IsLcAlpha(c) || IsDigit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

// key = simple-key / tenant-id "@" system-id (W3C trace-context, tracestate).
bool ValidKey(std::string_view key) {
  const size_t at = key.find('@');
  if (at == std::string_view::npos) {
    if (key.empty() || key.size() > 256 || !IsLcAlpha(key[0])) return false;
    for (char c : key) {
      if (!IsKeyChar(c)) return false;
    }
    return true;
  }
  std::string_view tenant = key.substr(0, at);
  std::string_view system = key.substr(at + 1);
  if (tenant.empty() || tenant.size() > 241 || !(IsLcAlpha(tenant[0]) || IsDigit(tenant[0]))) {
    return false;
  }
  if (system.empty() || system.size() > 14 || !IsLcAlpha(system[0])) return false;
  for (char c : tenant) {
    if (!IsKeyChar(c)) return false;
  }
  for (char c : system) {
    if (!IsKeyChar(c)) return false;
  }
  return true;
}

// value = 0*255(chr) nblk-chr; chr = SP / nblk-chr; nblk-chr = 0x21-0x7e
// except ',' and '='.
bool ValidValue(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string TraceId::Hex() const {
  std::string out;
  out.reserve(32);
  AppendHex(hi, &out);
  AppendHex(lo, &out);
  return out;
}

std::string SpanId::Hex() const {
  std::string out;
  out.reserve(16);
  AppendHex(value, &out);
  return out;
}

std::string TraceContext::Traceparent() const {
  std::string out = "00-";
  out.reserve(55);
  AppendHex(trace_id.hi, &out);
  AppendHex(trace_id.lo, &out);
  out.push_back('-');
  AppendHex(span_id.value, &out);
  out.push_back('-');
  const uint8_t f = flags & (kTraceFlagSampled | kTraceFlagRandom);
  out.push_back(kHex[f >> 4]);
  out.push_back(kHex[f & 0xf]);
  return out;
}

std::optional<TraceId> ParseTraceId(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  auto hi = ParseHex64(hex.substr(0, 16));
  auto lo = ParseHex64(hex.substr(16));
  if (!hi || !lo) return std::nullopt;
  TraceId id{*hi, *lo};
  if (!id.valid()) return std::nullopt;
  return id;
}

std::optional<SpanId> ParseSpanId(std::string_view hex) {
  auto v = ParseHex64(hex);
  if (!v || *v == 0) return std::nullopt;
  return SpanId{*v};
}

std::optional<TraceContext> ParseTraceparent(std::string_view tp, std::string_view tracestate) {
  // version "-" trace-id "-" parent-id "-" trace-flags; version 00 is exactly
  // 55 characters, a later version may append "-" and more.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return std::nullopt;
  const int v1 = HexValue(tp[0]);
  const int v2 = HexValue(tp[1]);
  if (v1 < 0 || v2 < 0) return std::nullopt;
  const int version = v1 * 16 + v2;
  if (version == 0xff) return std::nullopt;
  if (version == 0 && tp.size() != 55) return std::nullopt;
  if (version > 0 && tp.size() > 55 && tp[55] != '-') return std::nullopt;
  auto trace_id = ParseTraceId(tp.substr(3, 32));
  auto span_id = ParseSpanId(tp.substr(36, 16));
  const int f1 = HexValue(tp[53]);
  const int f2 = HexValue(tp[54]);
  if (!trace_id || !span_id || f1 < 0 || f2 < 0) return std::nullopt;
  TraceContext ctx;
  ctx.trace_id = *trace_id;
  ctx.span_id = *span_id;
  ctx.flags = static_cast<uint8_t>(f1 * 16 + f2);
  ctx.remote = true;
  if (ValidTracestate(tracestate)) ctx.trace_state = std::string(TrimOws(tracestate));
  return ctx;
}

bool ValidTracestate(std::string_view s) {
  if (TrimOws(s).empty() || s.size() > 512) return false;
  std::set<std::string_view> keys;
  int members = 0;
  while (true) {
    const size_t comma = s.find(',');
    std::string_view member = TrimOws(s.substr(0, comma));
    if (!member.empty()) {
      const size_t eq = member.find('=');
      if (eq == std::string_view::npos) return false;
      std::string_view key = member.substr(0, eq);
      if (!ValidKey(key) || !ValidValue(member.substr(eq + 1))) return false;
      if (!keys.insert(key).second || ++members > 32) return false;
    }
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return members > 0;
}

}  // namespace provisioner
