// The JSON of the API relay's rows (pg_api_relay.h): a request's path
// parameters and query, as one flat object of strings.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/result.h"

namespace provisioner::coordination {

std::string StringMapToJson(const std::map<std::string, std::string>& m);

// Corruption naming `what` unless `text` is an object whose values are all
// strings.
Result<std::map<std::string, std::string>> StringMapFromJson(std::string_view text,
                                                             const std::string& what);

}  // namespace provisioner::coordination
