// Random bytes from a CSPRNG (OpenSSL's DRBG, else getrandom(2)), for trace
// and span ids. Each thread draws 4 KiB at a time and hands them out, so that
// an id costs a copy rather than a call into the generator. Thread-safe.
#pragma once

#include <cstddef>

#include "base/trace_context.h"

namespace provisioner::platform {

void RandomBytes(void* out, size_t n);

// Never all zero (redrawn when they are, as the W3C spec requires).
TraceId NewTraceId();
SpanId NewSpanId();

}  // namespace provisioner::platform
