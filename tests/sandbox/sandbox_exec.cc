// sandbox_exec: runs a command under the parts of provisioner.service's
// sandbox that a test harness can apply without a systemd manager, so that
// the daemon and a real Terraform can be checked under them
// (tests/integration/terraform_test.cc). As root:
//
//   sandbox_exec --syscalls FILE --user UID:GID [--bind-ro PATH]... [--bind PATH]...
//                -- COMMAND ARGS...
//
// What it applies, in the way systemd 252 applies each directive:
//   PrivateTmp=yes            a private tmpfs on /tmp and /var/tmp
//   ProtectSystem=strict      every mount read-only, except /proc, /sys, /dev
//                             and the --bind paths (StateDirectory= and the like)
//   User=, Group=             the UID and GID, no supplementary groups
//   CapabilityBoundingSet=    an empty bounding set; the UID change drops the rest
//   NoNewPrivileges=yes
//   SystemCallFilter=         FILE: the syscalls allowed, one name per line (the
//     + SystemCallErrorNumber=EPERM   test expands @system-service minus
//                             @privileged and @resources with systemd-analyze);
//                             every other call fails with EPERM
//   SystemCallArchitectures=native    other architectures are killed
//   RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
//                             socket() of another family fails with EAFNOSUPPORT
//   MemoryDenyWriteExecute=yes  mmap W+X, mprotect/pkey_mprotect adding X and
//                             shmat(SHM_EXEC) fail with EPERM
//   RestrictNamespaces=yes    unshare/clone with namespace flags and setns fail
//                             with EPERM; clone3 fails with ENOSYS (glibc then
//                             falls back to clone), as systemd does
// Not applied: PrivateDevices, PrivateUsers, ProtectHome, ProtectProc,
// ProtectKernel*, ProtectControlGroups, ProtectClock, ProtectHostname,
// RestrictRealtime, RestrictSUIDSGID, LockPersonality, RemoveIPC, UMask.
//
// --bind-ro and --bind paths stay reachable inside the private /tmp: they
// are bind-mounted back after it is mounted, read-only or writable.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sandbox_exec: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(125);
}

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(stderr,
               "sandbox_exec: %s\nusage: sandbox_exec --syscalls FILE --user UID:GID "
               "[--bind-ro PATH]... [--bind PATH]... -- COMMAND ARGS...\n",
               problem.c_str());
  std::exit(2);
}

struct Bind {
  std::string path;
  bool writable = false;
  int fd = -1;  // O_PATH, opened before /tmp is replaced
};

void MkdirAll(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const std::string part = path.substr(0, i);
      if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) Die("mkdir " + part);
    }
  }
}

// Mount points from /proc/self/mountinfo with their per-mount flags.
struct MountPoint {
  std::string path;
  unsigned long flags = 0;  // MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME...
};

std::vector<MountPoint> Mounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<MountPoint> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, options;
    fields >> id >> parent >> dev >> root >> point >> options;
    MountPoint m;
    // Octal escapes (\040 for a space) in the mount point.
    for (size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        m.path += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        m.path += point[i];
      }
    }
    std::istringstream opts(options);
    std::string o;
    while (std::getline(opts, o, ',')) {
      if (o == "nosuid") m.flags |= MS_NOSUID;
      if (o == "nodev") m.flags |= MS_NODEV;
      if (o == "noexec") m.flags |= MS_NOEXEC;
      if (o == "noatime") m.flags |= MS_NOATIME;
      if (o == "nodiratime") m.flags |= MS_NODIRATIME;
      if (o == "relatime") m.flags |= MS_RELATIME;
    }
    out.push_back(std::move(m));
  }
  return out;
}

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         (dir == "/" || path[dir.size()] == '/'));
}

void SetUpMounts(std::vector<Bind>& binds) {
  if (::unshare(CLONE_NEWNS) != 0) Die("unshare(CLONE_NEWNS)");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Die("make / private");
  for (Bind& b : binds) {
    b.fd = ::open(b.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (b.fd < 0) Die("open " + b.path);
  }
  // PrivateTmp=yes
  for (const char* tmp : {"/tmp", "/var/tmp"}) {
    if (::mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
      Die(std::string("mount tmpfs on ") + tmp);
    }
  }
  // The bound paths, back in place (the first ones under /tmp are gone).
  for (const Bind& b : binds) {
    MkdirAll(b.path);
    const std::string source = "/proc/self/fd/" + std::to_string(b.fd);
    if (::mount(source.c_str(), b.path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      Die("bind " + b.path);
    }
    ::close(b.fd);
  }
  // ProtectSystem=strict: everything read-only but the API file systems,
  // the private /tmp (PrivateTmp implies it writable) and the writable binds.
  const std::vector<std::string> keep = {"/proc", "/sys", "/dev", "/tmp", "/var/tmp"};
  auto under_bind = [&](const std::string& path, bool writable) {
    return std::any_of(binds.begin(), binds.end(), [&](const Bind& b) {
      return b.writable == writable && Under(path, b.path);
    });
  };
  for (const MountPoint& m : Mounts()) {
    if (under_bind(m.path, /*writable=*/true)) continue;
    const bool kept = std::any_of(keep.begin(), keep.end(),
                                  [&](const std::string& k) { return Under(m.path, k); });
    if (kept && !under_bind(m.path, /*writable=*/false)) continue;
    if (::mount(nullptr, m.path.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | m.flags,
                nullptr) != 0) {
      Die("remount read-only " + m.path);
    }
  }
}

void DropPrivileges(uid_t uid, gid_t gid) {
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) Die("drop capability");
  }
  if (::setgroups(0, nullptr) != 0) Die("setgroups");
  if (::setresgid(gid, gid, gid) != 0) Die("setresgid");
  if (::setresuid(uid, uid, uid) != 0) Die("setresuid");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die("PR_SET_NO_NEW_PRIVS");
}

void Check(int rc, const std::string& what) {
  if (rc < 0) {
    errno = -rc;
    Die(what);
  }
}

// The syscall names in `file`, one per line; read before the mounts hide it.
std::vector<std::string> ReadNames(const std::string& file) {
  std::ifstream in(file);
  if (!in) Usage("cannot read " + file);
  std::vector<std::string> names;
  std::string name;
  while (in >> name) names.push_back(name);
  return names;
}

// SystemCallFilter= with SystemCallErrorNumber=EPERM, and
// SystemCallArchitectures=native (libseccomp's default: only the native
// architecture, others killed).
void AllowList(const std::vector<std::string>& names) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (ctx == nullptr) Die("seccomp_init");
  int allowed = 0;
  for (const std::string& name : names) {
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture, as systemd skips it
    Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), "allow " + name);
    ++allowed;
  }
  if (allowed < 100) Usage("the list allows only " + std::to_string(allowed) + " syscalls");
  Check(seccomp_load(ctx), "load the allow list");
  seccomp_release(ctx);
}

// RestrictAddressFamilies=, MemoryDenyWriteExecute=, RestrictNamespaces=:
// a second filter, as systemd installs one per directive. The kernel runs
// every filter and the strictest verdict wins.
void Restrictions() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) Die("seccomp_init");
  const auto refuse = SCMP_ACT_ERRNO(EAFNOSUPPORT);
  for (int family = 0; family < AF_MAX; ++family) {
    if (family == AF_UNIX || family == AF_INET || family == AF_INET6) continue;
    Check(seccomp_rule_add(ctx, refuse, SCMP_SYS(socket), 1,
                           SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family), 0)),
          "socket family");
  }
  Check(seccomp_rule_add(ctx, refuse, SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_GE, static_cast<scmp_datum_t>(AF_MAX), 0)),
        "socket families");

  const auto eperm = SCMP_ACT_ERRNO(EPERM);
  const scmp_datum_t wx = PROT_WRITE | PROT_EXEC;
  Check(seccomp_rule_add(ctx, eperm, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, wx, wx)),
        "mmap W+X");
  Check(seccomp_rule_add(ctx, eperm, SCMP_SYS(mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)),
        "mprotect X");
  Check(seccomp_rule_add(ctx, eperm, SCMP_SYS(pkey_mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)),
        "pkey_mprotect X");
  Check(seccomp_rule_add(ctx, eperm, SCMP_SYS(shmat), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC)),
        "shmat X");

  const scmp_datum_t namespaces[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                     CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};
  for (scmp_datum_t flag : namespaces) {
    Check(
        seccomp_rule_add(ctx, eperm, SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
        "unshare");
    Check(seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
          "clone");
  }
  Check(seccomp_rule_add(ctx, eperm, SCMP_SYS(setns), 0), "setns");
  Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
  Check(seccomp_load(ctx), "load the restrictions");
  seccomp_release(ctx);
}

}  // namespace

int main(int argc, char** argv) {
  std::string syscalls;
  long uid = -1;
  long gid = -1;
  std::vector<Bind> binds;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) Usage(arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--syscalls") {
      syscalls = value;
    } else if (arg == "--user") {
      if (std::sscanf(value.c_str(), "%ld:%ld", &uid, &gid) != 2 || uid <= 0 || gid <= 0) {
        Usage("--user wants UID:GID, not root");
      }
    } else if (arg == "--bind" || arg == "--bind-ro") {
      if (value.empty() || value[0] != '/') Usage(arg + " wants an absolute path");
      binds.push_back(Bind{value, arg == "--bind"});
    } else {
      Usage("unknown option " + arg);
    }
  }
  if (i >= argc) Usage("no command");
  if (syscalls.empty() || uid < 0) Usage("--syscalls and --user are required");
  // Read-only binds first: a writable one inside a read-only one stays
  // writable, as StateDirectory= inside ProtectSystem=strict does.
  std::stable_sort(binds.begin(), binds.end(),
                   [](const Bind& a, const Bind& b) { return !a.writable && b.writable; });

  const std::vector<std::string> allowed = ReadNames(syscalls);
  SetUpMounts(binds);
  // The seccomp filters last but one: the allow list blocks the mounts and
  // the identity changes above.
  DropPrivileges(static_cast<uid_t>(uid), static_cast<gid_t>(gid));
  Restrictions();
  AllowList(allowed);
  ::execv(argv[i], argv + i);
  Die(std::string("exec ") + argv[i]);
}
