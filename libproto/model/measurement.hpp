#pragma once
// The meter's data model: one table of measurement points. Everything that publishes
// values (the Modbus register map, later BACnet objects and the native protocol) is
// generated from this table, so a point is added in exactly one place.

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace proto::model {

// X(id, name, unit, description)
#define PROTO_MEASUREMENT_POINTS(X)                                                   \
  X(current_a, "current_a", "A", "Current, phase A")                                  \
  X(current_b, "current_b", "A", "Current, phase B")                                  \
  X(current_c, "current_c", "A", "Current, phase C")                                  \
  X(current_n, "current_n", "A", "Current, neutral")                                  \
  X(current_avg, "current_avg", "A", "Current, average of phases A, B, C")            \
  X(voltage_ab, "voltage_ab", "V", "Voltage, line A to line B")                       \
  X(voltage_bc, "voltage_bc", "V", "Voltage, line B to line C")                       \
  X(voltage_ca, "voltage_ca", "V", "Voltage, line C to line A")                       \
  X(voltage_ll_avg, "voltage_ll_avg", "V", "Voltage, line to line, average")          \
  X(voltage_an, "voltage_an", "V", "Voltage, phase A to neutral")                     \
  X(voltage_bn, "voltage_bn", "V", "Voltage, phase B to neutral")                     \
  X(voltage_cn, "voltage_cn", "V", "Voltage, phase C to neutral")                     \
  X(voltage_ln_avg, "voltage_ln_avg", "V", "Voltage, line to neutral, average")       \
  X(active_power_a, "active_power_a", "kW", "Active power, phase A")                  \
  X(active_power_b, "active_power_b", "kW", "Active power, phase B")                  \
  X(active_power_c, "active_power_c", "kW", "Active power, phase C")                  \
  X(active_power_total, "active_power_total", "kW", "Active power, total")            \
  X(reactive_power_a, "reactive_power_a", "kvar", "Reactive power, phase A")          \
  X(reactive_power_b, "reactive_power_b", "kvar", "Reactive power, phase B")          \
  X(reactive_power_c, "reactive_power_c", "kvar", "Reactive power, phase C")          \
  X(reactive_power_total, "reactive_power_total", "kvar", "Reactive power, total")    \
  X(apparent_power_a, "apparent_power_a", "kVA", "Apparent power, phase A")           \
  X(apparent_power_b, "apparent_power_b", "kVA", "Apparent power, phase B")           \
  X(apparent_power_c, "apparent_power_c", "kVA", "Apparent power, phase C")           \
  X(apparent_power_total, "apparent_power_total", "kVA", "Apparent power, total")     \
  X(power_factor_a, "power_factor_a", "", "Power factor, phase A (signed: - leading)") \
  X(power_factor_b, "power_factor_b", "", "Power factor, phase B (signed: - leading)") \
  X(power_factor_c, "power_factor_c", "", "Power factor, phase C (signed: - leading)") \
  X(power_factor_total, "power_factor_total", "", "Power factor, total (signed: - leading)") \
  X(frequency, "frequency", "Hz", "Frequency")                                        \
  X(voltage_thd_a, "voltage_thd_a", "%", "Voltage total harmonic distortion, phase A") \
  X(voltage_thd_b, "voltage_thd_b", "%", "Voltage total harmonic distortion, phase B") \
  X(voltage_thd_c, "voltage_thd_c", "%", "Voltage total harmonic distortion, phase C") \
  X(current_thd_a, "current_thd_a", "%", "Current total harmonic distortion, phase A") \
  X(current_thd_b, "current_thd_b", "%", "Current total harmonic distortion, phase B") \
  X(current_thd_c, "current_thd_c", "%", "Current total harmonic distortion, phase C") \
  X(active_energy_delivered, "active_energy_delivered", "kWh", "Active energy delivered (imported, into the load)") \
  X(active_energy_received, "active_energy_received", "kWh", "Active energy received (exported, out of the load)") \
  X(reactive_energy_delivered, "reactive_energy_delivered", "kvarh", "Reactive energy delivered (imported)") \
  X(reactive_energy_received, "reactive_energy_received", "kvarh", "Reactive energy received (exported)") \
  X(apparent_energy_delivered, "apparent_energy_delivered", "kVAh", "Apparent energy delivered (imported)") \
  X(apparent_energy_received, "apparent_energy_received", "kVAh", "Apparent energy received (exported)") \
  X(active_power_demand, "active_power_demand", "kW", "Active power demand, sliding window") \
  X(active_power_peak_demand, "active_power_peak_demand", "kW", "Active power demand, peak since last reset") \
  X(reactive_power_demand, "reactive_power_demand", "kvar", "Reactive power demand, sliding window") \
  X(apparent_power_demand, "apparent_power_demand", "kVA", "Apparent power demand, sliding window")

enum class Point : std::size_t {
#define PROTO_POINT_ENUM(id, name, unit, description) id,
  PROTO_MEASUREMENT_POINTS(PROTO_POINT_ENUM)
#undef PROTO_POINT_ENUM
};

inline constexpr std::size_t k_point_count = 0
#define PROTO_POINT_COUNT(id, name, unit, description) +1
    PROTO_MEASUREMENT_POINTS(PROTO_POINT_COUNT)
#undef PROTO_POINT_COUNT
    ;

struct PointInfo {
  Point point;
  std::string_view name;
  std::string_view unit;
  std::string_view description;
};

inline constexpr std::array<PointInfo, k_point_count> k_points = {{
#define PROTO_POINT_INFO(id, name, unit, description) {Point::id, name, unit, description},
    PROTO_MEASUREMENT_POINTS(PROTO_POINT_INFO)
#undef PROTO_POINT_INFO
}};

constexpr const PointInfo& info(Point point) { return k_points[static_cast<std::size_t>(point)]; }

std::optional<Point> find_point(std::string_view name);

// One consistent set of values, in the units of the point table, plus the time it
// belongs to. Produced by the simulation, read by every server.
struct Measurements {
  std::array<double, k_point_count> values{};
  double unix_time = 0.0;               // meter clock, seconds since 1970-01-01 UTC
  double peak_demand_unix_time = 0.0;   // when active_power_peak_demand was reached; 0 if never

  double& operator[](Point point) { return values[static_cast<std::size_t>(point)]; }
  double operator[](Point point) const { return values[static_cast<std::size_t>(point)]; }
};

}  // namespace proto::model
