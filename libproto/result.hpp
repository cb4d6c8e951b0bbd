#pragma once
// A small expected-style result for API boundaries (std::expected is C++23 and not in
// GCC 12). A Result holds either a value or an error; errors propagate with TRY.

#include <cassert>
#include <utility>
#include <variant>

namespace proto {

template <typename E>
struct Unexpected {
  E error;
};

template <typename E>
Unexpected<std::decay_t<E>> unexpected(E&& error) {
  return {std::forward<E>(error)};
}

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  template <typename F>
  Result(Unexpected<F> error) : storage_(std::in_place_index<1>, E(std::move(error.error))) {}

  bool has_value() const { return storage_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(storage_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(storage_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(storage_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    assert(!has_value());
    return std::get<1>(storage_);
  }

 private:
  std::variant<T, E> storage_;
};

// Result<void, E>: success carries nothing.
struct Ok {};

}  // namespace proto
