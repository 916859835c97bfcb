#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "platform/posix_file_system.h"
#include "support/test_util.h"
#include "workspace/materializer.h"
#include "workspace/template_catalog.h"

namespace provisioner::workspace {
namespace {

using platform::FileType;
using platform::PosixFileSystem;
using testing::ReadFileOrDie;
using testing::TempDir;
using testing::WriteFileOrDie;

void MakeDir(const std::string& path) { REQUIRE(::mkdir(path.c_str(), 0755) == 0); }

// templates/web: main.tf, outputs.tf, modules/net/main.tf, README.md
struct Fixture {
  TempDir tmp;
  PosixFileSystem fs;
  std::string templates = tmp.Join("templates");
  std::string state = tmp.Join("state");

  Fixture() {
    MakeDir(templates);
    MakeDir(templates + "/web");
    MakeDir(templates + "/web/modules");
    MakeDir(templates + "/web/modules/net");
    WriteFileOrDie(templates + "/web/main.tf", "resource \"terraform_data\" \"a\" {}\n");
    WriteFileOrDie(templates + "/web/outputs.tf", "output \"x\" { value = 1 }\n");
    WriteFileOrDie(templates + "/web/modules/net/main.tf", "# net\n");
    WriteFileOrDie(templates + "/web/README.md", "docs\n");
  }
};

config::WorkspaceConfig Ws(const std::string& name, const std::string& vars = "{}") {
  config::WorkspaceConfig ws;
  ws.name = name;
  ws.template_name = "web";
  ws.variables_json = vars;
  return ws;
}

TEST_SUITE("workspace") {
  TEST_CASE("workspace: LoadTemplate reads files and hashes content") {
    Fixture f;
    auto t = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t);
    CHECK(t->name == "web");
    REQUIRE(t->files.size() == 4);
    CHECK(t->files[0].path == "README.md");
    CHECK(t->files[1].path == "main.tf");
    CHECK(t->files[2].path == "modules/net/main.tf");
    CHECK(t->hash.size() == 64);

    auto same = LoadTemplate(f.fs, f.templates, "web");
    CHECK(same->hash == t->hash);
    WriteFileOrDie(f.templates + "/web/outputs.tf", "output \"x\" { value = 2 }\n");
    auto changed = LoadTemplate(f.fs, f.templates, "web");
    CHECK(changed->hash != t->hash);
  }

  TEST_CASE("workspace: runtime files, hidden dirs and state never enter a template") {
    Fixture f;
    MakeDir(f.templates + "/web/.terraform");
    MakeDir(f.templates + "/web/.git");
    WriteFileOrDie(f.templates + "/web/.terraform/x", "provider cache");
    WriteFileOrDie(f.templates + "/web/.git/HEAD", "ref");
    WriteFileOrDie(f.templates + "/web/terraform.tfstate", "{}");
    WriteFileOrDie(f.templates + "/web/terraform.tfstate.backup", "{}");
    auto t = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t);
    CHECK(t->files.size() == 4);
  }

  TEST_CASE("workspace: symlinks inside are followed, escaping ones are refused") {
    Fixture f;
    REQUIRE(::symlink("main.tf", (f.templates + "/web/alias.tf").c_str()) == 0);
    auto t = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t);
    CHECK(t->files.size() == 5);
    REQUIRE(t->files[1].path == "alias.tf");  // sorted: "README.md" < "alias.tf"
    CHECK(t->files[1].content == "resource \"terraform_data\" \"a\" {}\n");

    WriteFileOrDie(f.tmp.Join("secret"), "password");
    REQUIRE(::symlink("../../secret", (f.templates + "/web/leak.tf").c_str()) == 0);
    auto escaped = LoadTemplate(f.fs, f.templates, "web");
    CHECK(escaped.status().message() ==
          "template \"web\": symlink leak.tf -> ../../secret points outside the template");
    ::unlink((f.templates + "/web/leak.tf").c_str());

    REQUIRE(::symlink((f.tmp.Join("secret")).c_str(), (f.templates + "/web/abs.tf").c_str()) == 0);
    CHECK(LoadTemplate(f.fs, f.templates, "web").status().message().find("points outside") !=
          std::string::npos);
    ::unlink((f.templates + "/web/abs.tf").c_str());

    REQUIRE(::symlink("modules", (f.templates + "/web/dirlink").c_str()) == 0);
    CHECK(LoadTemplate(f.fs, f.templates, "web").status().message() ==
          "template \"web\": symlink dirlink -> modules does not point at a regular file");
  }

  TEST_CASE("workspace: bad template names and missing templates") {
    Fixture f;
    CHECK(LoadTemplate(f.fs, f.templates, "nope").status().message() ==
          "template \"nope\" not found in " + f.templates);
    CHECK(LoadTemplate(f.fs, f.templates, "..").status().IsInvalidArgument());
    CHECK(LoadTemplate(f.fs, f.templates, "web/modules").status().IsInvalidArgument());
    MakeDir(f.templates + "/docs");
    WriteFileOrDie(f.templates + "/docs/index.md", "x");
    CHECK(LoadTemplate(f.fs, f.templates, "docs").status().message() ==
          "template \"docs\": has no *.tf or *.tf.json files");
    CHECK(CheckTemplate(f.fs, f.templates, "web").empty());
    CHECK(CheckTemplate(f.fs, f.templates, "nope") ==
          "template \"nope\" not found in " + f.templates);
  }

  TEST_CASE("workspace: ScanTemplates lists templates and skips plain directories") {
    Fixture f;
    MakeDir(f.templates + "/docs");
    MakeDir(f.templates + "/json-only");
    WriteFileOrDie(f.templates + "/json-only/main.tf.json", "{}");
    MakeDir(f.templates + "/broken");
    WriteFileOrDie(f.templates + "/broken/main.tf", "");
    REQUIRE(::symlink("/etc/passwd", (f.templates + "/broken/x.tf").c_str()) == 0);
    auto entries = ScanTemplates(f.fs, f.templates);
    REQUIRE_OK(entries);
    REQUIRE(entries->size() == 3);
    CHECK((*entries)[0].name == "broken");
    CHECK((*entries)[0].error.find("points outside the template") != std::string::npos);
    CHECK((*entries)[1].name == "json-only");
    CHECK((*entries)[1].files == 1);
    CHECK((*entries)[2].name == "web");
    CHECK((*entries)[2].error.empty());
    CHECK(ScanTemplates(f.fs, f.tmp.Join("missing")).status().IsNotFound());
  }

  TEST_CASE("workspace: Materialize writes template and variables, then only what changed") {
    // Given a template and a workspace,
    Fixture f;
    Materializer m(f.fs, f.state);
    auto t = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t);
    // when it is materialized the first time,
    auto r = m.Materialize(Ws("dev-env", R"({"size":"small"})"), *t);
    REQUIRE_OK(r);
    // then the directory holds the template files and the variables.
    const std::string dir = f.state + "/workspaces/dev-env";
    CHECK(r->dir == dir);
    CHECK(r->template_changed);
    CHECK(r->variables_changed);
    CHECK(r->files_written == 4);
    CHECK(ReadFileOrDie(dir + "/main.tf") == "resource \"terraform_data\" \"a\" {}\n");
    CHECK(ReadFileOrDie(dir + "/modules/net/main.tf") == "# net\n");
    CHECK(ReadFileOrDie(dir + "/terraform.tfvars.json") == "{\"size\":\"small\"}\n");

    // Tofu's own files appear in the directory meanwhile.
    MakeDir(dir + "/.terraform");
    WriteFileOrDie(dir + "/.terraform/providers", "cache");
    WriteFileOrDie(dir + "/terraform.tfstate", "{\"serial\":7}");
    WriteFileOrDie(dir + "/.terraform.lock.hcl", "# tofu's");

    // A second call with nothing changed writes nothing.
    auto again = m.Materialize(Ws("dev-env", R"({"size":"small"})"), *t);
    REQUIRE_OK(again);
    CHECK_FALSE(again->template_changed);
    CHECK_FALSE(again->variables_changed);
    CHECK(again->files_written == 0);

    // New variables rewrite only terraform.tfvars.json.
    auto vars = m.Materialize(Ws("dev-env", R"({"size":"large"})"), *t);
    REQUIRE_OK(vars);
    CHECK_FALSE(vars->template_changed);
    CHECK(vars->variables_changed);
    CHECK(ReadFileOrDie(dir + "/terraform.tfvars.json") == "{\"size\":\"large\"}\n");

    // A template change rewrites changed files, removes dropped ones, and
    // never touches tofu's files.
    WriteFileOrDie(f.templates + "/web/main.tf", "# v2\n");
    REQUIRE(::unlink((f.templates + "/web/outputs.tf").c_str()) == 0);
    WriteFileOrDie(f.templates + "/web/.terraform.lock.hcl", "# template's");
    auto t2 = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t2);
    auto r2 = m.Materialize(Ws("dev-env", R"({"size":"large"})"), *t2);
    REQUIRE_OK(r2);
    CHECK(r2->template_changed);
    CHECK(r2->files_written == 1);
    CHECK(r2->files_removed == 1);
    CHECK(ReadFileOrDie(dir + "/main.tf") == "# v2\n");
    CHECK(f.fs.Stat(dir + "/outputs.tf").status().IsNotFound());
    CHECK(ReadFileOrDie(dir + "/terraform.tfstate") == "{\"serial\":7}");
    CHECK(ReadFileOrDie(dir + "/.terraform/providers") == "cache");
    CHECK(ReadFileOrDie(dir + "/.terraform.lock.hcl") == "# tofu's");
  }

  TEST_CASE("workspace: a template lock file seeds a new workspace only") {
    Fixture f;
    WriteFileOrDie(f.templates + "/web/.terraform.lock.hcl", "# pinned");
    Materializer m(f.fs, f.state);
    auto t = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t);
    REQUIRE_OK(m.Materialize(Ws("a"), *t));
    CHECK(ReadFileOrDie(f.state + "/workspaces/a/.terraform.lock.hcl") == "# pinned");
  }

  TEST_CASE("workspace: names cannot escape state.dir") {
    Fixture f;
    Materializer m(f.fs, f.state);
    auto t = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t);
    for (const char* bad : {"..", "../etc", "a/b", "", "/abs", ".hidden", "UPPER"}) {
      CAPTURE(bad);
      CHECK(m.Materialize(Ws(bad), *t).status().IsInvalidArgument());
      CHECK_FALSE(m.WorkspaceDir(bad).ok());
    }
    CHECK(f.fs.Stat(f.tmp.Join("etc")).status().IsNotFound());
  }

  TEST_CASE("workspace: a tampered manifest cannot make Materialize delete outside") {
    Fixture f;
    Materializer m(f.fs, f.state);
    auto t = LoadTemplate(f.fs, f.templates, "web");
    REQUIRE_OK(t);
    REQUIRE_OK(m.Materialize(Ws("a"), *t));
    WriteFileOrDie(f.tmp.Join("victim"), "keep me");
    WriteFileOrDie(f.state + "/workspaces/a/.provisioner-manifest",
                   "provisioner-manifest 1\ntemplate web old\nfile ../../../victim\nfile "
                   "/etc/hostname\nfile terraform.tfstate\n");
    WriteFileOrDie(f.state + "/workspaces/a/terraform.tfstate", "state");
    REQUIRE_OK(m.Materialize(Ws("a"), *t));
    CHECK(ReadFileOrDie(f.tmp.Join("victim")) == "keep me");
    CHECK(ReadFileOrDie(f.state + "/workspaces/a/terraform.tfstate") == "state");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::workspace
