#include "tofu/ui_stream.h"

#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace provisioner::tofu {
namespace {

using testing::FixturesDir;
using testing::ReadFileOrDie;

std::string TypeList(const std::vector<UiEvent>& events) {
  std::string out;
  for (const UiEvent& e : events) out += std::string(UiEventTypeName(e.type)) + " ";
  return out;
}

size_t CountType(const std::vector<UiEvent>& events, UiEventType type) {
  size_t n = 0;
  for (const UiEvent& e : events) n += e.type == type ? 1 : 0;
  return n;
}

// equivalence/*/apply.json is the stream normalized by the equivalence tool
// (fixtures README §1): a JSON array without the version line, @module and
// @timestamp. This rebuilds the raw stream: a version line, then each element
// compact on its own line with the removed keys put back.
std::string RawStreamFromNormalized(const std::string& array_text) {
  nlohmann::json array = nlohmann::json::parse(array_text);
  REQUIRE(array.is_array());
  std::string out =
      R"({"@level":"info","@message":"OpenTofu 1.12.6","@module":"tofu.ui",)"
      R"("@timestamp":"2026-08-19T10:00:00.000000Z","tofu":"1.12.6","type":"version","ui":"1.2"})"
      "\n";
  int n = 0;
  for (nlohmann::json element : array) {
    element["@module"] = "tofu.ui";
    char ts[64];
    std::snprintf(ts, sizeof(ts), "2026-08-19T10:00:%02d.%06dZ", n / 1000, n % 1000);
    element["@timestamp"] = ts;
    out += element.dump() + "\n";
    ++n;
  }
  return out;
}

// ---- hand-written lines from the reference ----

TEST_SUITE("tofu_ui_stream") {
  TEST_CASE("tofu_ui_stream: type names round-trip") {
    const std::vector<std::string> wire = {"version",
                                           "log",
                                           "diagnostic",
                                           "resource_drift",
                                           "planned_change",
                                           "change_summary",
                                           "outputs",
                                           "apply_start",
                                           "apply_progress",
                                           "apply_complete",
                                           "apply_errored",
                                           "provision_start",
                                           "provision_progress",
                                           "provision_complete",
                                           "provision_errored",
                                           "refresh_start",
                                           "refresh_complete",
                                           "ephemeral_action_started",
                                           "ephemeral_action_complete",
                                           "state_lock_acquire",
                                           "state_lock_release",
                                           "output"};
    std::set<UiEventType> seen;
    for (const std::string& name : wire) {
      UiEvent e = ParseUiLine(R"({"@level":"info","@message":"m","type":")" + name + R"("})");
      CHECK(UiEventTypeName(e.type) == name);
      CHECK(e.type_name == name);
      seen.insert(e.type);
    }
    CHECK(seen.size() == wire.size());
    CHECK(UiEventTypeName(UiEventType::kUntyped) == "untyped");
    CHECK(UiEventTypeName(UiEventType::kUnknown) == "unknown");
    CHECK(UiEventTypeName(UiEventType::kNotJson) == "not_json");
  }

  TEST_CASE("tofu_ui_stream: built v1.12.6 lines of reference 1.6") {
    UiEvent v = ParseUiLine(
        R"({"@level":"info","@message":"OpenTofu 1.12.6","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:23.275359Z","tofu":"1.12.6","type":"version","ui":"1.2"})");
    REQUIRE(v.type == UiEventType::kVersion);
    REQUIRE(v.version.has_value());
    CHECK(v.version->tofu == "1.12.6");
    CHECK(v.version->ui == "1.2");
    CHECK(v.version->supported);
    CHECK(v.message == "OpenTofu 1.12.6");
    CHECK(v.level == "info");
    CHECK(v.timestamp == "2026-11-23T11:34:23.275359Z");
    CHECK_FALSE(v.malformed);

    UiEvent r = ParseUiLine(
        R"({"@level":"info","@message":"null_resource.a: Refreshing state... [id=4821]","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:23.401220Z","hook":{"resource":{"addr":"null_resource.a","module":"","resource":"null_resource.a","implied_provider":"null","resource_type":"null_resource","resource_name":"a","resource_key":null},"id_key":"id","id_value":"4821"},"type":"refresh_start"})");
    REQUIRE(r.type == UiEventType::kRefreshStart);
    REQUIRE(r.resource.has_value());
    CHECK(r.resource->addr == "null_resource.a");
    CHECK(r.resource->module == "");
    CHECK(r.resource->resource == "null_resource.a");
    CHECK(r.resource->implied_provider == "null");
    CHECK(r.resource->resource_type == "null_resource");
    CHECK(r.resource->resource_name == "a");
    CHECK_FALSE(r.resource->resource_key.has_value());
    CHECK(r.id_key == "id");
    CHECK(r.id_value == "4821");
    CHECK_FALSE(r.elapsed_seconds.has_value());

    UiEvent s = ParseUiLine(
        R"({"@level":"info","@message":"Plan: 1 to add, 0 to change, 0 to destroy.","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:23.705638Z","changes":{"add":1,"change":0,"import":0,"remove":0,"forget":0,"operation":"plan"},"type":"change_summary"})");
    REQUIRE(s.changes.has_value());
    CHECK(s.changes->add == 1);
    CHECK(s.changes->change == 0);
    CHECK(s.changes->remove == 0);
    CHECK(s.changes->operation == "plan");

    UiEvent o = ParseUiLine(
        R"({"@level":"info","@message":"Outputs: 2","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:24.869280Z","outputs":{"pet":{"sensitive":false,"type":"string","value":"smart-lizard"},"token":{"sensitive":true,"type":"string"}},"type":"outputs"})");
    REQUIRE(o.outputs.size() == 2);
    CHECK(o.outputs[0].name == "pet");
    CHECK_FALSE(o.outputs[0].sensitive);
    CHECK(o.outputs[0].type_json == R"("string")");
    CHECK(o.outputs[0].value_json == std::optional<std::string>(R"("smart-lizard")"));
    CHECK(o.outputs[1].name == "token");
    CHECK(o.outputs[1].sensitive);
    CHECK_FALSE(o.outputs[1].value_json.has_value());

    UiEvent approve = ParseUiLine(
        R"({"@level":"error","@message":"Error: Plan file or auto-approve required","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:23.300000Z","diagnostic":{"severity":"error","summary":"Plan file or auto-approve required","detail":"OpenTofu cannot ask for interactive approval when -json is set. You can either apply a saved plan file, or enable the -auto-approve option."},"type":"diagnostic"})");
    REQUIRE(approve.diagnostic.has_value());
    CHECK(approve.diagnostic->IsError());
    CHECK(approve.diagnostic->summary == "Plan file or auto-approve required");
    CHECK(approve.diagnostic->detail.find("-auto-approve option") != std::string::npos);
    CHECK(approve.diagnostic->address.empty());
    CHECK_FALSE(approve.diagnostic->range.has_value());
  }

  TEST_CASE(
      "tofu_ui_stream: documented apply lines with id, elapsed and numeric "
      "key") {
    UiEvent c = ParseUiLine(
        R"({"@level":"info","@message":"random_pet.animal: Creation complete after 0s [id=smart-lizard]","@module":"tofu.ui","@timestamp":"2021-05-25T13:32:41.826179-04:00","hook":{"resource":{"addr":"random_pet.animal","module":"","resource":"random_pet.animal","implied_provider":"random","resource_type":"random_pet","resource_name":"animal","resource_key":null},"action":"create","id_key":"id","id_value":"smart-lizard","elapsed_seconds":0},"type":"apply_complete"})");
    REQUIRE(c.type == UiEventType::kApplyComplete);
    CHECK(c.action == "create");
    CHECK(c.id_value == "smart-lizard");
    REQUIRE(c.elapsed_seconds.has_value());
    CHECK(*c.elapsed_seconds == 0);

    UiEvent p = ParseUiLine(
        R"({"@level":"info","@message":"null_resource.none[4]: Still creating... [30s elapsed]","@module":"tofu.ui","@timestamp":"2021-05-25T13:33:11.826179-04:00","hook":{"resource":{"addr":"null_resource.none[4]","module":"","resource":"null_resource.none[4]","implied_provider":"null","resource_type":"null_resource","resource_name":"none","resource_key":4},"action":"create","elapsed_seconds":30},"type":"apply_progress"})");
    REQUIRE(p.type == UiEventType::kApplyProgress);
    REQUIRE(p.resource.has_value());
    CHECK(p.resource->resource_key == std::optional<std::string>("4"));
    CHECK(*p.elapsed_seconds == 30);

    UiEvent k = ParseUiLine(
        R"({"@level":"info","@message":"module.net.aws_subnet.a[\"eu\"]: Plan to create","type":"planned_change","change":{"resource":{"addr":"module.net.aws_subnet.a[\"eu\"]","module":"module.net","resource":"aws_subnet.a[\"eu\"]","implied_provider":"aws","resource_type":"aws_subnet","resource_name":"a","resource_key":"eu"},"previous_resource":{"addr":"aws_subnet.old","module":"","resource":"aws_subnet.old","implied_provider":"aws","resource_type":"aws_subnet","resource_name":"old","resource_key":null},"action":"move"}})");
    REQUIRE(k.resource.has_value());
    CHECK(k.resource->module == "module.net");
    CHECK(k.resource->resource_key == std::optional<std::string>("eu"));
    REQUIRE(k.previous_resource.has_value());
    CHECK(k.previous_resource->addr == "aws_subnet.old");
    CHECK(k.action == "move");

    UiEvent eph = ParseUiLine(
        R"({"@level":"info","@message":"ephemeral.random_password.p: Opening...","type":"ephemeral_action_started","hook":{"resource":{"addr":"ephemeral.random_password.p","module":"","resource":"ephemeral.random_password.p","implied_provider":"random","resource_type":"random_password","resource_name":"p","resource_key":null},"Msg":"Opening..."}})");
    CHECK(eph.type == UiEventType::kEphemeralActionStarted);
    CHECK(eph.resource->resource_type == "random_password");
    CHECK_FALSE(eph.malformed);
  }

  TEST_CASE("tofu_ui_stream: state lock error is parsed for retry") {
    const std::string line =
        R"({"@level":"error","@message":"Error: Error acquiring the state lock","@module":"tofu.ui","@timestamp":"2026-11-23T11:30:02.000000Z","diagnostic":{"severity":"error","summary":"Error acquiring the state lock","detail":"Error message: resource temporarily unavailable\nLock Info:\n  ID:        4bd3c4f0-2b64-5c0e-9fd7-0a3a1c1b7e55\n  Path:      terraform.tfstate\n  Operation: OperationTypeApply\n  Who:       runner@build-host\n  Version:   1.12.6\n  Created:   2026-11-23 11:30:00.123456789 +0000 UTC\n  Info:      \n\n\nOpenTofu acquires a state lock to protect the state from being written\nby multiple users at the same time. Please resolve the issue above and try\nagain. For most commands, you can disable locking with the \"-lock=false\"\nflag, but this is not recommended."},"type":"diagnostic"})";
    UiStreamSummary s = ParseUiStream(
        R"({"@level":"info","@message":"OpenTofu 1.12.6","tofu":"1.12.6","type":"version","ui":"1.2"})"
        "\n" +
        line + "\n");
    REQUIRE(s.state_lock.has_value());
    CHECK(s.state_lock->error_message == "resource temporarily unavailable");
    CHECK(s.state_lock->id == "4bd3c4f0-2b64-5c0e-9fd7-0a3a1c1b7e55");
    CHECK(s.state_lock->who == "runner@build-host");
    CHECK(s.state_lock->path == "terraform.tfstate");
    CHECK(s.state_lock->operation == "OperationTypeApply");
    CHECK(s.state_lock->version == "1.12.6");
    CHECK(s.state_lock->created == "2026-11-23 11:30:00.123456789 +0000 UTC");
    CHECK(s.error_count == 1);
    CHECK(s.ErrorSummary() == "Error acquiring the state lock");

    // Any other error leaves the lock field empty.
    UiStreamSummary other = ParseUiStream(
        R"({"@level":"error","@message":"Error: No value for required variable","diagnostic":{"severity":"error","summary":"No value for required variable","detail":"The root module input variable \"region\" is not set, and has no default value.","range":{"filename":"variables.tf","start":{"line":1,"column":1,"byte":0},"end":{"line":1,"column":18,"byte":17}}},"type":"diagnostic"})");
    CHECK_FALSE(other.state_lock.has_value());
    CHECK(other.ErrorSummary() == "No value for required variable");
    REQUIRE(other.diagnostics.size() == 1);
    REQUIRE(other.diagnostics[0].range.has_value());
    CHECK(other.diagnostics[0].range->filename == "variables.tf");
    CHECK(other.diagnostics[0].range->end.column == 18);
  }

  TEST_CASE("tofu_ui_stream: interrupt and cancel log lines") {
    std::vector<UiEvent> events;
    UiStreamSummary s = ParseUiStream(
        R"({"@level":"info","@message":"OpenTofu 1.12.6","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:23.275359Z","tofu":"1.12.6","type":"version","ui":"1.2"}
{"@level":"info","@message":"null_resource.a: Creating...","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:24.000000Z","hook":{"resource":{"addr":"null_resource.a","module":"","resource":"null_resource.a","implied_provider":"null","resource_type":"null_resource","resource_name":"a","resource_key":null},"action":"create"},"type":"apply_start"}
{"@level":"info","@message":"\nInterrupt received.\nPlease wait for OpenTofu to exit or data loss may occur.\nGracefully shutting down...\n","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:25.000001Z","type":"log"}
{"@level":"info","@message":"Stopping operation...","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:25.000101Z","type":"log"}
{"@level":"info","@message":"\nTwo interrupts received. Exiting immediately. Note that data loss may have occurred.\n","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:26.000001Z","type":"log"}
{"@level":"error","@message":"Error: operation canceled","@module":"tofu.ui","@timestamp":"2026-11-23T11:34:26.000201Z","diagnostic":{"severity":"error","summary":"operation canceled","detail":""},"type":"diagnostic"}
)",
        &events);
    CHECK(TypeList(events) == "version apply_start log log log diagnostic ");
    CHECK(events[2].message.find("Interrupt received.") != std::string::npos);
    CHECK(s.interrupted);
    CHECK(s.cancelled);
    CHECK(s.ErrorSummary() == "operation canceled");
    REQUIRE(s.resources.size() == 1);
    CHECK(s.resources[0].status == ResourceStatus::kApplying);  // started, never finished
    CHECK(ResourceStatusName(s.resources[0].status) == "applying");
    CHECK_FALSE(s.changes.has_value());
  }

  TEST_CASE("tofu_ui_stream: untyped, output, unknown and repeated version lines") {
    std::vector<UiEvent> events;
    UiStreamSummary s = ParseUiStream(
        R"({"@level":"info","@message":"OpenTofu 1.11.14","@module":"tofu.ui","tofu":"1.11.14","type":"version","ui":"1.2"}
{"@level":"info","@message":"\nInitializing the backend...","@module":"tofu.ui","type":"output"}
{"@level":"info","@message":"- Installing hashicorp/null v3.2.3...","@module":"tofu.ui"}
{"@level":"info","@message":"OpenTofu 1.11.14","@module":"tofu.ui","tofu":"1.11.14","type":"version","ui":"1.2"}
{"@level":"warn","@message":"Warning: Incomplete lock file information for providers","@module":"tofu.ui","diagnostic":{"severity":"warning","summary":"Incomplete lock file information for providers","detail":"..."},"type":"diagnostic"}
{"@level":"info","@message":"Something new in 1.13","@module":"tofu.ui","type":"fancy_new_thing","fancy_new_thing":{"x":1}}
{"@level":"info","@message":"added key","@module":"tofu.ui","type":"log","some_future_key":[1,2,3]}
)",
        &events);
    CHECK(TypeList(events) == "version output untyped version diagnostic unknown log ");
    CHECK(events[1].message == "\nInitializing the backend...");
    CHECK(events[2].message == "- Installing hashicorp/null v3.2.3...");
    CHECK(events[5].message == "Something new in 1.13");
    CHECK(events[5].type_name == "fancy_new_thing");
    CHECK_FALSE(events[6].malformed);  // unknown keys are ignored within a major
    CHECK(s.version_lines == 2);
    CHECK(s.tofu_version == "1.11.14");
    CHECK(s.warning_count == 1);
    CHECK(s.error_count == 0);
    CHECK(s.unknown_lines == 1);
    CHECK(s.ErrorSummary() == "");
  }

  TEST_CASE("tofu_ui_stream: sensitive output values are never kept") {
    // Terraform <= 1.3 sent sensitive values; they must not reach job records.
    UiEvent e = ParseUiLine(
        R"({"@level":"info","@message":"Outputs: 2","type":"outputs","outputs":{"password":{"sensitive":true,"type":"string","value":"hunter2"},"url":{"sensitive":false,"type":"string","value":"https://x"}}})");
    REQUIRE(e.outputs.size() == 2);
    CHECK(e.outputs[0].name == "password");
    CHECK_FALSE(e.outputs[0].value_json.has_value());
    CHECK(e.outputs[1].value_json == std::optional<std::string>(R"("https://x")"));
    UiStreamSummary s = ParseUiStream(
        R"({"@level":"info","@message":"Outputs: 2","type":"outputs","outputs":{"password":{"sensitive":true,"type":"string","value":"hunter2"},"url":{"sensitive":false,"type":"string","value":"https://x"}}})");
    REQUIRE(s.outputs.size() == 1);
    CHECK(s.outputs[0].name == "url");
    CHECK(s.sensitive_outputs == std::vector<std::string>{"password"});
    // A plan-time outputs message carries actions, no values.
    UiEvent planned = ParseUiLine(
        R"({"@level":"info","@message":"Outputs: 1","type":"outputs","outputs":{"url":{"sensitive":false,"action":"create"}}})");
    REQUIRE(planned.outputs.size() == 1);
    CHECK(planned.outputs[0].action == "create");
    CHECK(planned.outputs[0].type_json.empty());
    CHECK_FALSE(planned.outputs[0].value_json.has_value());
  }

  // ---- hostile input ----

  TEST_CASE("tofu_ui_stream: text that is not a JSON object") {
    for (std::string line :
         {std::string("!!!!!!!!!!!!!!!!!!!!!!!!!!! OPENTOFU CRASH "
                      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!"),
          std::string("2026-11-23T11:34:23.275Z [INFO]  OpenTofu version: 1.12.6"),
          std::string("[1,2,3]"), std::string("\"just a string\""), std::string("42"),
          std::string("{\"@message\": \"truncated"), std::string("{} trailing"),
          std::string("\x1b[31mError:\x1b[0m colored")}) {
      CAPTURE(line);
      UiEvent e = ParseUiLine(line);
      CHECK(e.type == UiEventType::kNotJson);
      CHECK(e.message == line);
      CHECK(e.type_name.empty());
    }
    UiEvent crlf = ParseUiLine("{\"@message\":\"windows\",\"type\":\"log\"}\r\n");
    CHECK(crlf.type == UiEventType::kLog);
    CHECK(crlf.message == "windows");

    std::vector<UiEvent> events;
    UiStreamSummary s = ParseUiStream(
        "\n   \n"
        "!!!!!!!!!!!!!!!!!!!!!!!!!!! OPENTOFU CRASH "
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        "panic: runtime error: invalid memory address or nil pointer "
        "dereference\n",
        &events);
    CHECK(events.size() == 2);  // blank lines are skipped
    CHECK(s.lines == 2);
    CHECK(s.not_json_lines == 2);
    CHECK(s.crashed);
    CHECK(s.ErrorSummary() == "OpenTofu crashed");
  }

  TEST_CASE("tofu_ui_stream: very long lines") {
    const std::string big(5 << 20, 'x');
    UiEvent json = ParseUiLine(R"({"@level":"info","@message":")" + big + R"(","type":"log"})");
    CHECK(json.type == UiEventType::kLog);
    CHECK(json.message.size() == big.size());

    UiEvent garbage = ParseUiLine(big);
    CHECK(garbage.type == UiEventType::kNotJson);
    CHECK(garbage.message.size() == big.size());

    // A parser with a line cap keeps a prefix of a longer line and recovers at
    // the next newline, whatever the chunking.
    std::vector<UiEvent> events;
    UiStreamParser capped([&](const UiEvent& e) { events.push_back(e); }, 64 << 10);
    std::string stream = R"({"@level":"info","@message":")" + std::string(200 << 10, 'y') +
                         "\"}\n" + R"({"@message":"after","type":"log"})" + "\n";
    for (size_t i = 0; i < stream.size(); i += 7001) capped.Feed(stream.substr(i, 7001));
    capped.Finish();
    REQUIRE(events.size() == 2);
    CHECK(events[0].type == UiEventType::kNotJson);
    CHECK(events[0].malformed);
    CHECK(events[0].message.size() == UiStreamParser::kKeptPrefixBytes);
    CHECK(events[0].message.rfind(R"({"@level":"info")", 0) == 0);
    CHECK(events[1].type == UiEventType::kLog);
    CHECK(events[1].message == "after");

    events.clear();
    UiStreamParser lines([&](const UiEvent& e) { events.push_back(e); }, 64 << 10);
    lines.AddLine(std::string(100 << 10, 'z'));
    lines.AddLine(R"({"@message":"next","type":"log"})");
    REQUIRE(events.size() == 2);
    CHECK(events[0].type == UiEventType::kNotJson);
    CHECK(events[0].message.size() == UiStreamParser::kKeptPrefixBytes);
    CHECK(events[1].message == "next");
  }

  TEST_CASE("tofu_ui_stream: invalid UTF-8") {
    // Inside a JSON string: the JSON parser rejects it, the line is repaired.
    UiEvent e = ParseUiLine(
        "{\"@level\":\"info\",\"@message\":\"bad \xff\xfe "
        "bytes\",\"type\":\"log\"}");
    CHECK(e.type == UiEventType::kLog);
    CHECK(e.message == "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
    // Inside an output value that is printed back as JSON text.
    UiEvent o = ParseUiLine(
        "{\"type\":\"outputs\",\"outputs\":{\"x\":{\"sensitive\":false,"
        "\"type\":\"string\",\"value\":"
        "\"\xc3\x28\"}}}");
    REQUIRE(o.outputs.size() == 1);
    REQUIRE(o.outputs[0].value_json.has_value());
    CHECK(*o.outputs[0].value_json == "\"\xEF\xBF\xBD(\"");
    // Not JSON at all: kept as text, made valid.
    UiEvent g = ParseUiLine("\xff\xfe junk \xc3");
    CHECK(g.type == UiEventType::kNotJson);
    CHECK(g.message == "\xEF\xBF\xBD\xEF\xBF\xBD junk \xEF\xBF\xBD");
    // Truncated multi-byte sequence at the end of a garbage line.
    UiEvent t = ParseUiLine("\xe2\x82");
    CHECK(t.message == "\xEF\xBF\xBD\xEF\xBF\xBD");
  }

  TEST_CASE("tofu_ui_stream: a ui major version other than 1 is not trusted") {
    std::vector<UiEvent> events;
    UiStreamSummary s = ParseUiStream(
        R"({"@level":"info","@message":"OpenTofu 2.0.0","@module":"tofu.ui","tofu":"2.0.0","type":"version","ui":"2.0"}
{"@level":"info","@message":"a.b: Plan to create","type":"planned_change","change":{"resource":{"addr":"a.b"},"action":"create"}}
{"@level":"error","@message":"Error: boom","type":"diagnostic","diagnostic":{"severity":"error","summary":"boom","detail":""}}
{"@level":"info","@message":"Plan: 1 to add, 0 to change, 0 to destroy.","type":"change_summary","changes":{"add":1,"change":0,"remove":0,"operation":"plan"}}
{"@level":"info","@message":"untyped stays untyped"}
)",
        &events);
    CHECK(TypeList(events) == "version unknown unknown unknown untyped ");
    REQUIRE(events[0].version.has_value());
    CHECK_FALSE(events[0].version->supported);
    for (size_t i = 1; i <= 3; ++i) {
      CHECK(events[i].untrusted);
      CHECK_FALSE(events[i].resource.has_value());
      CHECK_FALSE(events[i].diagnostic.has_value());
      CHECK_FALSE(events[i].changes.has_value());
    }
    CHECK(events[1].message == "a.b: Plan to create");
    CHECK(events[1].type_name == "planned_change");
    CHECK(events[2].message == "Error: boom");
    CHECK(events[2].level == "error");
    CHECK_FALSE(s.ui_supported);
    CHECK(s.ui_version == "2.0");
    CHECK_FALSE(s.changes.has_value());
    CHECK(s.diagnostics.empty());
    CHECK(s.resources.empty());
    CHECK(s.unknown_lines == 3);

    // Same major, higher minor: trusted.
    UiStreamSummary minor = ParseUiStream(
        R"({"@message":"OpenTofu 1.20.0","tofu":"1.20.0","type":"version","ui":"1.9"}
{"@message":"Plan: 2 to add, 0 to change, 0 to destroy.","type":"change_summary","changes":{"add":2,"change":0,"remove":0,"operation":"plan","new_counter":5}}
)");
    CHECK(minor.ui_supported);
    REQUIRE(minor.changes.has_value());
    CHECK(minor.changes->add == 2);

    for (const char* ui : {R"("0.1.0")", R"("x")", R"("")", "2"}) {
      CAPTURE(ui);
      UiEvent v = ParseUiLine(std::string(R"({"type":"version","tofu":"9","ui":)") + ui + "}");
      REQUIRE(v.version.has_value());
      CHECK_FALSE(v.version->supported);
    }
    UiEvent one = ParseUiLine(R"({"type":"version","tofu":"9","ui":1})");
    CHECK(one.version->supported);  // a number where a string belongs, same major
    CHECK(one.malformed);
  }

  TEST_CASE("tofu_ui_stream: nesting depth is bounded") {
    auto nested = [](int depth) {
      return R"({"@message":"deep","type":"log","x":)" + std::string(depth, '[') +
             std::string(depth, ']') + "}";
    };
    // The top-level object is depth 0, "x"'s arrays start at depth 1.
    UiEvent ok = ParseUiLine(nested(kMaxUiJsonDepth));
    CHECK(ok.type == UiEventType::kLog);
    CHECK(ok.message == "deep");
    UiEvent deep = ParseUiLine(nested(kMaxUiJsonDepth + 1));
    CHECK(deep.type == UiEventType::kNotJson);
    // Far deeper than any stack would survive if it were copied recursively.
    UiEvent very_deep = ParseUiLine(nested(200000));
    CHECK(very_deep.type == UiEventType::kNotJson);
    UiEvent deep_objects =
        ParseUiLine(R"({"type":"outputs","outputs":{"x":{"sensitive":false,"value":)" +
                    std::string(100000, '{') + "}}}");
    CHECK(deep_objects.type == UiEventType::kNotJson);
  }

  TEST_CASE("tofu_ui_stream: wrong JSON types are converted or dropped") {
    UiEvent s = ParseUiLine(
        R"({"@level":"info","@message":42,"type":"change_summary","changes":{"add":"3","change":1.0,"remove":-2,"import":null,"forget":18446744073709551615,"operation":7}})");
    REQUIRE(s.type == UiEventType::kChangeSummary);
    CHECK(s.malformed);
    CHECK(s.message == "42");
    REQUIRE(s.changes.has_value());
    CHECK(s.changes->add == 3);
    CHECK(s.changes->change == 1);
    CHECK(s.changes->remove == 0);
    CHECK(s.changes->import == 0);
    CHECK(s.changes->forget == std::numeric_limits<int64_t>::max());
    CHECK(s.changes->operation == "7");

    UiEvent h = ParseUiLine(
        R"({"@message":"m","type":"apply_progress","hook":{"resource":{"addr":12,"resource_key":{"k":1}},"action":["create"],"elapsed_seconds":"10","id_value":true}})");
    CHECK(h.malformed);
    REQUIRE(h.resource.has_value());
    CHECK(h.resource->addr == "12");
    CHECK(h.resource->resource_key == std::optional<std::string>(R"({"k":1})"));
    CHECK(h.action == R"(["create"])");
    CHECK(h.elapsed_seconds == std::optional<double>(10));
    CHECK(h.id_value == "true");

    UiEvent bad_hook = ParseUiLine(R"({"@message":"m","type":"apply_start","hook":[]})");
    CHECK(bad_hook.type == UiEventType::kApplyStart);
    CHECK(bad_hook.malformed);
    CHECK_FALSE(bad_hook.resource.has_value());

    UiEvent bad_type = ParseUiLine(R"({"@message":"m","type":5})");
    CHECK(bad_type.type == UiEventType::kUnknown);
    CHECK(bad_type.type_name == "5");
    CHECK(bad_type.malformed);

    UiEvent null_type = ParseUiLine(R"({"@message":"m","type":null})");
    CHECK(null_type.type == UiEventType::kUntyped);

    UiEvent bad_outputs = ParseUiLine(
        R"({"type":"outputs","outputs":{"a":"not an object","b":{"sensitive":"false","value":1},"c":{"sensitive":{},"value":2}}})");
    REQUIRE(bad_outputs.outputs.size() == 3);
    CHECK(bad_outputs.malformed);
    CHECK(bad_outputs.outputs[0].sensitive);  // unknown shape: treated as secret
    CHECK_FALSE(bad_outputs.outputs[1].sensitive);
    CHECK(bad_outputs.outputs[1].value_json == std::optional<std::string>("1"));
    CHECK(bad_outputs.outputs[2].sensitive);
    CHECK_FALSE(bad_outputs.outputs[2].value_json.has_value());

    UiEvent no_diag =
        ParseUiLine(R"({"@level":"error","@message":"Error: x","type":"diagnostic"})");
    CHECK(no_diag.malformed);
    CHECK_FALSE(no_diag.diagnostic.has_value());
    UiStreamSummary s2 =
        ParseUiStream(R"({"@level":"error","@message":"Error: x","type":"diagnostic"})");
    CHECK(s2.malformed_lines == 1);
    CHECK(s2.error_count == 0);
  }

  TEST_CASE("tofu_ui_stream: chunking does not change the events") {
    std::string stream =
        R"({"@level":"info","@message":"OpenTofu 1.12.6","tofu":"1.12.6","type":"version","ui":"1.2"})"
        "\n"
        R"({"@level":"info","@message":"a.b: Plan to create","type":"planned_change","change":{"resource":{"addr":"a.b"},"action":"create"}})"
        "\r\n"
        "not json \xe2\x82\xac\n"
        R"({"@level":"info","@message":"Plan: 1 to add, 0 to change, 0 to destroy.","type":"change_summary","changes":{"add":1,"change":0,"remove":0,"operation":"plan"}})";
    std::vector<UiEvent> whole;
    UiStreamSummary expected = ParseUiStream(stream, &whole);
    REQUIRE(whole.size() == 4);
    for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{17}, size_t{64}}) {
      CAPTURE(chunk);
      std::vector<UiEvent> got;
      UiStreamParser parser([&](const UiEvent& e) { got.push_back(e); });
      for (size_t i = 0; i < stream.size(); i += chunk) parser.Feed(stream.substr(i, chunk));
      CHECK(got.size() == 3);  // the last line has no newline yet
      parser.Finish();
      REQUIRE(got.size() == whole.size());
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].type == whole[i].type);
        CHECK(got[i].message == whole[i].message);
      }
      CHECK(parser.summary().changes->add == 1);
      CHECK(parser.summary().not_json_lines == 1);
    }
    CHECK(whole[2].message == "not json \xe2\x82\xac");
    CHECK(expected.lines == 4);
  }

  TEST_CASE("tofu_ui_stream: resource statuses fold across plan and apply") {
    const std::string res =
        R"("resource":{"addr":"%s","module":"","resource":"%s","implied_provider":"null","resource_type":"null_resource","resource_name":"x","resource_key":null})";
    auto r = [&](const std::string& addr) {
      std::string out = res;
      out.replace(out.find("%s"), 2, addr);
      out.replace(out.find("%s"), 2, addr);
      return out;
    };
    std::vector<UiEvent> events;
    UiStreamSummary s = ParseUiStream(
        R"({"@message":"v","type":"version","tofu":"1.12.6","ui":"1.2"})"
        "\n"
        R"({"@message":"r","type":"refresh_start","hook":{)" +
            r("null_resource.kept") +
            R"(,"id_key":"id","id_value":"1"}})"
            "\n"
            R"({"@message":"r","type":"refresh_complete","hook":{)" +
            r("null_resource.kept") +
            R"(,"id_key":"id","id_value":"1"}})"
            "\n"
            R"({"@message":"d","type":"resource_drift","change":{)" +
            r("null_resource.drifted") +
            R"(,"action":"update"}})"
            "\n"
            R"({"@message":"p","type":"planned_change","change":{)" +
            r("null_resource.new") +
            R"(,"action":"create"}})"
            "\n"
            R"({"@message":"p","type":"planned_change","change":{)" +
            r("null_resource.bad") +
            R"(,"action":"replace","reason":"tainted"}})"
            "\n"
            R"({"@message":"p","type":"planned_change","change":{)" +
            r("null_resource.later") +
            R"(,"action":"create"}})"
            "\n"
            R"({"@message":"s","type":"apply_start","hook":{)" +
            r("null_resource.new") +
            R"(,"action":"create"}})"
            "\n"
            R"({"@message":"c","type":"apply_complete","hook":{)" +
            r("null_resource.new") +
            R"(,"action":"create","id_key":"id","id_value":"77","elapsed_seconds":3}})"
            "\n"
            R"({"@message":"s","type":"apply_start","hook":{)" +
            r("null_resource.bad") +
            R"(,"action":"delete","id_key":"id","id_value":"5"}})"
            "\n"
            R"({"@message":"c","type":"apply_complete","hook":{)" +
            r("null_resource.bad") +
            R"(,"action":"delete","elapsed_seconds":0}})"
            "\n"
            R"({"@message":"s","type":"apply_start","hook":{)" +
            r("null_resource.bad") +
            R"(,"action":"create"}})"
            "\n"
            R"({"@message":"e","type":"apply_errored","hook":{)" +
            r("null_resource.bad") +
            R"(,"action":"create","elapsed_seconds":12}})"
            "\n"
            R"({"@level":"error","@message":"Error: boom","type":"diagnostic","diagnostic":{"severity":"error","summary":"boom","detail":"d","address":"null_resource.bad","range":{"filename":"main.tf","start":{"line":9,"column":1,"byte":80},"end":{"line":9,"column":30,"byte":109}}}})"
            "\n",
        &events);
    REQUIRE(s.resources.size() == 5);
    const ResourceProgress* kept = s.FindResource("null_resource.kept");
    REQUIRE(kept != nullptr);
    CHECK(kept->status == ResourceStatus::kRefreshed);
    CHECK(kept->id_value == "1");
    CHECK(s.FindResource("null_resource.drifted")->status == ResourceStatus::kDrifted);
    CHECK(s.drift_detected);
    const ResourceProgress* created = s.FindResource("null_resource.new");
    CHECK(created->status == ResourceStatus::kApplied);
    CHECK(created->action == "create");
    CHECK(created->id_value == "77");
    CHECK(created->elapsed_seconds == 3);
    const ResourceProgress* bad = s.FindResource("null_resource.bad");
    CHECK(bad->status == ResourceStatus::kErrored);
    CHECK(bad->action == "replace");
    CHECK(bad->id_value == "5");
    CHECK(bad->elapsed_seconds == 12);
    CHECK(s.FindResource("null_resource.later")->status == ResourceStatus::kPlanned);
    CHECK(s.FindResource("null_resource.none") == nullptr);
    CHECK(s.ErrorSummary() == "boom (null_resource.bad)");
    CHECK(s.diagnostics[0].range->start.line == 9);
  }

  // ---- recorded fixtures ----

  // What each normalized fixture stream must yield. Every apply.json found must
  // have an entry, so a new fixture cannot slip through unchecked.
  struct FixtureExpectation {
    std::string operation;
    int64_t add, change, remove;
    std::string types;  // the event types in order
  };

  const std::map<std::string, FixtureExpectation>& Expectations() {
    static const std::map<std::string, FixtureExpectation> kExpected = {
        {"local_provider_basic",
         {"apply", 1, 0, 0,
          "version planned_change apply_start apply_complete change_summary "
          "outputs "}},
        {"drift_simple",
         {"apply", 0, 1, 0,
          "version planned_change apply_start apply_complete change_summary "
          "outputs "}},
        {"drift_refresh_only", {"apply", 0, 0, 0, "version change_summary outputs "}},
        {"simple_object_replace",
         {"apply", 1, 0, 1,
          "version planned_change apply_start apply_complete apply_start "
          "apply_complete "
          "change_summary outputs "}},
        {"moved_simple", {"apply", 0, 0, 0, "version change_summary outputs "}},
        {"null_provider_delete",
         {"apply", 0, 0, 1,
          "version planned_change apply_start apply_complete change_summary "
          "outputs "}},
        {"fully_populated_complex_destroy",
         {"destroy", 0, 0, 1,
          "version refresh_start refresh_complete planned_change "
          "change_summary apply_start "
          "apply_complete change_summary "}},
        {"variables_and_outputs", {"apply", 0, 0, 0, "version change_summary outputs "}},
    };
    return kExpected;
  }

  TEST_CASE("tofu_ui_stream: every equivalence apply.json stream") {
    const std::string dir = FixturesDir();
    if (dir.empty() && testing::ToolMissing(PROVISIONER_FIXTURES_DIR " is absent")) return;
    int checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir + "/equivalence")) {
      const std::string name = entry.path().filename().string();
      const std::string path = entry.path().string() + "/apply.json";
      if (!std::filesystem::exists(path)) continue;
      CAPTURE(name);
      auto it = Expectations().find(name);
      REQUIRE_MESSAGE(it != Expectations().end(), "no expectation for fixture " << name);
      std::vector<UiEvent> events;
      UiStreamSummary s = ParseUiStream(RawStreamFromNormalized(ReadFileOrDie(path)), &events);
      CHECK(TypeList(events) == it->second.types);
      CHECK(s.not_json_lines == 0);
      CHECK(s.unknown_lines == 0);
      CHECK(s.malformed_lines == 0);
      CHECK(s.ui_supported);
      CHECK(s.tofu_version == "1.12.6");
      CHECK(s.error_count == 0);
      CHECK(s.ErrorSummary() == "");
      REQUIRE(s.changes.has_value());
      CHECK(s.changes->operation == it->second.operation);
      CHECK(s.changes->add == it->second.add);
      CHECK(s.changes->change == it->second.change);
      CHECK(s.changes->remove == it->second.remove);
      CHECK(s.changes->import == 0);
      CHECK(s.changes->forget == 0);
      for (const UiEvent& e : events) {
        if (e.type == UiEventType::kApplyComplete || e.type == UiEventType::kApplyStart) {
          REQUIRE(e.resource.has_value());
          CHECK(e.message.rfind(e.resource->addr + ": ", 0) == 0);
        }
      }
      ++checked;
    }
    CHECK(checked == static_cast<int>(Expectations().size()));
  }

  TEST_CASE("tofu_ui_stream: equivalence fixture contents") {
    const std::string dir = FixturesDir();
    if (dir.empty() && testing::ToolMissing(PROVISIONER_FIXTURES_DIR " is absent")) return;
    auto load = [&](const std::string& name, std::vector<UiEvent>* events) {
      return ParseUiStream(
          RawStreamFromNormalized(ReadFileOrDie(dir + "/equivalence/" + name + "/apply.json")),
          events);
    };

    SUBCASE("simple_object_replace") {
      std::vector<UiEvent> events;
      UiStreamSummary s = load("simple_object_replace", &events);
      const UiEvent& planned = events[1];
      CHECK(planned.type == UiEventType::kPlannedChange);
      CHECK(planned.action == "replace");
      CHECK(planned.reason == "cannot_update");
      CHECK(planned.resource->addr == "tfcoremock_object.object");
      CHECK(planned.resource->implied_provider == "tfcoremock");
      CHECK(events[2].action == "delete");
      CHECK(events[2].id_value == "a0ed13ec-116b-14c4-7437-418e217d3659");
      CHECK(events[2].message ==
            "tfcoremock_object.object: Destroying... "
            "[id=a0ed13ec-116b-14c4-7437-418e217d3659]");
      CHECK(events[3].id_value.empty());  // nothing left after a delete
      CHECK(events[5].id_value == "63A9E8E8-71BC-4DAE-A66C-48CE393CCBD3");
      REQUIRE(s.resources.size() == 1);
      CHECK(s.resources[0].status == ResourceStatus::kApplied);
      CHECK(s.resources[0].action == "replace");
      CHECK(s.resources[0].id_value == "63A9E8E8-71BC-4DAE-A66C-48CE393CCBD3");
      CHECK(s.changes->add == 1);
      CHECK(s.changes->remove == 1);
      CHECK(events[6].message == "Apply complete! Resources: 1 added, 0 changed, 1 destroyed.");
    }
    SUBCASE("fully_populated_complex_destroy") {
      std::vector<UiEvent> events;
      UiStreamSummary s = load("fully_populated_complex_destroy", &events);
      CHECK(s.changes->operation == "destroy");
      CHECK(events.back().message == "Destroy complete! Resources: 1 destroyed.");
      CHECK(CountType(events, UiEventType::kOutputs) == 0);
      CHECK(s.outputs.empty());
      CHECK(events[1].id_value == "64564E36-BFCB-458B-9405-EBBF6A3CAC7A");
      CHECK(events[3].action == "delete");
      CHECK(events[4].changes->operation == "plan");
      CHECK(events[4].changes->remove == 1);
      REQUIRE(s.resources.size() == 1);
      CHECK(s.resources[0].addr == "tfcoremock_complex_resource.complex");
      CHECK(s.resources[0].status == ResourceStatus::kApplied);
      CHECK(s.resources[0].action == "delete");
    }
    SUBCASE("null_provider_delete") {
      std::vector<UiEvent> events;
      UiStreamSummary s = load("null_provider_delete", &events);
      CHECK(events[1].reason == "delete_because_no_resource_config");
      CHECK(s.resources[0].action == "delete");
      CHECK(s.changes->remove == 1);
    }
    SUBCASE("drift_simple") {
      std::vector<UiEvent> events;
      UiStreamSummary s = load("drift_simple", &events);
      CHECK(events[2].message ==
            "tfcoremock_simple_resource.drift: Modifying... "
            "[id=f3c6ddc5-37d5-0170-64ff-518ad421385a]");
      CHECK(s.resources[0].action == "update");
      CHECK(s.changes->change == 1);
      CHECK_FALSE(s.drift_detected);  // applying a saved plan prints no drift
    }
    SUBCASE("local_provider_basic") {
      std::vector<UiEvent> events;
      UiStreamSummary s = load("local_provider_basic", &events);
      CHECK(s.resources[0].id_value == "2248ee2fa0aaaad99178531f924bf00b4b0a8f4e");
      CHECK(*events[3].elapsed_seconds == 0);
      CHECK(events[5].message == "Outputs: 0");
      CHECK(events[5].outputs.empty());
    }
    SUBCASE("moved_simple") {
      std::vector<UiEvent> events;
      UiStreamSummary s = load("moved_simple", &events);
      CHECK(CountType(events, UiEventType::kPlannedChange) == 0);
      CHECK(s.resources.empty());
    }
    SUBCASE("variables_and_outputs") {
      std::vector<UiEvent> events;
      UiStreamSummary s = load("variables_and_outputs", &events);
      REQUIRE(s.outputs.size() == 5);
      std::map<std::string, UiOutput> by_name;
      for (const UiOutput& o : s.outputs) by_name[o.name] = o;
      CHECK(by_name["list_empty_default"].value_json == std::optional<std::string>("[]"));
      CHECK(by_name["nested_optional_object_with_default"].value_json ==
            std::optional<std::string>(R"({"nested_object":{"flag":false}})"));
      CHECK(by_name["nested_optional_object"].value_json ==
            std::optional<std::string>(R"({"nested_object":null})"));
      CHECK(
          by_name["list_no_default"].type_json ==
          R"(["list",["object",{"optional_attribute":"string","optional_attribute_with_default":"string","required_attribute":"string"}]])");
      nlohmann::json list = nlohmann::json::parse(*by_name["list_no_default"].value_json);
      REQUIRE(list.size() == 3);
      CHECK(list[0]["required_attribute"] == "D92053D5-948A-4E5E-80BF-E53F0DB33EB5");
      CHECK(s.sensitive_outputs.empty());
    }
  }

  TEST_CASE("tofu_ui_stream: raw Terraform 1.3.7 cloud logs") {
    const std::string dir = FixturesDir();
    if (dir.empty() && testing::ToolMissing(PROVISIONER_FIXTURES_DIR " is absent")) return;
    const std::string logs = dir + "/terraform-1.3.7-cloud-logs/";

    SUBCASE("apply with provisioner error") {
      std::vector<UiEvent> events;
      UiStreamSummary s = ParseUiStream(
          ReadFileOrDie(logs + "apply-json-with-provisioner-error__apply.jsonl"), &events);
      CHECK(TypeList(events) ==
            "version apply_start apply_complete apply_start provision_start "
            "provision_progress "
            "provision_errored apply_errored diagnostic ");
      CHECK(s.tofu_version == "1.3.7");  // the "terraform" key
      CHECK(s.ui_version == "1.0");
      CHECK(s.ui_supported);
      CHECK(events[4].provisioner == "local-exec");
      CHECK(events[5].provisioner_output == R"(Executing: ["/bin/sh" "-c" "exit 125"])");
      CHECK(events[7].action == "create");
      CHECK(*events[7].elapsed_seconds == 0);
      CHECK(events[1].timestamp == "2023-02-16T10:13:14.725584-05:00");
      REQUIRE(s.diagnostics.size() == 1);
      const Diagnostic& d = s.diagnostics[0];
      CHECK(d.summary == "local-exec provisioner error");
      CHECK(d.detail == "Error running command 'exit 125': exit status 125. Output: ");
      CHECK(d.address == "null_resource.foo");
      REQUIRE(d.range.has_value());
      CHECK(d.range->filename == "main.tf");
      CHECK(d.range->start.line == 2);
      CHECK(d.range->start.column == 28);
      CHECK(d.range->start.byte == 60);
      CHECK(d.range->end.column == 29);
      CHECK(s.ErrorSummary() == "local-exec provisioner error (null_resource.foo)");
      CHECK_FALSE(s.changes.has_value());  // no change_summary after a failure
      REQUIRE(s.resources.size() == 1);
      CHECK(s.resources[0].status == ResourceStatus::kErrored);
      CHECK(s.resources[0].id_value == "5383176453498935794");
      CHECK(s.malformed_lines == 0);
    }
    SUBCASE("plan with a configuration error") {
      std::vector<UiEvent> events;
      UiStreamSummary s =
          ParseUiStream(ReadFileOrDie(logs + "plan-json-error__plan.jsonl"), &events);
      CHECK(TypeList(events) == "version diagnostic ");
      CHECK(s.error_count == 1);
      CHECK(s.ErrorSummary() == "Unsupported block type");
      CHECK(s.diagnostics[0].detail.rfind("Blocks of type \"triggers\" are not expected here.",
                                          0) == 0);
      CHECK(s.diagnostics[0].range->start.line == 2);
      CHECK(s.diagnostics[0].range->start.column == 3);
      CHECK(events[1].level == "error");
      CHECK(events[1].message == "Error: Unsupported block type");
    }
    SUBCASE("full plan") {
      std::vector<UiEvent> events;
      UiStreamSummary s =
          ParseUiStream(ReadFileOrDie(logs + "plan-json-full__plan.jsonl"), &events);
      CHECK(TypeList(events) ==
            "version refresh_start refresh_complete planned_change "
            "planned_change change_summary ");
      REQUIRE(s.changes.has_value());
      CHECK(s.changes->add == 1);
      CHECK(s.changes->change == 1);
      CHECK(s.changes->remove == 0);
      CHECK(s.changes->forget == 0);  // absent before tofu 1.10
      CHECK(s.changes->operation == "plan");
      CHECK(s.FindResource("tfcoremock_simple_resource.example")->status ==
            ResourceStatus::kPlanned);
      CHECK(s.FindResource("tfcoremock_simple_resource.example")->action == "update");
      CHECK(s.FindResource("tfcoremock_complex_resource.example")->action == "create");
      CHECK(s.malformed_lines == 0);
    }
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::tofu
