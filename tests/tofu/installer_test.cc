// The binary installer against a release served on loopback by the test.
#include "tofu/installer.h"

#include <archive.h>
#include <archive_entry.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "http/http_client.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "platform/posix_process_runner.h"
#include "platform/sha256.h"
#include "support/faulty_file_system.h"
#include "support/test_util.h"

namespace provisioner::tofu {
namespace {

using testing::TempDir;

// A stand-in `tofu` that answers `version -json` like the real one.
std::string FakeBinary(const std::string& version) {
  return "#!/bin/sh\nif [ \"$1\" = version ]; then\n  printf '{\\n  \"terraform_version\": \"" +
         version +
         "\",\\n  \"platform\": \"linux_amd64\",\\n  \"provider_selections\": {}\\n}\\n'\nfi\n";
}

// An archive in memory holding `tofu` (and a LICENSE, as goreleaser does).
std::string MakeArchive(const std::string& binary, bool zip) {
  struct archive* a = archive_write_new();
  if (zip) {
    archive_write_set_format_zip(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
  }
  std::string out(4 << 20, '\0');
  size_t used = 0;
  REQUIRE(archive_write_open_memory(a, out.data(), out.size(), &used) == ARCHIVE_OK);
  for (auto [name, content, mode] :
       {std::tuple<const char*, std::string, int>{"LICENSE", "MPL-2.0\n", 0644},
        {"tofu", binary, 0755}}) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, content.data(), content.size()) ==
            static_cast<la_ssize_t>(content.size()));
    archive_entry_free(e);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  out.resize(used);
  return out;
}

// Serves files by path on 127.0.0.1, counting requests.
class ReleaseServer {
 public:
  ReleaseServer() {
    server_.Get(R"(/(.*))", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      auto it = files.find(req.path);
      if (it == files.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~ReleaseServer() {
    server_.stop();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/download"; }

  // Publishes release `version` with `archive` under `name` and a sums file
  // that lists `listed_digest` for it.
  void Publish(const std::string& version, const std::string& name, const std::string& archive,
               const std::string& listed_digest) {
    const std::string dir = "/download/v" + version + "/";
    files[dir + name] = archive;
    files[dir + "tofu_" + version + "_SHA256SUMS"] +=
        "0000000000000000000000000000000000000000000000000000000000000000  tofu_" + version +
        "_1.deb\n" + listed_digest + "  " + name + "\n";
  }

  std::map<std::string, std::string> files;
  std::atomic<int> requests{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

struct Fixture {
  TempDir tmp;
  platform::PosixClock clock;
  platform::PosixFileSystem fs;
  platform::PosixProcessRunner runner{clock};
  http::HttplibClient http;
  ReleaseServer server;

  InstallRequest Request(const std::string& version = "1.12.6") {
    InstallRequest r;
    r.version = version;
    r.base_url = server.base();
    r.install_root = tmp.Join("tofu");
    r.arch = "amd64";
    r.env = {{"PATH", "/usr/bin:/bin"}};
    return r;
  }
};

TEST_SUITE("tofu") {
  TEST_CASE("tofu: installer downloads, verifies, installs atomically, and reuses") {
    // Given a release on the (loopback) download site,
    Fixture f;
    const std::string zip = MakeArchive(FakeBinary("1.12.6"), true);
    f.server.Publish("1.12.6", "tofu_1.12.6_linux_amd64.zip", zip, platform::Sha256Hex(zip));
    Installer installer(f.http, f.fs, f.runner);
    // when the binary is missing,
    auto r = installer.EnsureInstalled(f.Request());
    // then it is downloaded, verified and installed under install_root/<v>/.
    REQUIRE_OK(r);
    CHECK(r->downloaded);
    CHECK(r->binary == f.tmp.Join("tofu/1.12.6/tofu"));
    CHECK(r->archive == "tofu_1.12.6_linux_amd64.zip");
    CHECK(r->sha256 == platform::Sha256Hex(zip));
    CHECK((f.fs.Stat(r->binary)->mode & 0111) != 0);
    auto entries = f.fs.ListDir(f.tmp.Join("tofu"));
    REQUIRE_OK(entries);
    CHECK(entries->size() == 1);  // no temp directory left
    // A second call finds it intact and downloads nothing.
    const int before = f.server.requests;
    auto again = installer.EnsureInstalled(f.Request());
    REQUIRE_OK(again);
    CHECK_FALSE(again->downloaded);
    CHECK(f.server.requests == before);
    // A binary changed on disk is noticed and replaced.
    testing::WriteFileOrDie(r->binary, "#!/bin/sh\necho tampered\n");
    auto repaired = installer.EnsureInstalled(f.Request());
    REQUIRE_OK(repaired);
    CHECK(repaired->downloaded);
    CHECK(testing::ReadFileOrDie(r->binary) == FakeBinary("1.12.6"));
  }

  TEST_CASE("tofu: installer refuses a tampered archive and installs nothing") {
    Fixture f;
    const std::string good = MakeArchive(FakeBinary("1.12.6"), true);
    const std::string evil = MakeArchive("#!/bin/sh\necho pwned\n", true);
    f.server.Publish("1.12.6", "tofu_1.12.6_linux_amd64.zip", evil, platform::Sha256Hex(good));
    Installer installer(f.http, f.fs, f.runner);
    auto r = installer.EnsureInstalled(f.Request());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsCorruption());
    CHECK(r.status().message().starts_with("checksum mismatch for tofu_1.12.6_linux_amd64.zip"));
    CHECK(r.status().message().ends_with("refusing to install it"));
    CHECK(f.fs.Stat(f.tmp.Join("tofu")).status().IsNotFound());
  }

  TEST_CASE("tofu: installer uses the tar.gz when the sums list only that") {
    Fixture f;
    const std::string tgz = MakeArchive(FakeBinary("1.12.6"), false);
    f.server.Publish("1.12.6", "tofu_1.12.6_linux_amd64.tar.gz", tgz, platform::Sha256Hex(tgz));
    Installer installer(f.http, f.fs, f.runner);
    auto r = installer.EnsureInstalled(f.Request());
    REQUIRE_OK(r);
    CHECK(r->archive == "tofu_1.12.6_linux_amd64.tar.gz");
  }

  TEST_CASE("tofu: installer errors say not found, network down, disk full, wrong version") {
    Fixture f;
    Installer installer(f.http, f.fs, f.runner);
    auto missing = installer.EnsureInstalled(f.Request("9.9.9"));
    CHECK(missing.status().IsNotFound());
    CHECK(missing.status().message().find("tofu_9.9.9_SHA256SUMS (HTTP 404)") != std::string::npos);

    const std::string zip = MakeArchive(FakeBinary("1.12.6"), true);
    f.server.Publish("1.12.6", "tofu_1.12.6_linux_amd64.zip", zip, platform::Sha256Hex(zip));
    InstallRequest arm = f.Request();
    arm.arch = "arm64";
    CHECK(installer.EnsureInstalled(arm).status().message() ==
          "release 1.12.6 has no linux_arm64 archive in its SHA256SUMS");

    InstallRequest down = f.Request();
    down.base_url = "http://127.0.0.1:1/download";  // nothing listens on port 1
    auto offline = installer.EnsureInstalled(down);
    CHECK(offline.status().IsUnavailable());
    CHECK(offline.status().message().find("(network down?)") != std::string::npos);

    testing::FaultyFileSystem full(f.fs);
    full.FailOn(testing::FaultyFileSystem::Op::kWrite, 1,
                Status::ResourceExhausted("write", "No space left on device"));
    Installer on_full_disk(f.http, full, f.runner);
    auto no_space = on_full_disk.EnsureInstalled(f.Request());
    CHECK(no_space.status().code() == Status::Code::kResourceExhausted);
    CHECK(no_space.status().message().find("disk full") != std::string::npos);

    TempDir other;
    const std::string liar = MakeArchive(FakeBinary("1.11.0"), true);
    f.server.files.clear();
    f.server.Publish("1.12.6", "tofu_1.12.6_linux_amd64.zip", liar, platform::Sha256Hex(liar));
    InstallRequest wrong = f.Request();
    wrong.install_root = other.Join("tofu");
    auto mismatch = installer.EnsureInstalled(wrong);
    CHECK(mismatch.status().code() == Status::Code::kFailedPrecondition);
    CHECK(mismatch.status().message().find("reports version 1.11.0, expected 1.12.6") !=
          std::string::npos);
    CHECK(f.fs.Stat(other.Join("tofu/1.12.6")).status().IsNotFound());
  }

  TEST_CASE("tofu: FindChecksum and ExtractEntry") {
    const std::string digest(64, 'a');
    CHECK(*FindChecksum(digest + "  tofu_1.12.6_linux_amd64.zip\n",
                        "tofu_1.12.6_linux_amd64.zip") == digest);
    CHECK(*FindChecksum(std::string(64, 'B') + " *x.zip\n", "x.zip") == std::string(64, 'b'));
    CHECK(FindChecksum("abc  x.zip\n", "x.zip").status().IsCorruption());
    CHECK(FindChecksum(digest + "  y.zip\n", "x.zip").status().IsNotFound());
    const std::string zip = MakeArchive("binary", true);
    CHECK(*ExtractEntry(zip, "tofu", 1 << 20) == "binary");
    CHECK(ExtractEntry(zip, "nope", 1 << 20).status().IsNotFound());
    CHECK(ExtractEntry(zip, "tofu", 3).status().code() == Status::Code::kResourceExhausted);
    CHECK(ExtractEntry("not an archive at all", "tofu", 1 << 20).status().IsCorruption());
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::tofu
