// Result<T>: a value or the Status that explains why there is none.
//
// Built on std::variant until std::expected (C++23) is available here. A Result
// is never constructed from an OK Status: that would be a value-less success.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/status.h"

namespace provisioner {

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> makes no sense");

 public:
  // Implicit on purpose, so that `return value;` and `return Status::...;` both read naturally.
  Result(T value) : data_(std::in_place_index<0>, std::move(value)) {}        // NOLINT
  Result(Status status) : data_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(data_).ok() && "Result built from an OK Status");
    if (std::get<1>(data_).ok()) {
      std::get<1>(data_) = Status::Internal("Result built from an OK Status");
    }
  }
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, T> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, Result<T>>>>
  Result(U&& value) : data_(std::in_place_index<0>, T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return data_.index() == 0; }

  // The error, or OK when there is a value.
  Status status() const { return ok() ? Status::Ok() : std::get<1>(data_); }

  // Calling these without a value is a bug; they assert.
  T& value() & {
    assert(ok());
    return std::get<0>(data_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(data_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(data_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(data_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Status> data_;
};

}  // namespace provisioner

#define PROV_CONCAT_INNER_(a, b) a##b
#define PROV_CONCAT_(a, b) PROV_CONCAT_INNER_(a, b)

// ASSIGN_OR_RETURN(auto config, LoadConfig(path));
// Evaluates the Result; on error returns its Status from the enclosing
// function, otherwise moves the value into `lhs`.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(PROV_CONCAT_(prov_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
