// A real PostgreSQL (Debian's postgresql-15) for the HA tests: a fresh
// cluster in a temp dir, on 127.0.0.1 and a free port, with fsync off.
//
// initdb refuses to run as root, and CI runs as root: then every server
// command runs as the `postgres` user (runuser), which owns the temp dir.
// Header-only, like prometheus_server.h; only tests use it.
#pragma once

#include <doctest/doctest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/fake_tofu_env.h"
#include "support/prometheus_server.h"
#include "support/test_util.h"

namespace provisioner::testing {

inline constexpr const char* kPostgresBinDir = "/usr/lib/postgresql/15/bin";

class PostgresServer {
 public:
  // A running server, or nullptr after ToolMissing (skipped, or failed under
  // PROVISIONER_REQUIRE_TOOLS) when postgresql-15 is not installed.
  static std::unique_ptr<PostgresServer> StartOrSkip() {
    if (ExecutableMissing(Bin("initdb")) || ExecutableMissing(Bin("pg_ctl"))) return nullptr;
    auto server = std::unique_ptr<PostgresServer>(new PostgresServer());
    if (!server->Init()) return nullptr;
    for (int attempt = 0; attempt < 5; ++attempt) {
      server->port_ = FreeLoopbackPort();
      if (server->Start()) return server;
      MESSAGE("PostgreSQL did not start on port " << server->port_ << "; retrying on another");
    }
    FAIL("PostgreSQL did not start; its log:\n" << server->Log());
    return nullptr;
  }

  ~PostgresServer() {
    if (running_) (void)Ctl({"stop", "-m", "immediate"});
  }

  int port() const { return port_; }
  // What a node would hold in its ha.dsn_file.
  std::string dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=prov dbname=postgres";
  }

  // pg_ctl stop / start on the same port and data; false (with the log
  // printed) when pg_ctl failed.
  bool Stop(const std::string& mode = "fast") {
    ProcessResult r = Ctl({"stop", "-m", mode});
    running_ = r.exit_code != 0 && running_;
    if (r.exit_code != 0) MESSAGE("pg_ctl stop: " << r.out << r.err);
    return r.exit_code == 0;
  }
  bool Start() {
    // fsync off: only an OS crash could lose what the server wrote, and the
    // tests crash the server, never the OS. synchronous_commit stays on: off,
    // `pg_ctl stop -m immediate` loses the last commits (seen: a table created
    // just before the crash was gone after it).
    const std::string options =
        "-c port=" + std::to_string(port_) +
        " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" + dir_.path() +
        " -c fsync=off -c full_page_writes=off -c max_connections=40";
    ProcessResult r =
        Ctl({"start", "-w", "-t", "30", "-l", dir_.Join("server.log"), "-o", options});
    running_ = r.exit_code == 0;
    return running_;
  }
  // pg_ctl restart -m immediate: a crash of the server, then recovery.
  bool RestartImmediate() { return Stop("immediate") && Start(); }

  std::string Log() const {
    struct stat st;
    if (::stat(dir_.Join("server.log").c_str(), &st) != 0) return "(no server.log)";
    return ReadFileOrDie(dir_.Join("server.log"));
  }

 private:
  PostgresServer() = default;

  static std::string Bin(const char* name) { return std::string(kPostgresBinDir) + "/" + name; }

  // argv, run as `postgres` when this process is root.
  std::vector<std::string> AsOwner(std::vector<std::string> argv) const {
    if (::geteuid() != 0) return argv;
    std::vector<std::string> out = {"/usr/sbin/runuser", "-u", "postgres", "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

  ProcessResult Run(std::vector<std::string> argv) const {
    return RunProcess(AsOwner(std::move(argv)),
                      {{"PATH", "/usr/bin:/bin"}, {"LC_ALL", "C"}, {"TZ", "UTC"}}, dir_.path(),
                      std::chrono::seconds(60));
  }

  ProcessResult Ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv = {Bin("pg_ctl"), "-D", dir_.Join("data")};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(std::move(argv));
  }

  bool Init() {
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) {
        (void)ToolMissing("the postgres user (from postgresql-15) to run the server as");
        return false;
      }
      REQUIRE(::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) == 0);
    }
    ProcessResult r = Run({Bin("initdb"), "-D", dir_.Join("data"), "-U", "prov", "-A", "trust",
                           "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"});
    if (r.exit_code != 0) FAIL("initdb failed (" << r.exit_code << "):\n" << r.out << r.err);
    return r.exit_code == 0;
  }

  TempDir dir_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace provisioner::testing
