// The HttpClient implementation, on cpp-httplib.
#pragma once

#include "platform/http_client.h"

namespace provisioner::http {

// Thread-safe: each call uses its own connection.
class HttplibClient final : public platform::HttpClient {
 public:
  Result<platform::HttpResponse> Get(const platform::HttpRequest& request) override;
  Result<platform::HttpResponse> Post(const platform::HttpRequest& request) override;
};

}  // namespace provisioner::http
