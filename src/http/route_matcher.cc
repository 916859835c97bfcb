#include "http/route_matcher.h"

#include <algorithm>

namespace provisioner::http {
namespace {

// "/a/b" -> {"a", "b"}; "/" -> {}. Empty pieces are kept so that callers
// can refuse "//" and trailing slashes.
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path == "/") return out;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsParamName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

Result<size_t> RouteMatcher::Add(std::string_view pattern) {
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].pattern == pattern) return i;
  }
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("route template \"" + std::string(pattern) + "\"",
                                   std::string(why));
  };
  if (pattern.empty() || pattern[0] != '/') return bad("must start with '/'");
  Route route;
  route.pattern = std::string(pattern);
  for (std::string_view piece : Segments(pattern)) {
    if (piece.empty()) return bad("has an empty segment");
    Segment seg;
    if (piece[0] == ':') {
      std::string_view name = piece.substr(1);
      if (!IsParamName(name)) return bad("a parameter needs a name of letters, digits and _");
      for (const Segment& other : route.segments) {
        if (other.param && other.text == name) return bad("uses a parameter name twice");
      }
      seg.param = true;
      seg.text = std::string(name);
    } else {
      seg.text = std::string(piece);
    }
    route.segments.push_back(std::move(seg));
  }
  routes_.push_back(std::move(route));
  return routes_.size() - 1;
}

std::optional<RouteMatcher::Match> RouteMatcher::Find(std::string_view path) const {
  if (path.empty() || path[0] != '/') return std::nullopt;
  const std::vector<std::string_view> pieces = Segments(path);
  const Route* best = nullptr;
  size_t best_index = 0;
  for (size_t r = 0; r < routes_.size(); ++r) {
    const Route& route = routes_[r];
    if (route.segments.size() != pieces.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < pieces.size() && ok; ++i) {
      const Segment& seg = route.segments[i];
      ok = seg.param ? !pieces[i].empty() : seg.text == pieces[i];
    }
    if (!ok) continue;
    if (best != nullptr) {
      // More specific: a literal where the other has a parameter, at the
      // first segment where they differ.
      bool better = false;
      for (size_t i = 0; i < pieces.size(); ++i) {
        if (best->segments[i].param != route.segments[i].param) {
          better = best->segments[i].param;
          break;
        }
      }
      if (!better) continue;
    }
    best = &route;
    best_index = r;
  }
  if (best == nullptr) return std::nullopt;
  Match match;
  match.index = best_index;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (best->segments[i].param) match.params.emplace_back(best->segments[i].text, pieces[i]);
  }
  return match;
}

}  // namespace provisioner::http
