// The web config file (`server.web_config_file`) in the format of
// Prometheus' exporter-toolkit, so that operators reuse what they know:
//
//   tls_server_config:
//     cert_file: /etc/provisioner/tls.crt
//     key_file: /etc/provisioner/tls.key
//     client_auth_type: RequireAndVerifyClientCert   # mTLS
//     client_ca_file: /etc/provisioner/clients-ca.crt
//     min_version: TLS12
//   basic_auth_users:
//     prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//
// Parsed here (the config module owns YAML); enforced by http/.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_parse.h"

namespace provisioner::config {

enum class ClientAuth : uint8_t {
  kNoClientCert,                // NoClientCert (default)
  kRequireAndVerifyClientCert,  // RequireAndVerifyClientCert: mTLS
};

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  std::string client_ca_file;
  // Only TLS 1.2 and 1.3 are accepted; "TLS12" or "TLS13".
  std::string min_version = "TLS12";
};

struct WebConfig {
  bool tls = false;  // tls_server_config present
  TlsConfig tls_config;
  // user -> bcrypt hash
  std::map<std::string, std::string> basic_auth_users;

  bool authenticates() const {
    return !basic_auth_users.empty() ||
           tls_config.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  }
};

struct WebConfigResult {
  WebConfig config;
  std::vector<Diagnostic> errors;  // file:line:col: key: reason, as for the main config
  bool ok() const { return errors.empty(); }
};

// Parses the text of a web config file. Relative paths resolve against
// `base_dir`. Unknown keys are errors. Supported keys: tls_server_config
// (cert_file, key_file, client_auth_type, client_ca_file, min_version) and
// basic_auth_users; http_server_config is accepted with no keys.
WebConfigResult ParseWebConfig(std::string_view text, std::string_view file_name,
                               const std::string& base_dir);

}  // namespace provisioner::config
