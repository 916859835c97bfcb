#include "http/guard.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

namespace provisioner::http {
namespace {

// A request as httplib would hand it over, with its four own headers.
struct Req {
  std::string method = "GET";
  std::string path = "/api/v1/workspaces";
  std::vector<std::pair<std::string, std::string>> headers = {{"Host", "localhost"}};

  GuardRequest View() const {
    GuardRequest g;
    g.method = method;
    g.path = path;
    for (const auto& [k, v] : headers) g.headers.emplace_back(k, v);
    for (std::string_view k : {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT"}) {
      g.headers.emplace_back(k, "1");
    }
    return g;
  }
  Req& With(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

int StatusOf(const Req& r, GuardLimits limits = {}) {
  auto rejection = CheckRequest(r.View(), limits);
  return rejection ? rejection->status : 0;
}

TEST_CASE("http: guard lets ordinary requests through") {
  CHECK(StatusOf(Req{}) == 0);
  Req post{"POST", "/api/v1/workspaces/web/deploy"};
  post.With("Content-Length", "0");
  CHECK(StatusOf(post) == 0);
  post.With("Content-Type", "application/json");
  CHECK(StatusOf(post) == 0);
  Req head{"HEAD", "/health"};
  CHECK(StatusOf(head) == 0);
  Req get_zero{"GET", "/health"};
  get_zero.With("Content-Length", "0");
  CHECK(StatusOf(get_zero) == 0);
}

TEST_CASE("http: guard status for each hostile shape") {
  // Given one request per rule, When the guard checks it, Then it answers
  // the documented status.
  struct Row {
    const char* what;
    Req req;
    int status;
  };
  std::vector<Row> rows = {
      {"path not absolute", Req{"GET", "*"}, 400},
      {"authority-form target", Req{"CONNECT", "example.com:443"}, 400},
      {"path over the limit", Req{"GET", "/" + std::string(256, 'a')}, 414},
      {"control byte in path", Req{"GET", std::string("/a\nb")}, 400},
      {"DEL in path", Req{"GET", std::string("/a\x7f")}, 400},
      {"Range", Req{}.With("Range", "bytes=0-3"), 416},
      {"range lowercase", Req{}.With("range", "bytes=0-3"), 416},
      {"Transfer-Encoding", Req{"POST", "/x"}.With("Transfer-Encoding", "chunked"), 501},
      {"TE with CL",
       Req{"POST", "/x"}.With("Content-Length", "5").With("Transfer-Encoding", "chunked"), 501},
      {"odd TE value", Req{"POST", "/x"}.With("Transfer-Encoding", "gzip, chunked"), 501},
      {"Content-Encoding",
       Req{"POST", "/x"}.With("Content-Length", "5").With("Content-Encoding", "gzip"), 415},
      {"two Content-Length",
       Req{"POST", "/x"}.With("Content-Length", "5").With("Content-Length", "6"), 400},
      {"two equal Content-Length",
       Req{"POST", "/x"}.With("Content-Length", "5").With("content-length", "5"), 400},
      {"Content-Length with sign", Req{"POST", "/x"}.With("Content-Length", "+5"), 400},
      {"Content-Length list", Req{"POST", "/x"}.With("Content-Length", "5, 5"), 400},
      {"Content-Length negative", Req{"POST", "/x"}.With("Content-Length", "-1"), 400},
      {"Content-Length overflow",
       Req{"POST", "/x"}.With("Content-Length", "99999999999999999999999"), 400},
      {"POST without Content-Length", Req{"POST", "/x"}, 411},
      {"PUT without Content-Length", Req{"PUT", "/x"}, 411},
      {"body over the limit", Req{"POST", "/x"}.With("Content-Length", "1048577"), 413},
      {"GET with a body", Req{"GET", "/x"}.With("Content-Length", "10"), 400},
      {"HEAD with a body", Req{"HEAD", "/x"}.With("Content-Length", "1"), 400},
      {"CR in a value", Req{}.With("X-Test", "a\rb"), 400},
      {"LF in a value", Req{}.With("X-Test", "a\nInjected: 1"), 400},
      {"NUL in a value", Req{}.With("X-Test", std::string("a\0b", 3)), 400},
      {"space in a name", Req{}.With("Transfer-Encoding ", "chunked"), 400},
      {"colon-less garbage name", Req{}.With("X Y", "1"), 400},
      {"spoofed REMOTE_ADDR", Req{}.With("REMOTE_ADDR", "6.6.6.6"), 400},
      {"spoofed local_port", Req{}.With("local_port", "1"), 400},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    CHECK(StatusOf(row.req) == row.status);
  }
}

TEST_CASE("http: guard body limit is inclusive and configurable") {
  GuardLimits limits;
  limits.max_body_bytes = 10;
  Req at{"POST", "/x"};
  at.With("Content-Length", "10");
  CHECK(StatusOf(at, limits) == 0);
  Req over{"POST", "/x"};
  over.With("Content-Length", "11");
  CHECK(StatusOf(over, limits) == 413);
}

TEST_CASE("http: guard path limit counts decoded bytes") {
  GuardLimits limits;
  limits.max_path_bytes = 8;
  CHECK(StatusOf(Req{"GET", "/1234567"}, limits) == 0);
  CHECK(StatusOf(Req{"GET", "/12345678"}, limits) == 414);
}

TEST_CASE("http: guard header count excludes httplib's own four") {
  GuardLimits limits;
  limits.max_headers = 3;
  Req r;  // Host
  r.With("A", "1").With("B", "2");
  CHECK(StatusOf(r, limits) == 0);
  r.With("C", "3");
  auto rejection = CheckRequest(r.View(), limits);
  REQUIRE(rejection);
  CHECK(rejection->status == 431);
  CHECK(rejection->code == "request_header_fields_too_large");
  CHECK(rejection->message == "more than 3 headers");
}

TEST_CASE("http: guard messages never echo request bytes") {
  Req r;
  r.With("X-Evil", "<script>\nalert");
  auto rejection = CheckRequest(r.View(), GuardLimits{});
  REQUIRE(rejection);
  CHECK(rejection->message == "a header value contains CR, LF or NUL");
  CHECK(rejection->message.find("script") == std::string::npos);
}

TEST_CASE("http: guard Content-Length parsing") {
  Req one{"POST", "/x"};
  one.With("Content-Length", "42");
  CHECK(ContentLength(one.View()) == 42u);
  Req none{"POST", "/x"};
  CHECK(!ContentLength(none.View()));
  Req two{"POST", "/x"};
  two.With("Content-Length", "1").With("Content-Length", "1");
  CHECK(!ContentLength(two.View()));
  Req bad{"POST", "/x"};
  bad.With("Content-Length", " 4");
  CHECK(!ContentLength(bad.View()));
}

TEST_CASE("http: guard body type on JSON routes") {
  auto status = [](Req r, bool json) {
    auto rejection = CheckBodyType(r.View(), json);
    return rejection ? rejection->status : 0;
  };
  Req empty{"POST", "/x"};
  empty.With("Content-Length", "0");
  CHECK(status(empty, true) == 0);  // no body, no type: fine

  Req json{"POST", "/x"};
  json.With("Content-Length", "2").With("Content-Type", "application/json");
  CHECK(status(json, true) == 0);
  Req json_charset{"POST", "/x"};
  json_charset.With("Content-Length", "2").With("content-type", "Application/JSON; charset=utf-8");
  CHECK(status(json_charset, true) == 0);

  Req untyped{"POST", "/x"};
  untyped.With("Content-Length", "2");
  CHECK(status(untyped, true) == 415);
  CHECK(status(untyped, false) == 0);

  Req text{"POST", "/x"};
  text.With("Content-Length", "2").With("Content-Type", "text/plain");
  CHECK(status(text, true) == 415);
  CHECK(status(text, false) == 0);

  Req empty_text{"POST", "/x"};
  empty_text.With("Content-Length", "0").With("Content-Type", "text/plain");
  CHECK(status(empty_text, true) == 415);

  Req jsonish{"POST", "/x"};
  jsonish.With("Content-Length", "2").With("Content-Type", "application/jsonp");
  CHECK(status(jsonish, true) == 415);

  // httplib parses these itself (form into params, multipart with
  // std::regex): refused on every route.
  Req form{"POST", "/x"};
  form.With("Content-Length", "3").With("Content-Type", "application/x-www-form-urlencoded");
  CHECK(status(form, false) == 415);
  Req multipart{"POST", "/x"};
  multipart.With("Content-Length", "3").With("Content-Type", "multipart/form-data; boundary=x");
  CHECK(status(multipart, false) == 415);
  CHECK(status(multipart, true) == 415);
}

TEST_CASE("http: guard error codes by status") {
  CHECK(ErrorCodeForStatus(400) == "bad_request");
  CHECK(ErrorCodeForStatus(401) == "unauthorized");
  CHECK(ErrorCodeForStatus(403) == "forbidden");
  CHECK(ErrorCodeForStatus(404) == "not_found");
  CHECK(ErrorCodeForStatus(405) == "method_not_allowed");
  CHECK(ErrorCodeForStatus(411) == "length_required");
  CHECK(ErrorCodeForStatus(413) == "payload_too_large");
  CHECK(ErrorCodeForStatus(414) == "uri_too_long");
  CHECK(ErrorCodeForStatus(415) == "unsupported_media_type");
  CHECK(ErrorCodeForStatus(416) == "range_not_satisfiable");
  CHECK(ErrorCodeForStatus(431) == "request_header_fields_too_large");
  CHECK(ErrorCodeForStatus(500) == "internal");
  CHECK(ErrorCodeForStatus(501) == "not_implemented");
  CHECK(ErrorCodeForStatus(418) == "error");
}

}  // namespace
}  // namespace provisioner::http
