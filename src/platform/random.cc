#include "platform/random.h"

#include <openssl/rand.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace provisioner::platform {
namespace {

constexpr size_t kPoolBytes = 4096;

struct Pool {
  unsigned char bytes[kPoolBytes];
  size_t used = kPoolBytes;  // empty until the first draw
};

void Fill(unsigned char* out, size_t n) {
  // OpenSSL's DRBG (NIST SP 800-90A, AES-CTR, seeded and reseeded from the
  // kernel, fork-safe): a CSPRNG about ten times cheaper per byte than
  // getrandom(2), which stays the fallback.
  if (RAND_bytes(out, static_cast<int>(n)) == 1) return;
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // Only ENOSYS (a kernel before 3.17) or EFAULT; ids without entropy
      // would collide across daemons, so refuse to go on.
      std::abort();
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
}

}  // namespace

void RandomBytes(void* out, size_t n) {
  thread_local Pool pool;
  auto* dst = static_cast<unsigned char*>(out);
  while (n > 0) {
    if (pool.used == kPoolBytes) {
      Fill(pool.bytes, kPoolBytes);
      pool.used = 0;
    }
    const size_t take = std::min(n, kPoolBytes - pool.used);
    std::memcpy(dst, pool.bytes + pool.used, take);
    pool.used += take;
    dst += take;
    n -= take;
  }
}

TraceId NewTraceId() {
  TraceId id;
  while (!id.valid()) RandomBytes(&id, sizeof(id));
  return id;
}

SpanId NewSpanId() {
  SpanId id;
  while (!id.valid()) RandomBytes(&id.value, sizeof(id.value));
  return id;
}

}  // namespace provisioner::platform
