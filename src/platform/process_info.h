// Facts about the running process that main() reads once.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "base/result.h"

namespace provisioner::platform {

// The working directory (getcwd).
Result<std::string> CurrentDirectory();

// The whole environment, as a map.
std::map<std::string, std::string> EnvironmentVariables();

// This boot's id (/proc/sys/kernel/random/boot_id, without the newline), or
// "" when it cannot be read. Read once.
const std::string& BootId();

// The host name, for lock owners and logs ("" when unknown).
std::string HostName();

// This process's id (the trace resource's process.pid).
int64_t ProcessId();

// `path` made absolute against the working directory as it is now, with
// empty and "." components dropped ("./a//b" -> "<cwd>/a/b"); ".." stays,
// since removing it is wrong when the part before it is a symlink. An
// absolute `path` is returned as written.
Result<std::string> AbsolutePath(const std::string& path);

// The absolute path of the executable to run for `name`, resolved once so
// that whoever starts it (a child that changes into a workspace first) runs
// the file found here:
//   - a `name` with a '/' is that file, made absolute with AbsolutePath;
//   - a bare `name` is the first executable regular file called `name` in
//     the absolute directories of the ':'-separated `path_var`. Empty and
//     relative entries are skipped (see the .cc).
// NotFound names what was searched.
Result<std::string> FindExecutable(const std::string& name, const std::string& path_var);

// The machine's architecture in Go's naming, as OpenTofu release files use
// it: "amd64", "arm64", "386", "arm"; uname's value when unknown.
std::string GoArch();

// Tunes glibc malloc for a long-running daemon with many idle threads:
//   - at most `arenas` arenas. By default every thread that allocates may
//     get its own (up to 8 per core), and each keeps the high-water mark of
//     whatever ran on it, so a /metrics scrape that lands on a fresh HTTP
//     worker grows the resident set by the size of the scrape;
//   - a fixed mmap threshold (256 KiB) and trim threshold (1 MiB). glibc
//     raises both after the first large free, after which multi-megabyte
//     buffers (a scrape, a state save) come from the heap and their pages
//     stay resident between uses.
// Call before starting threads.
void TuneMallocForDaemon(int arenas);

// SIGPIPE ignored for the process: a write to a closed socket or pipe then
// fails with EPIPE instead of killing it. Children get the default back.
void IgnoreSigpipe();

// Holds SIGPIPE back on the calling thread for its lifetime, whatever the
// process's disposition: a library call that writes to a socket the peer has
// closed then fails with EPIPE instead of killing a process that never
// called IgnoreSigpipe() (a test, a tool embedding the client). A SIGPIPE
// raised meanwhile is consumed before the old mask is restored, so it is
// never delivered late. Blocking leaves the disposition alone.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool blocked_;
};

// Returns free heap pages to the kernel (malloc_trim). For after start-up, a
// reload or a large reply, when the freed memory is not needed again soon.
// A trim walks the whole heap (about 0.2 ms with 10,000 workspaces), so a
// caller on a hot path passes `min_interval`: calls closer than that to the
// previous trim do nothing.
void ReleaseFreeMemory(std::chrono::milliseconds min_interval = std::chrono::milliseconds(0));

}  // namespace provisioner::platform
