#include "base/status.h"

#include <cerrno>
#include <memory>

#include "base/result.h"
#include "support/test_util.h"

namespace provisioner {
namespace {

TEST_SUITE("base") {
  TEST_CASE("base: Status carries code and two-part message") {
    Status ok;
    CHECK(ok.ok());
    CHECK(ok.ToString() == "OK");

    Status s = Status::NotFound("state file", "/var/lib/provisioner/state.json");
    CHECK_FALSE(s.ok());
    CHECK(s.IsNotFound());
    CHECK(s.message() == "state file: /var/lib/provisioner/state.json");
    CHECK(s.ToString() == "NotFound: state file: /var/lib/provisioner/state.json");

    CHECK(Status::InvalidArgument("bad").message() == "bad");
    CHECK(s.WithContext("loading").message() ==
          "loading: state file: /var/lib/provisioner/state.json");
    CHECK(Status::Ok().WithContext("x").ok());
  }

  TEST_CASE("base: Status::FromErrno maps errno to codes") {
    CHECK(Status::FromErrno(ENOENT, "open x").code() == Status::Code::kNotFound);
    CHECK(Status::FromErrno(EACCES, "open x").code() == Status::Code::kPermissionDenied);
    CHECK(Status::FromErrno(ENOSPC, "write x").code() == Status::Code::kResourceExhausted);
    CHECK(Status::FromErrno(EIO, "read x").code() == Status::Code::kIoError);
    CHECK(Status::FromErrno(ENOENT, "open x").message() == "open x: No such file or directory");
  }

  Result<int> Half(int v) {
    if (v % 2 != 0) return Status::InvalidArgument("odd", std::to_string(v));
    return v / 2;
  }

  Result<int> Quarter(int v) {
    ASSIGN_OR_RETURN(int h, Half(v));
    ASSIGN_OR_RETURN(int q, Half(h));
    return q;
  }

  Status CheckEven(int v) {
    RETURN_IF_ERROR(Half(v).status());
    return Status::Ok();
  }

  TEST_CASE("base: Result holds a value or an error and the macros propagate") {
    auto r = Quarter(8);
    REQUIRE(r.ok());
    CHECK(*r == 2);
    auto e = Quarter(6);
    CHECK_FALSE(e.ok());
    CHECK(e.status().message() == "odd: 3");
    CHECK(e.value_or(-1) == -1);
    CHECK(CheckEven(4).ok());
    CHECK(CheckEven(5).IsInvalidArgument());

    Result<std::unique_ptr<int>> moved = std::make_unique<int>(7);
    std::unique_ptr<int> p = std::move(moved).value();
    CHECK(*p == 7);

    Result<std::string> from_literal = "text";  // converting constructor
    CHECK(*from_literal == "text");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner
