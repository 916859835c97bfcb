// The two views of tofu: JSON lines (views/json_view.go) and human text.
#include <map>

#include "fake_tofu.h"

namespace fake_tofu {
namespace {

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

constexpr std::string_view kReset = "\x1b[0m";
constexpr std::string_view kBold = "\x1b[1m";
constexpr std::string_view kRed = "\x1b[31m";
constexpr std::string_view kGreen = "\x1b[32m";
constexpr std::string_view kYellow = "\x1b[33m";

}  // namespace

std::string Addr::Resource() const {
  std::string out = type + "." + name;
  if (key) out += "[" + Dump(*key) + "]";
  return out;
}

std::string Addr::ImpliedProvider() const { return type.substr(0, type.find('_')); }

Json Addr::ToJson() const {
  Json j;
  j["addr"] = addr;
  j["module"] = module;
  j["resource"] = Resource();
  j["implied_provider"] = ImpliedProvider();
  j["resource_type"] = type;
  j["resource_name"] = name;
  j["resource_key"] = key ? *key : Json(nullptr);
  return j;
}

// "module.a.module.b[\"x\"].aws_vpc.main[0]" -> module, type, name, key.
Addr ParseAddr(const std::string& addr) {
  Addr a;
  a.addr = addr;
  std::string_view rest = addr;
  auto take_segment = [&rest]() {
    size_t end = 0;
    int depth = 0;
    for (; end < rest.size(); ++end) {
      if (rest[end] == '[') ++depth;
      if (rest[end] == ']') --depth;
      if (rest[end] == '.' && depth == 0) break;
    }
    std::string_view seg = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    return seg;
  };
  while (rest.substr(0, 7) == "module.") {
    rest.remove_prefix(7);
    std::string_view seg = take_segment();
    if (!a.module.empty()) a.module += ".";
    a.module += "module." + std::string(seg);
  }
  a.type = std::string(take_segment());
  std::string_view name = rest;
  size_t bracket = name.find('[');
  if (bracket != std::string_view::npos && name.back() == ']') {
    std::string_view key = name.substr(bracket + 1, name.size() - bracket - 2);
    Json parsed = Json::parse(key, nullptr, false);
    if (!parsed.is_discarded()) a.key = parsed;
    name = name.substr(0, bracket);
  }
  a.name = std::string(name);
  return a;
}

std::string GoDuration(int64_t seconds) {
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) {
    return std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s";
  }
  return std::to_string(seconds / 3600) + "h" + std::to_string(seconds % 3600 / 60) + "m" +
         std::to_string(seconds % 60) + "s";
}

void View::Line(std::string_view level, std::string_view message, std::string_view type,
                const std::vector<std::pair<std::string, Json>>& payload) {
  // The top level is a Go map in hclog, hence sorted keys; nested payloads
  // are structs and keep their declaration order (ordered_json).
  std::map<std::string, std::string> fields;
  fields["@level"] = Dump(Json(level));
  fields["@message"] = Dump(Json(message));
  fields["@module"] = "\"tofu.ui\"";
  fields["@timestamp"] = Dump(Json(HclogTimestamp()));
  for (const auto& [key, value] : payload) fields[key] = Dump(value);
  if (!type.empty()) fields["type"] = Dump(Json(type));
  std::string line = "{";
  for (const auto& [key, value] : fields) {
    if (line.size() > 1) line += ",";
    line += Dump(Json(key)) + ":" + value;
  }
  line += "}\n";
  Out(line);
}

void View::VersionLine() {
  Line("info", "OpenTofu " + version_, "version", {{"tofu", version_}, {"ui", "1.2"}});
}

void View::Log(std::string_view message) { Line("info", message, "log", {}); }

void View::Untyped(std::string_view level, std::string_view message) {
  Line(level, message, "", {});
}

void View::Diagnostic(const Diag& d) {
  if (json_) {
    Json j;
    j["severity"] = d.error ? "error" : "warning";
    j["summary"] = d.summary;
    j["detail"] = d.detail;
    if (!d.address.empty()) j["address"] = d.address;
    if (d.range) {
      const SourceRange& r = *d.range;
      Json start = {{"line", r.line}, {"column", r.column}, {"byte", r.byte}};
      Json end = {
          {"line", r.line}, {"column", r.end_column}, {"byte", r.byte + r.end_column - r.column}};
      j["range"] = {{"filename", r.filename}, {"start", start}, {"end", end}};
      Json snippet;
      snippet["context"] = r.context.empty() ? Json(nullptr) : Json(r.context);
      snippet["code"] = r.code;
      snippet["start_line"] = r.line;
      snippet["highlight_start_offset"] = r.column - 1;
      snippet["highlight_end_offset"] = r.end_column - 1;
      snippet["values"] = Json::array();
      j["snippet"] = snippet;
    }
    Line(d.error ? "error" : "warn", (d.error ? "Error: " : "Warning: ") + d.summary, "diagnostic",
         {{"diagnostic", j}});
    return;
  }
  std::string context;
  if (!d.address.empty()) context += "  with " + d.address + ",\n";
  if (d.range) {
    context += "  on " + d.range->filename + " line " + std::to_string(d.range->line) + ":\n";
    context += "  " + std::to_string(d.range->line) + ": " + d.range->code + "\n";
  }
  std::string heading = d.error ? "Error: " : "Warning: ";
  std::string text;
  if (!color_) {
    text = "\n" + heading + d.summary + "\n\n";
    if (!context.empty()) text += context + "\n";
    if (!d.detail.empty()) text += d.detail + "\n";
  } else {
    // The box-drawn rendering of views/view.go with colour on.
    std::string_view tint = d.error ? kRed : kYellow;
    auto bar = [&](std::string_view line) {
      return std::string(tint) + "│" + std::string(kReset) + " " + std::string(line) + "\n";
    };
    text = std::string(tint) + "╷" + std::string(kReset) + "\n";
    text += bar(std::string(kBold) + std::string(tint) + heading + std::string(kReset) +
                std::string(kBold) + d.summary + std::string(kReset));
    text += bar("");
    size_t start = 0;
    std::string body = context + (context.empty() ? "" : "\n") + d.detail;
    while (start <= body.size() && !body.empty()) {
      size_t nl = body.find('\n', start);
      std::string_view line = std::string_view(body).substr(start, nl - start);
      text += bar(line);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    text += std::string(tint) + "╵" + std::string(kReset) + "\n";
  }
  // views/view.go: errors to stderr, warnings to stdout.
  if (d.error) {
    Err(text);
  } else {
    Out(text);
  }
}

void View::Human(std::string_view text) {
  if (!json_) Out(text);
}

std::string View::Bold(std::string_view text) const {
  if (!color_) return std::string(text);
  return std::string(kReset) + std::string(kBold) + std::string(text) + std::string(kReset);
}

std::string View::Green(std::string_view text) const {
  if (!color_) return std::string(text);
  return std::string(kReset) + std::string(kBold) + std::string(kGreen) + std::string(text) +
         std::string(kReset);
}

}  // namespace fake_tofu
