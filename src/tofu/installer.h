// The OpenTofu binary installer.
//
// With `opentofu.version` pinned and the binary missing, it downloads
// tofu_<v>_linux_<arch>.zip (or the .tar.gz when a mirror has only that) and
// tofu_<v>_SHA256SUMS from `download_base_url`, verifies the archive's
// SHA-256 against the sums file, extracts `tofu` with libarchive, checks that
// it runs and reports version <v> with `version -json`, and only then moves
// it into place: install_root/<v>/tofu, by renaming a finished directory.
// An archive that does not verify is never extracted, installed or run.
//
// The SHA-256 of the installed binary is recorded next to it; a later call
// re-hashes the binary, so a file changed on disk is noticed and replaced.
//
// Errors name the cause: NotFound (no such release or architecture),
// Corruption (checksum mismatch, a broken archive), Unavailable (network),
// ResourceExhausted (disk full), FailedPrecondition (the binary does not run
// or reports another version).
#pragma once

#include <map>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "platform/file_system.h"
#include "platform/http_client.h"
#include "platform/process_runner.h"

namespace provisioner::tofu {

struct InstallRequest {
  std::string version;       // "1.12.6"
  std::string base_url;      // ".../releases/download", no trailing '/'
  std::string install_root;  // state.dir/tofu
  std::string arch = "amd64";
  // Environment for running `tofu version -json` on the new binary.
  std::map<std::string, std::string> env;
};

struct InstallResult {
  std::string binary;       // install_root/<v>/tofu
  bool downloaded = false;  // false: it was already there and intact
  std::string archive;      // the file name that was fetched
  std::string sha256;       // of the archive
};

class Installer {
 public:
  // Never owns its dependencies.
  Installer(platform::HttpClient& http, platform::FileSystem& fs, platform::ProcessRunner& runner);
  Installer(const Installer&) = delete;
  Installer& operator=(const Installer&) = delete;

  Result<InstallResult> EnsureInstalled(const InstallRequest& request);

 private:
  Result<std::string> Fetch(const std::string& url, uint64_t max_bytes);
  Status CheckRuns(const std::string& binary, const InstallRequest& request);

  platform::HttpClient& http_;
  platform::FileSystem& fs_;
  platform::ProcessRunner& runner_;
};

// The "terraform_version" of `tofu version -json` output.
Result<std::string> ParseVersionJson(std::string_view text);

// The archive's line of a goreleaser SHA256SUMS file: its lowercase hex
// digest, or NotFound.
Result<std::string> FindChecksum(std::string_view sums, std::string_view file_name);

// The bytes of the file named `entry` in a zip or tar.gz held in memory.
Result<std::string> ExtractEntry(std::string_view archive, std::string_view entry,
                                 uint64_t max_bytes);

}  // namespace provisioner::tofu
