#include "http/route_matcher.h"

#include <doctest/doctest.h>

#include "support/test_util.h"

namespace provisioner::http {
namespace {

TEST_CASE("http: route matcher literal and parameter templates") {
  RouteMatcher m;
  REQUIRE_OK(m.Add("/health"));
  REQUIRE_OK(m.Add("/api/v1/workspaces"));
  REQUIRE_OK(m.Add("/api/v1/workspaces/:name"));
  REQUIRE_OK(m.Add("/api/v1/workspaces/:name/deploy"));

  auto hit = m.Find("/api/v1/workspaces/abc");
  REQUIRE(hit);
  CHECK(m.pattern(hit->index) == "/api/v1/workspaces/:name");
  REQUIRE(hit->params.size() == 1);
  CHECK(hit->params[0].first == "name");
  CHECK(hit->params[0].second == "abc");

  hit = m.Find("/api/v1/workspaces/abc/deploy");
  REQUIRE(hit);
  CHECK(m.pattern(hit->index) == "/api/v1/workspaces/:name/deploy");
  CHECK(hit->params[0].second == "abc");

  hit = m.Find("/health");
  REQUIRE(hit);
  CHECK(m.pattern(hit->index) == "/health");
  CHECK(hit->params.empty());
}

TEST_CASE("http: route matcher misses") {
  RouteMatcher m;
  REQUIRE_OK(m.Add("/health"));
  REQUIRE_OK(m.Add("/api/v1/workspaces/:name"));
  CHECK(!m.Find("/health/"));  // trailing slash is another path
  CHECK(!m.Find("/healthz"));
  CHECK(!m.Find("/Health"));              // case-sensitive
  CHECK(!m.Find("/api/v1/workspaces/"));  // a parameter is never empty
  CHECK(!m.Find("/api/v1/workspaces//"));
  CHECK(!m.Find("/api/v1/workspaces/a/b"));  // one segment only
  CHECK(!m.Find("api/v1/workspaces/a"));
  CHECK(!m.Find(""));
  CHECK(!m.Find("/"));
}

TEST_CASE("http: route matcher prefers literals over parameters") {
  RouteMatcher m;
  // The parameter template first: registration order must not matter.
  REQUIRE_OK(m.Add("/api/v1/jobs/:id"));
  REQUIRE_OK(m.Add("/api/v1/jobs/stats"));
  REQUIRE_OK(m.Add("/a/:x/c"));
  REQUIRE_OK(m.Add("/a/b/:y"));
  CHECK(m.pattern(m.Find("/api/v1/jobs/stats")->index) == "/api/v1/jobs/stats");
  CHECK(m.pattern(m.Find("/api/v1/jobs/j-1")->index) == "/api/v1/jobs/:id");
  // The first differing segment decides: "b" is literal in the second.
  CHECK(m.pattern(m.Find("/a/b/c")->index) == "/a/b/:y");
  CHECK(m.pattern(m.Find("/a/z/c")->index) == "/a/:x/c");
}

TEST_CASE("http: route matcher root and repeated templates") {
  RouteMatcher m;
  auto root = m.Add("/");
  REQUIRE_OK(root);
  CHECK(m.Find("/")->index == *root);
  auto a = m.Add("/x/:id");
  auto b = m.Add("/x/:id");
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  CHECK(*a == *b);
  CHECK(m.size() == 2);
}

TEST_CASE("http: route matcher rejects bad templates") {
  RouteMatcher m;
  CHECK(m.Add("").status().message() == "route template \"\": must start with '/'");
  CHECK(m.Add("health").status().message() == "route template \"health\": must start with '/'");
  CHECK(m.Add("/a//b").status().message() == "route template \"/a//b\": has an empty segment");
  CHECK(m.Add("/a/").status().message() == "route template \"/a/\": has an empty segment");
  CHECK(m.Add("/a/:").status().message() ==
        "route template \"/a/:\": a parameter needs a name of letters, digits and _");
  CHECK(m.Add("/a/:b-c").status().IsInvalidArgument());
  CHECK(m.Add("/a/:x/:x").status().message() ==
        "route template \"/a/:x/:x\": uses a parameter name twice");
  CHECK(m.size() == 0);
}

TEST_CASE("http: route matcher parameters keep decoded bytes") {
  RouteMatcher m;
  REQUIRE_OK(m.Add("/w/:name"));
  // httplib has already percent-decoded the path; a segment is whatever
  // lies between two slashes.
  auto hit = m.Find("/w/caf\xc3\xa9 bar");
  REQUIRE(hit);
  CHECK(hit->params[0].second == "caf\xc3\xa9 bar");
}

}  // namespace
}  // namespace provisioner::http
