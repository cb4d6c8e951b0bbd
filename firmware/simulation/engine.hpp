#pragma once
// The simulation engine: turns a Scenario into the measurements of a three-phase meter at
// any meter time, and integrates energy and demand over meter time.
//
// Determinism. Instantaneous values are a pure function of (scenario, seed, start time, t):
// noise comes from noise.hpp, the load profile from the time of day, events from the time
// since the scenario start. Energy and demand are integrated on a fixed grid of
// k_integration_step_s steps aligned to the scenario start, each step sampled at its
// midpoint, one step at a time; so the accumulators after advance_to(t) are bit-identical
// however the calls were split. Only a jump forward longer than k_max_catch_up_steps, or a
// jump backwards, breaks that (see advance_to).
//
// Conventions (those of a four-quadrant meter, IEC 62053-23 quadrants):
//   - Import (load factor > 0) is P > 0; export (load factor < 0) is P < 0.
//   - Q > 0 for a lagging (inductive) load on import; leading import and lagging export
//     (quadrant III) give Q < 0; leading export gives Q > 0.
//   - Active and apparent energy go to *_delivered on import and to *_received on export;
//     reactive energy goes to delivered when Q > 0 and to received when Q < 0.
//   - Power factor is |P| / S, negative when leading (the IEEE sign convention the point
//     table uses): negative in quadrants II and IV. It is 0 when S is 0.
//   - Phase rotation a-b-c: phase b lags a by 120 degrees, c leads a by 120 degrees.
//   - Delta wiring: the engine works with the equivalent star (virtual neutral). L-N
//     voltages and the neutral current are reported as 0 because a 3-wire meter does not
//     measure them; per-phase powers are those of the equivalent star, and their sum is
//     the true three-phase total.
//   - Sag and swell leave the current unchanged (a constant-current load); overlapping
//     sags and swells multiply; an outage overrides them. Frequency deviations add up.
//   - When all three phases are out the meter has no voltage to measure frequency on and
//     reports 0 Hz. THD is 0 on a phase without voltage (or current).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/simulation/scenario.hpp"
#include "libproto/model/measurement.hpp"
#include "libproto/result.hpp"

namespace meterd::simulation {

// One second of meter time: the resolution at which a real meter accumulates energy, and
// fine enough that the shortest event worth simulating spans several steps.
inline constexpr double k_integration_step_s = 1.0;
// A jump forward longer than this (a state restored from long ago, a clock set far ahead)
// integrates only its last 7 days of meter time and skips the rest, so start-up stays fast.
inline constexpr std::int64_t k_max_catch_up_steps = 7 * 86'400;

// The demand limits of common revenue meters: an interval of up to an hour, split into
// whole seconds, with at most 60 subintervals in the sliding window.
inline constexpr int k_max_demand_interval_minutes = 60;
inline constexpr int k_max_demand_subintervals = 60;

// Sliding-window demand: the window is interval_minutes long and moves every
// interval_minutes / subintervals (a block demand when subintervals is 1).
struct DemandSettings {
  int interval_minutes = 15;
  int subintervals = 15;
};

// Why these settings cannot be used, or nullopt when they can. The interval must be 1 to
// k_max_demand_interval_minutes minutes, subintervals 1 to k_max_demand_subintervals, and
// the subinterval a whole number of seconds.
std::optional<std::string> demand_settings_error(const DemandSettings& settings);

// Everything that must survive a restart.
struct EngineState {
  double integrated_until = 0;  // meter unix time up to which energy is integrated; 0 = never
  double active_energy_delivered_kwh = 0, active_energy_received_kwh = 0;
  double reactive_energy_delivered_kvarh = 0, reactive_energy_received_kvarh = 0;
  double apparent_energy_delivered_kvah = 0, apparent_energy_received_kvah = 0;
  double peak_demand_kw = 0, peak_demand_unix_time = 0;
};

// A JSON object with one number per field, named like the field.
nlohmann::json to_json(const EngineState& state);
// Writes the six energy registers of `state` into their measurement points.
void put_energy_points(const EngineState& state, proto::model::Measurements& values);
// Strict inverse of to_json: not an object, a missing or unknown field, a value that is not
// a number, negative or not finite are errors, each message naming the field.
proto::Result<EngineState, std::string> engine_state_from_json(const nlohmann::json& json);

class Engine {
 public:
  Engine(Scenario scenario, std::uint64_t seed, double scenario_start_unix_time);

  const Scenario& scenario() const { return scenario_; }

  // Precondition: demand_settings_error(settings) is nullopt (throws std::invalid_argument
  // otherwise). Empties the window: demand reads 0 until the next subinterval ends. The
  // peak is kept.
  void set_demand_settings(DemandSettings settings);

  // After a restart: takes the accumulators, the peak and integrated_until (snapped to the
  // step grid) from a state. The demand window starts empty.
  void restore(const EngineState& state);
  EngineState state() const;

  // Integrates energy and demand over every whole step that ends at or before unix_time;
  // the partial step at the end waits for a later call. A first call on a fresh engine
  // integrates from the scenario start. Time going backwards (a clock set back) never
  // subtracts energy: integrated_until moves back and the demand window restarts. Non-finite
  // times are ignored.
  void advance_to(double unix_time);

  // Instantaneous values at unix_time, with energy and demand as of the last advance_to.
  // Cheap: no allocation, a handful of hashes.
  proto::model::Measurements measure(double unix_time) const;

  // Sets the peak demand to 0 (not to the present demand) as of unix_time.
  void reset_peak_demand(double unix_time);

 private:
  struct Conditions;
  struct DemandSample {
    double active_kw = 0, reactive_kvar = 0, apparent_kva = 0;
  };
  // The combined effect of the events in force over one stretch of the event timeline.
  struct EventEffect {
    std::array<double, 3> voltage_factor{1.0, 1.0, 1.0};
    std::array<bool, 3> out{};
    double frequency_deviation_hz = 0.0;
  };

  Conditions conditions_at(double unix_time) const;
  double load_factor_at(double unix_time) const;
  void build_event_timeline();
  const EventEffect* event_effect_at(double unix_time) const;
  void integrate_step(std::int64_t step);
  void add_to_demand(std::int64_t step, const DemandSample& power);
  void close_subinterval(double end_unix_time);
  void restart_demand_window();
  double grid_time(std::int64_t step) const;
  double noise_value(std::uint64_t stream, std::int64_t bucket) const;

  Scenario scenario_;
  std::uint64_t seed_;
  double start_unix_time_;

  // Derived once from the scenario.
  double cos_phi_;
  double sin_phi_;
  double reactive_sign_;                      // +1 lagging, -1 leading (on import)
  std::array<double, 3> current_share_;       // phase imbalance
  std::array<std::uint64_t, 14> noise_keys_;  // noise_stream_key per stream id (engine.cpp)
  // The event timeline cut where any event starts or ends: effect i holds from
  // effect_starts_[i] (seconds into the repeat period) until effect_starts_[i + 1].
  std::vector<double> effect_starts_;
  std::vector<EventEffect> effects_;

  // Integration.
  EngineState totals_;           // integrated_until is unused here; see next_step_
  bool integrated_ = false;      // false until the first advance_to or restore
  std::int64_t next_step_ = 0;   // first step not yet integrated

  // Demand.
  std::int64_t steps_per_subinterval_ = 0;
  std::vector<DemandSample> window_;  // ring of completed subinterval averages
  std::size_t window_next_ = 0;
  std::size_t window_filled_ = 0;
  DemandSample partial_sum_;
  std::int64_t partial_steps_ = 0;
  std::int64_t expected_demand_step_ = 0;  // a different step means the time jumped
  bool demand_running_ = false;
  DemandSample demand_;
};

}  // namespace meterd::simulation
