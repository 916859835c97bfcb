// CaptureSink: a log sink that keeps every record for assertions.
#pragma once

#include <mutex>
#include <string_view>
#include <vector>

#include "base/log.h"

namespace provisioner::testing {

class CaptureSink final : public log::Sink {
 public:
  void Write(const log::Record& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    records_.push_back(record);
  }

  std::vector<log::Record> records() {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }

  // Records whose message contains `needle`.
  std::vector<log::Record> Find(std::string_view needle) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<log::Record> out;
    for (const auto& r : records_) {
      if (r.message.find(needle) != std::string::npos) out.push_back(r);
    }
    return out;
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    records_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<log::Record> records_;
};

}  // namespace provisioner::testing
