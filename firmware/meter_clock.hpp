#pragma once
// The meter's clock: host UTC time, optionally running faster for scenarios that replay a
// day in minutes. With acceleration 1 it is the host clock.

#include <chrono>

namespace meterd {

class MeterClock {
 public:
  explicit MeterClock(double acceleration = 1.0)
      : acceleration_(acceleration), wall_start_(wall_now()), meter_start_(wall_start_) {}

  double now() const { return meter_start_ + (wall_now() - wall_start_) * acceleration_; }
  double acceleration() const { return acceleration_; }
  // Sets the meter's clock (a time sync); it runs on from there at the same rate.
  void set(double unix_time) {
    wall_start_ = wall_now();
    meter_start_ = unix_time;
  }
  // Meter time minus host time: what a restart must restore to keep the set time.
  double offset_from_host() const { return now() - wall_now(); }

  static double wall_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

 private:
  double acceleration_;
  double wall_start_;
  double meter_start_;
};

}  // namespace meterd
