#pragma once
// The time source of libsec. libsec reads no clock itself (DESIGN.md, libsec: no I/O;
// STYLE.md, practice 6: an injectable clock), so every deadline it keeps (session idle
// timeouts today, lockout durations later) is measured against a Clock it is handed:
// SteadyClock in meterd, ManualClock in tests, which then need no sleep.

#include <chrono>

namespace sec {

// A monotonic time source. Steady, not system, time: an operator setting the meter's
// wall clock (time sync) must neither expire every session nor keep one alive forever.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;

 protected:
  Clock() = default;
  Clock(const Clock&) = default;
  Clock& operator=(const Clock&) = default;
};

// The production clock: std::chrono::steady_clock.
class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to, for tests. It starts at an arbitrary fixed point
// rather than at the epoch, so code that subtracts durations from now() stays in range.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;
  explicit ManualClock(time_point start) : now_(start) {}

  time_point now() const override { return now_; }
  // Moves the clock forward; a steady clock never goes back, so neither does this one
  // (a negative step is ignored).
  void advance(duration step) {
    if (step > duration::zero()) now_ += step;
  }

 private:
  time_point now_{std::chrono::hours(24)};
};

}  // namespace sec
