#pragma once
// A scenario describes what the virtual meter measures: the supply (wiring, nominal
// voltage and frequency), the load (current, power factor, a daily profile), imperfections
// (noise, harmonics) and timed disturbances (sags, swells, outages, frequency excursions).
// The format is documented in man/meter-scenario.5.scd; this file is its parser.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/model/yaml_document.hpp"
#include "libproto/result.hpp"

namespace meterd::simulation {

inline constexpr std::string_view k_scenario_api_version = "meterctl/v1";
inline constexpr std::string_view k_scenario_kind = "Scenario";

// Limits. They catch typos and unit mix-ups (kV for V, mA for A) and bound the work the
// engine does per step; they are not the ratings of a real meter.
inline constexpr std::size_t k_max_scenario_name_length = 64;
inline constexpr std::size_t k_max_description_length = 4096;
inline constexpr double k_min_nominal_voltage = 1.0;          // volts
inline constexpr double k_max_nominal_voltage = 1'000'000.0;  // volts, a PT primary at most
inline constexpr double k_max_nominal_current = 100'000.0;    // amps, a CT primary at most
// Power systems run at 50 or 60 Hz (IEC 60038); 400 Hz aircraft supplies are out of scope.
inline constexpr double k_min_frequency_hz = 40.0;
inline constexpr double k_max_frequency_hz = 70.0;
inline constexpr double k_max_phase_imbalance_pct = 50.0;
inline constexpr double k_max_voltage_thd_pct = 50.0;
// Rectifier loads draw currents whose THD exceeds 100 %.
inline constexpr double k_max_current_thd_pct = 300.0;
inline constexpr double k_max_voltage_noise_pct = 10.0;
inline constexpr double k_max_current_noise_pct = 50.0;
inline constexpr double k_max_frequency_noise_hz = 1.0;
inline constexpr double k_max_thd_noise_pct = 50.0;
inline constexpr double k_min_noise_period_s = 0.1;
inline constexpr double k_max_noise_period_s = 3600.0;
// A day of meter time per wall-clock second is the fastest a meter fleet is meant to run.
inline constexpr double k_min_time_acceleration = 1.0;
inline constexpr double k_max_time_acceleration = 86'400.0;
// UTC-12 (Baker Island) to UTC+14 (Line Islands) are the offsets in use.
inline constexpr double k_min_utc_offset_hours = -12.0;
inline constexpr double k_max_utc_offset_hours = 14.0;
// Export may be up to twice nominal current, import up to twice nominal (an overload).
inline constexpr double k_min_load_factor = -2.0;
inline constexpr double k_max_load_factor = 2.0;
// Profile times have minute resolution (HH:MM), so a day holds at most 1440 distinct points.
inline constexpr std::size_t k_max_profile_points = 24 * 60;
inline constexpr std::size_t k_max_events = 1000;
inline constexpr double k_seconds_per_day = 86'400.0;
// Event offsets, durations and the repeat period: up to a leap year.
inline constexpr double k_max_event_time_s = 366.0 * k_seconds_per_day;
// A sag (dip) leaves some residual voltage (IEC 61000-4-30, 5.4: a dip is below 90 % of the
// declared voltage); zero residual voltage is an outage. A swell above 200 % is a fault.
inline constexpr double k_min_sag_pct = 1.0;
inline constexpr double k_max_swell_pct = 200.0;
inline constexpr double k_max_frequency_deviation_hz = 10.0;

enum class Wiring {
  wye,    // 4-wire wye: three phases and a neutral
  delta,  // 3-wire delta: no neutral, only line-to-line voltages are measured
};

enum class PowerFactorSense {
  lagging,  // inductive load: current lags voltage, Q > 0 on import
  leading,  // capacitive load: current leads voltage, Q < 0 on import
};

struct Nominal {
  // Phase voltage. For delta wiring this is the voltage of the equivalent star
  // (voltage_ll / sqrt 3), which the engine uses internally; the meter never reports it.
  double voltage_ln = 230.0;
  double voltage_ll = 398.37;  // always sqrt(3) * voltage_ln
  double frequency_hz = 50.0;
  double current = 40.0;       // amps per phase at load factor 1.0
  double power_factor = 0.95;  // magnitude, 0..1
  PowerFactorSense power_factor_sense = PowerFactorSense::lagging;
  // Phase a carries (1 + p/100) of the current, phase b 1, phase c (1 - p/100): the
  // average stays nominal and the neutral carries sqrt(3) * p/100 of it.
  double phase_imbalance_pct = 0.0;
};

struct Harmonics {
  double voltage_thd_pct = 0.0;
  double current_thd_pct = 0.0;
};

// Standard deviations of zero-mean noise; 0 disables that noise. The noise holds its value
// for period_s seconds of meter time, like a meter that refreshes once per period.
struct Noise {
  double voltage_pct = 0.0;    // of the voltage
  double current_pct = 0.0;    // of the current
  double frequency_hz = 0.0;   // absolute
  double thd_pct = 0.0;        // of the THD values (relative jitter)
  double period_s = 1.0;
};

struct ProfilePoint {
  double second_of_day = 0.0;  // 0 .. 86340, minute resolution
  double load = 1.0;           // fraction of nominal current; negative exports
};

enum class EventType {
  sag,        // voltage to magnitude_pct of nominal on the given phases
  swell,      // voltage to magnitude_pct of nominal on the given phases
  outage,     // voltage and current zero on the given phases
  frequency,  // frequency shifted by deviation_hz (the whole system)
};

struct Event {
  double start_s = 0.0;     // seconds after the scenario start (or the repeat period start)
  double duration_s = 0.0;  // > 0
  EventType type = EventType::sag;
  std::array<bool, 3> phases{};  // a, b, c; all false for frequency events
  double magnitude_pct = 100.0;  // sag and swell
  double deviation_hz = 0.0;     // frequency

  double end_s() const { return start_s + duration_s; }
};

struct Scenario {
  std::string name;
  std::string description;
  Wiring wiring = Wiring::wye;
  Nominal nominal;
  Harmonics harmonics;
  Noise noise;
  double time_acceleration = 1.0;  // meter seconds per wall second; applied by the owner
  double utc_offset_hours = 0.0;   // local time of day for the profile = UTC + this
  std::vector<ProfilePoint> load_profile;  // sorted by time, unique; empty = constant 1.0
  std::vector<Event> events;               // sorted by start_s
  double repeat_events_every_s = 0.0;      // 0 = events happen once
};

// Parses and validates a scenario. Every error carries file:line:column and says what to do.
proto::Result<Scenario, proto::model::YamlError> load_scenario(std::string_view yaml_text,
                                                               std::string_view file_name);
proto::Result<Scenario, proto::model::YamlError> load_scenario_file(const std::filesystem::path& path);

// "90", "90s", "1.5m", "2h" -> seconds; nullopt for anything else (negative, empty, other
// units). Exposed for the tests and for tools that accept the same notation.
std::optional<double> parse_duration_seconds(std::string_view text);

// "HH:MM" (00:00 .. 23:59) -> seconds of the day; nullopt for anything else.
std::optional<double> parse_time_of_day_seconds(std::string_view text);

}  // namespace meterd::simulation
