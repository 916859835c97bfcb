// Route templates ("/api/v1/workspaces/:name/deploy") and matching request
// paths against them, segment by segment.
//
// cpp-httplib 0.11.4 has no path parameters and does not keep its route
// patterns (reference/debian-libraries.md §1.2), and metrics must be labelled
// with the template, never the raw path. So the server keeps its own table:
// a template is a list of segments, each a literal or ":name" (exactly one
// non-empty path segment, never containing '/'). Matching is a plain
// comparison, no std::regex, so its cost does not grow with a hostile path
// and it cannot recurse.
//
// When several templates match, the most specific wins: at the first segment
// where they differ, a literal beats a parameter ("/jobs/stats" over
// "/jobs/:id"), whatever the registration order.
//
// Not thread-safe while templates are added; Find() is const and may be
// called from any number of threads once the table is complete.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace provisioner::http {

class RouteMatcher {
 public:
  struct Match {
    size_t index = 0;  // what Add() returned for the template
    // Parameter values by name, in template order; views into the path
    // given to Find().
    std::vector<std::pair<std::string_view, std::string_view>> params;
  };

  // Adds a template and returns its index (0, 1, ...). Adding the same
  // template again returns the existing index. InvalidArgument for a
  // template that does not start with '/', has an empty segment ("//" or a
  // trailing '/', except the root "/"), a ':' parameter without a name, a
  // parameter name used twice, or a name other than letters, digits and '_'.
  Result<size_t> Add(std::string_view pattern);

  // The best matching template for a (percent-decoded) path, or nullopt.
  std::optional<Match> Find(std::string_view path) const;

  const std::string& pattern(size_t index) const { return routes_[index].pattern; }
  size_t size() const { return routes_.size(); }

 private:
  struct Segment {
    std::string text;  // the literal, or the parameter name
    bool param = false;
  };
  struct Route {
    std::string pattern;
    std::vector<Segment> segments;
  };

  std::vector<Route> routes_;
};

}  // namespace provisioner::http
