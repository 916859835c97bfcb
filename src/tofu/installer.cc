#include "tofu/installer.h"

#include <archive.h>
#include <archive_entry.h>

#include <random>

#include "base/strings.h"
#include "platform/sha256.h"

namespace provisioner::tofu {
namespace {

using platform::JoinPath;

constexpr uint64_t kMaxArchiveBytes = 512ull << 20;
constexpr uint64_t kMaxBinaryBytes = 512ull << 20;
constexpr uint64_t kMaxSumsBytes = 1ull << 20;

bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Disk-full errors get a plain statement of the cause.
Status Explain(const Status& s, const std::string& what) {
  if (s.code() == Status::Code::kResourceExhausted) {
    return Status::ResourceExhausted(what, "disk full (" + s.message() + ")");
  }
  return s.WithContext(what);
}

}  // namespace

Result<std::string> FindChecksum(std::string_view sums, std::string_view file_name) {
  for (std::string_view line : Split(sums, '\n')) {
    line = Trim(line);
    // "<64 hex><two spaces><name>", or "<hex> *<name>" (binary mode marker).
    size_t space = line.find(' ');
    if (space == std::string_view::npos) continue;
    std::string_view digest = line.substr(0, space);
    std::string_view name = Trim(line.substr(space));
    if (!name.empty() && name.front() == '*') name.remove_prefix(1);
    if (name == file_name) {
      std::string lower = AsciiLower(digest);
      if (!IsHex64(lower)) {
        return Status::Corruption("SHA256SUMS", "malformed digest for " + std::string(file_name));
      }
      return lower;
    }
  }
  return Status::NotFound("SHA256SUMS has no entry for " + std::string(file_name));
}

Result<std::string> ExtractEntry(std::string_view data, std::string_view entry,
                                 uint64_t max_bytes) {
  struct archive* a = archive_read_new();
  if (a == nullptr) return Status::ResourceExhausted("archive_read_new");
  archive_read_support_format_zip(a);
  archive_read_support_format_tar(a);
  archive_read_support_filter_gzip(a);
  struct Closer {
    struct archive* a;
    ~Closer() { archive_read_free(a); }
  } closer{a};
  if (archive_read_open_memory(a, data.data(), data.size()) != ARCHIVE_OK) {
    return Status::Corruption("archive", archive_error_string(a) != nullptr
                                             ? archive_error_string(a)
                                             : "not a zip or tar.gz");
  }
  struct archive_entry* e = nullptr;
  while (true) {
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return Status::Corruption("archive", archive_error_string(a) != nullptr
                                               ? archive_error_string(a)
                                               : "unreadable entry");
    }
    const char* name = archive_entry_pathname(e);
    std::string_view path = name != nullptr ? name : "";
    if (path.starts_with("./")) path.remove_prefix(2);
    if (path != entry || archive_entry_filetype(e) != AE_IFREG) continue;
    if (archive_entry_size_is_set(e) && static_cast<uint64_t>(archive_entry_size(e)) > max_bytes) {
      return Status::ResourceExhausted("archive entry " + std::string(entry), "too large");
    }
    std::string out;
    char buf[65536];
    while (true) {
      la_ssize_t n = archive_read_data(a, buf, sizeof buf);
      if (n < 0) {
        return Status::Corruption(
            "archive entry " + std::string(entry),
            archive_error_string(a) != nullptr ? archive_error_string(a) : "read error");
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > max_bytes) {
        return Status::ResourceExhausted("archive entry " + std::string(entry), "too large");
      }
    }
    return out;
  }
  return Status::NotFound("archive has no file named " + std::string(entry));
}

Installer::Installer(platform::HttpClient& http, platform::FileSystem& fs,
                     platform::ProcessRunner& runner)
    : http_(http), fs_(fs), runner_(runner) {}

Result<std::string> Installer::Fetch(const std::string& url, uint64_t max_bytes) {
  platform::HttpRequest req;
  req.url = url;
  req.max_body_bytes = max_bytes;
  req.timeout = std::chrono::minutes(2);
  auto res = http_.Get(req);
  if (!res.ok()) {
    return Status(res.status()).WithContext("cannot download " + url + " (network down?)");
  }
  if (res->status == 404) return Status::NotFound("not found: " + url + " (HTTP 404)");
  if (res->status != 200) {
    return Status::Unavailable("download " + url, "HTTP " + std::to_string(res->status));
  }
  return std::move(res->body);
}

Status Installer::CheckRuns(const std::string& binary, const InstallRequest& request) {
  platform::ProcessSpec spec;
  spec.argv = {binary, "version", "-json"};
  spec.env = request.env;
  spec.timeout = std::chrono::seconds(30);
  spec.kill_grace = std::chrono::seconds(5);
  spec.collect_with_wait = true;
  ASSIGN_OR_RETURN(platform::RunHandle h, runner_.Start(spec));
  platform::FinishedProcess f = runner_.Wait(h);
  if (f.exit_code != 0) {
    return Status::FailedPrecondition(binary + " version -json",
                                      f.exit_code >= 0
                                          ? "exited with " + std::to_string(f.exit_code)
                                          : "killed by signal " + std::to_string(f.term_signal));
  }
  ASSIGN_OR_RETURN(std::string reported, ParseVersionJson(f.stdout_data));
  if (reported != request.version) {
    return Status::FailedPrecondition(
        binary, "reports version " + reported + ", expected " + request.version);
  }
  return Status::Ok();
}

Result<InstallResult> Installer::EnsureInstalled(const InstallRequest& request) {
  InstallResult result;
  const std::string final_dir = JoinPath(request.install_root, request.version);
  result.binary = JoinPath(final_dir, "tofu");
  const std::string digest_file = result.binary + ".sha256";

  // Already installed and unchanged since?
  auto recorded = fs_.ReadFile(digest_file, 1024);
  auto installed = fs_.ReadFile(result.binary, kMaxBinaryBytes);
  if (recorded.ok() && installed.ok() && Trim(*recorded) == platform::Sha256Hex(*installed)) {
    return result;
  }

  const std::string release = request.base_url + "/v" + request.version;
  const std::string prefix = "tofu_" + request.version;
  ASSIGN_OR_RETURN(std::string sums, Fetch(release + "/" + prefix + "_SHA256SUMS", kMaxSumsBytes));

  // The zip exists for every release; the tar.gz since 1.7.0. Use whichever
  // the sums file lists, the zip first.
  std::string expected;
  for (const char* ext : {".zip", ".tar.gz"}) {
    std::string name = prefix + "_linux_" + request.arch + ext;
    auto digest = FindChecksum(sums, name);
    if (digest.ok()) {
      result.archive = name;
      expected = *digest;
      break;
    }
    if (!digest.status().IsNotFound()) return digest.status();
  }
  if (result.archive.empty()) {
    return Status::NotFound("release " + request.version + " has no linux_" + request.arch +
                            " archive in its SHA256SUMS");
  }
  ASSIGN_OR_RETURN(std::string archive, Fetch(release + "/" + result.archive, kMaxArchiveBytes));
  result.sha256 = platform::Sha256Hex(archive);
  if (result.sha256 != expected) {
    return Status::Corruption("checksum mismatch for " + result.archive,
                              "SHA256SUMS says " + expected + ", the download is " + result.sha256 +
                                  "; refusing to install it");
  }
  ASSIGN_OR_RETURN(std::string binary, ExtractEntry(archive, "tofu", kMaxBinaryBytes));
  archive.clear();
  archive.shrink_to_fit();

  // Build the whole installation in a private directory, then rename it into
  // place: a crash leaves either nothing or a complete, checked install.
  std::random_device rd;
  const std::string tmp_dir =
      JoinPath(request.install_root, "." + request.version + ".tmp-" + std::to_string(rd()));
  RETURN_IF_ERROR(Explain(fs_.CreateDirs(tmp_dir), "create " + tmp_dir));
  auto cleanup = [this, &tmp_dir](Status s) {
    (void)fs_.RemoveAll(tmp_dir);
    return s;
  };
  const std::string tmp_binary = JoinPath(tmp_dir, "tofu");
  Status s = fs_.WriteFile(tmp_binary, binary);
  if (s.ok()) s = fs_.SetPermissions(tmp_binary, 0755);
  if (s.ok()) s = fs_.SyncFile(tmp_binary);
  if (s.ok()) s = fs_.WriteFile(tmp_binary + ".sha256", platform::Sha256Hex(binary) + "\n");
  if (s.ok()) s = fs_.SyncFile(tmp_binary + ".sha256");
  if (!s.ok()) return cleanup(Explain(s, "install tofu " + request.version));
  if (Status runs = CheckRuns(tmp_binary, request); !runs.ok()) return cleanup(runs);

  (void)fs_.RemoveAll(final_dir);  // a damaged earlier install
  if (Status renamed = fs_.Rename(tmp_dir, final_dir); !renamed.ok()) {
    return cleanup(Explain(renamed, "install tofu " + request.version));
  }
  RETURN_IF_ERROR(fs_.SyncDir(request.install_root));
  result.downloaded = true;
  return result;
}

}  // namespace provisioner::tofu
