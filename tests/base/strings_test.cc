#include "base/strings.h"

#include "support/test_util.h"

namespace provisioner {
namespace {

TEST_SUITE("base") {
  TEST_CASE("base: Split, Trim, Join, ParseUint") {
    auto parts = Split("a,,b,", ',');
    REQUIRE(parts.size() == 4);
    CHECK(parts[0] == "a");
    CHECK(parts[1] == "");
    CHECK(parts[2] == "b");
    CHECK(parts[3] == "");
    CHECK(Trim("  x y \t\n") == "x y");
    CHECK(Trim("   ") == "");
    CHECK(Join({"a", "b", "c"}, ", ") == "a, b, c");
    CHECK(ParseUint("0") == 0u);
    CHECK(ParseUint("18446744073709551615") == UINT64_MAX);
    CHECK_FALSE(ParseUint("18446744073709551616").has_value());
    CHECK_FALSE(ParseUint("-1").has_value());
    CHECK_FALSE(ParseUint("").has_value());
    CHECK_FALSE(ParseUint("1 ").has_value());
    CHECK(StringPrintf("%s=%d", "k", 42) == "k=42");
    CHECK(StringPrintf("%s", std::string(1000, 'x').c_str()).size() == 1000);
  }

  TEST_CASE("base: AppendJsonString escapes and repairs UTF-8") {
    auto json = [](std::string_view in) {
      std::string out;
      AppendJsonString(&out, in);
      return out;
    };
    CHECK(json("plain") == "\"plain\"");
    CHECK(json("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(json("line\nnext\r\t") == "\"line\\nnext\\r\\t\"");
    CHECK(json(std::string_view("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
    CHECK(json("caf\xc3\xa9") == "\"caf\xc3\xa9\"");            // valid 2-byte
    CHECK(json("\xe2\x82\xac") == "\"\xe2\x82\xac\"");          // euro sign
    CHECK(json("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");  // emoji
    CHECK(json("bad\xff") == "\"bad\xef\xbf\xbd\"");
    CHECK(json("\xc0\xaf") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");                  // overlong '/'
    CHECK(json("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // surrogate
    CHECK(json("\xe2\x82") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");                  // truncated
  }

  TEST_CASE("base: GlobMatch") {
    CHECK(GlobMatch("AWS_*", "AWS_REGION"));
    CHECK(GlobMatch("AWS_*", "AWS_"));
    CHECK_FALSE(GlobMatch("AWS_*", "XAWS_REGION"));
    CHECK(GlobMatch("*_TOKEN", "GITHUB_TOKEN"));
    CHECK(GlobMatch("A?C", "ABC"));
    CHECK_FALSE(GlobMatch("A?C", "AC"));
    CHECK(GlobMatch("*", ""));
    CHECK(GlobMatch("HOME", "HOME"));
    CHECK_FALSE(GlobMatch("HOME", "HOMEX"));
    CHECK(GlobMatch("*a*b*c*", "xxaxxbxxcxx"));
    // Pathological patterns stay fast (no exponential backtracking).
    CHECK_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
  }

  TEST_CASE("base: HexEncode") {
    CHECK(HexEncode(std::string_view("\x00\xff\x10", 3)) == "00ff10");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner
