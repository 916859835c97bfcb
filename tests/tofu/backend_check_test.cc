// CheckLockingBackend: what HA mode accepts of the backend tofu init recorded.
// (The same check against a real `terraform init`: tests/integration/terraform_test.cc.)
#include "support/memory_file_system.h"
#include "support/test_util.h"
#include "tofu/tofu_client.h"

namespace provisioner::tofu {
namespace {

using testing::MemoryFileSystem;

// A working directory whose init recorded backend `type` with `config`.
Status Check(const std::string& type, const std::string& config,
             const std::map<std::string, std::string>& env = {}) {
  MemoryFileSystem fs;
  const std::string dir = env.count("TF_DATA_DIR") > 0 && env.at("TF_DATA_DIR").front() == '/'
                              ? env.at("TF_DATA_DIR")
                              : "/w/" + (env.count("TF_DATA_DIR") > 0 ? env.at("TF_DATA_DIR")
                                                                      : std::string(".terraform"));
  REQUIRE_OK(fs.CreateDirs(dir));
  REQUIRE_OK(fs.WriteFile(dir + "/terraform.tfstate",
                          R"({"version": 3, "terraform_version": "1.11.4", "backend": {"type": ")" +
                              type + R"(", "config": )" + config + R"(, "hash": 1}})"));
  return CheckLockingBackend(fs, "/w", env);
}

TEST_SUITE("tofu") {
  TEST_CASE("tofu: HA's backend check accepts locking remote backends") {
    CHECK_OK(Check("pg", R"({"conn_str": "postgres://db/tf"})"));
    CHECK_OK(Check("gcs", R"({"bucket": "b"})"));
    CHECK_OK(Check("azurerm", "{}"));
    CHECK_OK(Check("s3", R"({"bucket": "b", "key": "k", "use_lockfile": true})"));
    CHECK_OK(Check("s3", R"({"bucket": "b", "key": "k", "dynamodb_table": "locks"})"));
    CHECK_OK(Check("http", R"({"address": "https://x", "lock_address": "https://x/lock"})"));
    // TF_DATA_DIR moves the record, relative to the workspace or absolute.
    CHECK_OK(Check("pg", "{}", {{"TF_DATA_DIR", "data"}}));
    CHECK_OK(Check("pg", "{}", {{"TF_DATA_DIR", "/abs/data"}}));
  }

  TEST_CASE("tofu: HA's backend check refuses state that stays on the node, or unlocked") {
    Status local = Check("local", R"({"path": null})");
    CHECK(local.code() == Status::Code::kFailedPrecondition);
    CHECK(local.message() ==
          "the workspace's backend is \"local\": HA mode runs a workspace on whichever node "
          "leads, so its state must be in a remote backend that locks (docs/ha.md)");
    Status s3 = Check("s3", R"({"bucket": "b", "key": "k", "use_lockfile": false,
                                "dynamodb_table": null})");
    CHECK(s3.code() == Status::Code::kFailedPrecondition);
    CHECK(s3.message().starts_with(
        "the workspace's s3 backend does not lock (set use_lockfile = true or dynamodb_table)"));
    Status http = Check("http", R"({"address": "https://x"})");
    CHECK(http.code() == Status::Code::kFailedPrecondition);
    CHECK(http.message().starts_with("the workspace's http backend does not lock"));

    MemoryFileSystem fs;
    Status none = CheckLockingBackend(fs, "/w", {});
    CHECK(none.code() == Status::Code::kFailedPrecondition);
    CHECK(none.message().starts_with("the workspace has no backend block"));
    REQUIRE_OK(fs.CreateDirs("/w/.terraform"));
    REQUIRE_OK(fs.WriteFile("/w/.terraform/terraform.tfstate", "{\"version\": 3"));
    Status torn = CheckLockingBackend(fs, "/w", {});
    CHECK(torn.code() == Status::Code::kCorruption);
    CHECK(torn.message() ==
          "/w/.terraform/terraform.tfstate is not the backend record tofu init writes");
  }
}

}  // namespace
}  // namespace provisioner::tofu
