#include "firmware/simulation/engine.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <stdexcept>
#include <utility>

#include "firmware/simulation/noise.hpp"

namespace meterd::simulation {

namespace {

using proto::model::Point;

constexpr double k_sqrt3 = 1.7320508075688772;
constexpr double k_seconds_per_hour = 3600.0;
constexpr double k_watts_per_kilowatt = 1000.0;

// Unit phasors of phases a, b, c for a-b-c rotation: b lags a by 120 degrees.
constexpr std::array<std::complex<double>, 3> k_phase_rotation = {{
    {1.0, 0.0},
    {-0.5, -k_sqrt3 / 2.0},
    {-0.5, k_sqrt3 / 2.0},
}};

// Noise stream ids: one independent sequence per quantity and phase. Never renumber them:
// that would change every scenario's noise.
enum NoiseStream : std::uint64_t {
  k_stream_voltage = 1,         // + phase index
  k_stream_current = 4,         // + phase index
  k_stream_frequency = 7,
  k_stream_voltage_thd = 8,     // + phase index
  k_stream_current_thd = 11,    // + phase index
  k_stream_count = 14,
};

// Grid indices stay far below the int64 range even for absurd times, so the casts are defined.
constexpr double k_max_grid_index = 1e15;

std::int64_t floor_to_index(double value) {
  if (std::isnan(value)) return 0;
  return static_cast<std::int64_t>(std::floor(std::clamp(value, -k_max_grid_index, k_max_grid_index)));
}

std::int64_t positive_modulo(std::int64_t value, std::int64_t divisor) {
  const auto remainder = value % divisor;
  return remainder < 0 ? remainder + divisor : remainder;
}

// IEEE convention: |P| / S, negative when leading (quadrants II and IV, where P and Q have
// opposite signs). 0 when nothing flows.
double signed_power_factor(double active, double reactive, double apparent) {
  if (apparent <= 0.0) return 0.0;
  const double magnitude = std::min(1.0, std::abs(active) / apparent);
  return active * reactive < 0.0 ? -magnitude : magnitude;
}

double direction_of(double load) { return load > 0.0 ? 1.0 : load < 0.0 ? -1.0 : 0.0; }

// measure() writes per-phase points as "phase a point + phase index".
constexpr bool phase_points_follow(Point phase_a, Point phase_b, Point phase_c) {
  return static_cast<std::size_t>(phase_b) == static_cast<std::size_t>(phase_a) + 1 &&
         static_cast<std::size_t>(phase_c) == static_cast<std::size_t>(phase_a) + 2;
}
static_assert(phase_points_follow(Point::current_a, Point::current_b, Point::current_c));
static_assert(phase_points_follow(Point::voltage_an, Point::voltage_bn, Point::voltage_cn));
static_assert(phase_points_follow(Point::active_power_a, Point::active_power_b, Point::active_power_c));
static_assert(phase_points_follow(Point::reactive_power_a, Point::reactive_power_b, Point::reactive_power_c));
static_assert(phase_points_follow(Point::apparent_power_a, Point::apparent_power_b, Point::apparent_power_c));
static_assert(phase_points_follow(Point::power_factor_a, Point::power_factor_b, Point::power_factor_c));
static_assert(phase_points_follow(Point::voltage_thd_a, Point::voltage_thd_b, Point::voltage_thd_c));
static_assert(phase_points_follow(Point::current_thd_a, Point::current_thd_b, Point::current_thd_c));

constexpr std::array<std::pair<const char*, double EngineState::*>, 9> k_state_fields = {{
    {"integrated_until", &EngineState::integrated_until},
    {"active_energy_delivered_kwh", &EngineState::active_energy_delivered_kwh},
    {"active_energy_received_kwh", &EngineState::active_energy_received_kwh},
    {"reactive_energy_delivered_kvarh", &EngineState::reactive_energy_delivered_kvarh},
    {"reactive_energy_received_kvarh", &EngineState::reactive_energy_received_kvarh},
    {"apparent_energy_delivered_kvah", &EngineState::apparent_energy_delivered_kvah},
    {"apparent_energy_received_kvah", &EngineState::apparent_energy_received_kvah},
    {"peak_demand_kw", &EngineState::peak_demand_kw},
    {"peak_demand_unix_time", &EngineState::peak_demand_unix_time},
}};

}  // namespace

std::optional<std::string> demand_settings_error(const DemandSettings& settings) {
  if (settings.interval_minutes < 1 || settings.interval_minutes > k_max_demand_interval_minutes) {
    return "demand interval must be 1 to " + std::to_string(k_max_demand_interval_minutes) + " minutes, not " +
           std::to_string(settings.interval_minutes);
  }
  if (settings.subintervals < 1 || settings.subintervals > k_max_demand_subintervals) {
    return "demand subintervals must be 1 to " + std::to_string(k_max_demand_subintervals) + ", not " +
           std::to_string(settings.subintervals);
  }
  if ((settings.interval_minutes * 60) % settings.subintervals != 0) {
    return "a " + std::to_string(settings.interval_minutes) + "-minute interval does not split into " +
           std::to_string(settings.subintervals) + " subintervals of whole seconds";
  }
  return std::nullopt;
}

void put_energy_points(const EngineState& state, proto::model::Measurements& values) {
  using proto::model::Point;
  values[Point::active_energy_delivered] = state.active_energy_delivered_kwh;
  values[Point::active_energy_received] = state.active_energy_received_kwh;
  values[Point::reactive_energy_delivered] = state.reactive_energy_delivered_kvarh;
  values[Point::reactive_energy_received] = state.reactive_energy_received_kvarh;
  values[Point::apparent_energy_delivered] = state.apparent_energy_delivered_kvah;
  values[Point::apparent_energy_received] = state.apparent_energy_received_kvah;
}

nlohmann::json to_json(const EngineState& state) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [name, field] : k_state_fields) json[name] = state.*field;
  return json;
}

proto::Result<EngineState, std::string> engine_state_from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    return proto::unexpected(std::string("engine state must be a JSON object, not ") + json.type_name());
  }
  for (const auto& item : json.items()) {
    const bool known = std::any_of(k_state_fields.begin(), k_state_fields.end(),
                                   [&](const auto& field) { return item.key() == field.first; });
    if (!known) return proto::unexpected("engine state has an unknown field '" + item.key() + "'");
  }
  EngineState state;
  for (const auto& [name, field] : k_state_fields) {
    const auto found = json.find(name);
    if (found == json.end()) return proto::unexpected(std::string("engine state lacks the field '") + name + "'");
    if (!found->is_number()) {
      return proto::unexpected(std::string("engine state field '") + name + "' must be a number, not " +
                               found->type_name());
    }
    const double value = found->get<double>();
    if (!std::isfinite(value) || value < 0.0) {
      return proto::unexpected(std::string("engine state field '") + name +
                               "' must be a finite number of at least 0, not " + found->dump());
    }
    state.*field = value;
  }
  return state;
}

struct Engine::Conditions {
  double load = 0.0;                   // signed load factor
  std::array<double, 3> voltage{};     // volts, line to (virtual) neutral
  std::array<double, 3> current{};     // amps
  std::array<bool, 3> out{};           // outage on the phase
  double frequency_deviation_hz = 0.0;
  std::int64_t noise_bucket = 0;
};

Engine::Engine(Scenario scenario, std::uint64_t seed, double scenario_start_unix_time)
    : scenario_(std::move(scenario)), seed_(seed), start_unix_time_(scenario_start_unix_time) {
  const auto& nominal = scenario_.nominal;
  cos_phi_ = nominal.power_factor;
  sin_phi_ = std::sqrt(std::max(0.0, 1.0 - cos_phi_ * cos_phi_));
  reactive_sign_ = nominal.power_factor_sense == PowerFactorSense::lagging ? 1.0 : -1.0;
  const double spread = nominal.phase_imbalance_pct / 100.0;
  current_share_ = {1.0 + spread, 1.0, 1.0 - spread};
  static_assert(std::tuple_size_v<decltype(noise_keys_)> == k_stream_count);
  for (std::uint64_t stream = 0; stream < k_stream_count; ++stream) {
    noise_keys_[stream] = noise_stream_key(seed_, stream);
  }
  // A hand-built scenario might hold what the loader rejects; a zero period would divide by zero.
  scenario_.noise.period_s = std::max(scenario_.noise.period_s, k_min_noise_period_s);

  build_event_timeline();
  set_demand_settings(DemandSettings{});
}

void Engine::build_event_timeline() {
  for (const auto& event : scenario_.events) {
    effect_starts_.push_back(event.start_s);
    effect_starts_.push_back(event.end_s());
  }
  std::sort(effect_starts_.begin(), effect_starts_.end());
  effect_starts_.erase(std::unique(effect_starts_.begin(), effect_starts_.end()), effect_starts_.end());
  // At most 2 * k_max_events stretches times k_max_events events: a few million steps once,
  // so that each lookup afterwards is one binary search.
  for (const double stretch_start : effect_starts_) {
    EventEffect effect;
    for (const auto& event : scenario_.events) {
      if (event.start_s > stretch_start || event.end_s() <= stretch_start) continue;
      for (std::size_t phase = 0; phase < 3; ++phase) {
        if (!event.phases[phase]) continue;
        if (event.type == EventType::outage) effect.out[phase] = true;
        else effect.voltage_factor[phase] *= event.magnitude_pct / 100.0;
      }
      if (event.type == EventType::frequency) effect.frequency_deviation_hz += event.deviation_hz;
    }
    effects_.push_back(effect);
  }
}

const Engine::EventEffect* Engine::event_effect_at(double unix_time) const {
  const double since_start = unix_time - start_unix_time_;
  if (effect_starts_.empty() || !(since_start >= 0.0)) return nullptr;
  const double repeat = scenario_.repeat_events_every_s;
  const double offset = repeat > 0.0 ? std::fmod(since_start, repeat) : since_start;
  const auto after = std::upper_bound(effect_starts_.begin(), effect_starts_.end(), offset);
  if (after == effect_starts_.begin()) return nullptr;
  return &effects_[static_cast<std::size_t>(after - effect_starts_.begin()) - 1];
}

void Engine::set_demand_settings(DemandSettings settings) {
  if (const auto error = demand_settings_error(settings)) throw std::invalid_argument(*error);
  const auto subinterval_seconds = settings.interval_minutes * 60 / settings.subintervals;
  steps_per_subinterval_ = std::max<std::int64_t>(1, std::llround(subinterval_seconds / k_integration_step_s));
  window_.assign(static_cast<std::size_t>(settings.subintervals), DemandSample{});
  restart_demand_window();
}

void Engine::restore(const EngineState& state) {
  totals_ = state;
  integrated_ = std::isfinite(state.integrated_until) && state.integrated_until != 0.0;
  // The tolerance absorbs the rounding of start + n * step in a double near 1.7e9.
  constexpr double k_grid_tolerance_steps = 1e-6;
  next_step_ = integrated_ ? floor_to_index((state.integrated_until - start_unix_time_) / k_integration_step_s +
                                            k_grid_tolerance_steps)
                           : 0;
  restart_demand_window();
}

EngineState Engine::state() const {
  EngineState state = totals_;
  state.integrated_until = integrated_ ? grid_time(next_step_) : 0.0;
  return state;
}

void Engine::advance_to(double unix_time) {
  if (!std::isfinite(unix_time)) return;
  const std::int64_t target = floor_to_index((unix_time - start_unix_time_) / k_integration_step_s);
  if (!integrated_) {
    integrated_ = true;
    next_step_ = 0;
  }
  if (target < next_step_) {
    // The clock went back: keep every accumulator, integrate again from the new time.
    next_step_ = target;
    restart_demand_window();
    return;
  }
  next_step_ = std::max(next_step_, target - k_max_catch_up_steps);
  for (; next_step_ < target; ++next_step_) integrate_step(next_step_);
}

double Engine::grid_time(std::int64_t step) const {
  return start_unix_time_ + static_cast<double>(step) * k_integration_step_s;
}

double Engine::noise_value(std::uint64_t stream, std::int64_t bucket) const {
  return standard_noise_for_key(noise_keys_[stream], bucket);
}

double Engine::load_factor_at(double unix_time) const {
  const auto& profile = scenario_.load_profile;
  if (profile.empty()) return 1.0;
  if (profile.size() == 1) return profile.front().load;
  double second_of_day =
      std::fmod(unix_time + scenario_.utc_offset_hours * k_seconds_per_hour, k_seconds_per_day);
  if (second_of_day < 0.0) second_of_day += k_seconds_per_day;

  const auto next = std::upper_bound(
      profile.begin(), profile.end(), second_of_day,
      [](double time, const ProfilePoint& point) { return time < point.second_of_day; });
  // Before the first point or after the last, interpolate across midnight.
  const ProfilePoint& after = next == profile.end() ? profile.front() : *next;
  const ProfilePoint& before = next == profile.begin() ? profile.back() : *(next - 1);
  double span = after.second_of_day - before.second_of_day;
  double elapsed = second_of_day - before.second_of_day;
  if (span <= 0.0) span += k_seconds_per_day;
  if (elapsed < 0.0) elapsed += k_seconds_per_day;
  return before.load + (after.load - before.load) * (elapsed / span);
}

Engine::Conditions Engine::conditions_at(double unix_time) const {
  Conditions conditions;
  conditions.load = load_factor_at(unix_time);

  static constexpr EventEffect k_no_event{};
  const auto* found = event_effect_at(unix_time);
  const EventEffect& effect = found != nullptr ? *found : k_no_event;
  conditions.out = effect.out;
  conditions.frequency_deviation_hz = effect.frequency_deviation_hz;

  const auto& nominal = scenario_.nominal;
  const auto& noise = scenario_.noise;
  conditions.noise_bucket = noise_bucket(unix_time, noise.period_s);
  const double load_current = nominal.current * std::abs(conditions.load);
  for (std::size_t phase = 0; phase < 3; ++phase) {
    if (conditions.out[phase]) continue;
    double voltage = nominal.voltage_ln * effect.voltage_factor[phase];
    if (noise.voltage_pct > 0.0) {
      voltage *= 1.0 + noise.voltage_pct / 100.0 *
                           noise_value(k_stream_voltage + phase, conditions.noise_bucket);
    }
    double current = load_current * current_share_[phase];
    if (noise.current_pct > 0.0 && current > 0.0) {
      // Large current noise could drive the factor below zero; a magnitude cannot be.
      current *= std::max(0.0, 1.0 + noise.current_pct / 100.0 *
                                         noise_value(k_stream_current + phase, conditions.noise_bucket));
    }
    conditions.voltage[phase] = voltage;
    conditions.current[phase] = current;
  }
  return conditions;
}

void Engine::integrate_step(std::int64_t step) {
  // The midpoint rule: exact for a constant load, second-order for the linear profile.
  const auto conditions = conditions_at(grid_time(step) + k_integration_step_s / 2.0);
  double volt_amperes = 0.0;
  for (std::size_t phase = 0; phase < 3; ++phase) volt_amperes += conditions.voltage[phase] * conditions.current[phase];
  const double direction = direction_of(conditions.load);
  DemandSample power;
  power.apparent_kva = volt_amperes / k_watts_per_kilowatt;
  power.active_kw = direction * cos_phi_ * power.apparent_kva;
  power.reactive_kvar = direction * reactive_sign_ * sin_phi_ * power.apparent_kva;

  constexpr double k_step_hours = k_integration_step_s / k_seconds_per_hour;
  if (direction > 0.0) {
    totals_.active_energy_delivered_kwh += power.active_kw * k_step_hours;
    totals_.apparent_energy_delivered_kvah += power.apparent_kva * k_step_hours;
  } else if (direction < 0.0) {
    totals_.active_energy_received_kwh -= power.active_kw * k_step_hours;
    totals_.apparent_energy_received_kvah += power.apparent_kva * k_step_hours;
  }
  if (power.reactive_kvar > 0.0) totals_.reactive_energy_delivered_kvarh += power.reactive_kvar * k_step_hours;
  if (power.reactive_kvar < 0.0) totals_.reactive_energy_received_kvarh -= power.reactive_kvar * k_step_hours;

  add_to_demand(step, power);
}

void Engine::restart_demand_window() {
  std::fill(window_.begin(), window_.end(), DemandSample{});
  window_next_ = 0;
  window_filled_ = 0;
  partial_sum_ = {};
  partial_steps_ = 0;
  demand_running_ = false;
  demand_ = {};
}

void Engine::add_to_demand(std::int64_t step, const DemandSample& power) {
  if (demand_running_ && step != expected_demand_step_) restart_demand_window();
  demand_running_ = true;
  expected_demand_step_ = step + 1;
  partial_sum_.active_kw += power.active_kw;
  partial_sum_.reactive_kvar += power.reactive_kvar;
  partial_sum_.apparent_kva += power.apparent_kva;
  ++partial_steps_;
  // Subintervals are aligned to the scenario start, like the integration grid, so the
  // boundaries do not depend on when the engine was started or restored.
  if (positive_modulo(step + 1, steps_per_subinterval_) == 0) close_subinterval(grid_time(step + 1));
}

void Engine::close_subinterval(double end_unix_time) {
  // A subinterval cut short by a restart averages the steps it has.
  const double steps = static_cast<double>(partial_steps_);
  window_[window_next_] = {partial_sum_.active_kw / steps, partial_sum_.reactive_kvar / steps,
                           partial_sum_.apparent_kva / steps};
  window_next_ = (window_next_ + 1) % window_.size();
  window_filled_ = std::min(window_filled_ + 1, window_.size());
  partial_sum_ = {};
  partial_steps_ = 0;

  // Until the window has filled, demand is the average of the subintervals completed so far.
  DemandSample sum;
  for (std::size_t i = 0; i < window_filled_; ++i) {
    sum.active_kw += window_[i].active_kw;
    sum.reactive_kvar += window_[i].reactive_kvar;
    sum.apparent_kva += window_[i].apparent_kva;
  }
  const double count = static_cast<double>(window_filled_);
  demand_ = {sum.active_kw / count, sum.reactive_kvar / count, sum.apparent_kva / count};
  if (demand_.active_kw > totals_.peak_demand_kw) {
    totals_.peak_demand_kw = demand_.active_kw;
    totals_.peak_demand_unix_time = end_unix_time;
  }
}

void Engine::reset_peak_demand(double unix_time) {
  totals_.peak_demand_kw = 0.0;
  totals_.peak_demand_unix_time = unix_time;
}

proto::model::Measurements Engine::measure(double unix_time) const {
  const auto conditions = conditions_at(unix_time);
  const auto& nominal = scenario_.nominal;
  const auto& noise = scenario_.noise;
  const auto& harmonics = scenario_.harmonics;
  const bool wye = scenario_.wiring == Wiring::wye;
  const double direction = direction_of(conditions.load);
  const auto bucket = conditions.noise_bucket;

  proto::model::Measurements values;
  values.unix_time = unix_time;
  const auto set_phase = [&values](Point phase_a, std::size_t phase, double value) {
    values[static_cast<Point>(static_cast<std::size_t>(phase_a) + phase)] = value;
  };
  // THD needs a waveform to distort: 0 on a phase without voltage (or current).
  const auto thd = [&](double base_pct, std::uint64_t stream, std::size_t phase, double magnitude) {
    if (base_pct <= 0.0 || magnitude <= 0.0) return 0.0;
    if (noise.thd_pct <= 0.0) return base_pct;
    return std::max(0.0, base_pct * (1.0 + noise.thd_pct / 100.0 * noise_value(stream + phase, bucket)));
  };

  double active_total = 0.0, reactive_total = 0.0, apparent_total = 0.0;
  std::complex<double> neutral_current = 0.0;
  std::array<std::complex<double>, 3> voltage_phasor{};
  for (std::size_t phase = 0; phase < 3; ++phase) {
    const double voltage = conditions.voltage[phase];
    const double current = conditions.current[phase];
    const double apparent = voltage * current / k_watts_per_kilowatt;
    const double active = direction * cos_phi_ * apparent;
    const double reactive = direction * reactive_sign_ * sin_phi_ * apparent;
    active_total += active;
    reactive_total += reactive;
    apparent_total += apparent;
    // Every phase current is displaced by the same angle from its voltage, so the
    // displacement does not change the magnitude of their sum.
    neutral_current += current * k_phase_rotation[phase];
    voltage_phasor[phase] = voltage * k_phase_rotation[phase];

    set_phase(Point::current_a, phase, current);
    set_phase(Point::voltage_an, phase, wye ? voltage : 0.0);
    set_phase(Point::active_power_a, phase, active);
    set_phase(Point::reactive_power_a, phase, reactive);
    set_phase(Point::apparent_power_a, phase, apparent);
    set_phase(Point::power_factor_a, phase, signed_power_factor(active, reactive, apparent));
    set_phase(Point::voltage_thd_a, phase, thd(harmonics.voltage_thd_pct, k_stream_voltage_thd, phase, voltage));
    set_phase(Point::current_thd_a, phase, thd(harmonics.current_thd_pct, k_stream_current_thd, phase, current));
  }
  values[Point::current_n] = wye ? std::abs(neutral_current) : 0.0;
  const auto average = [&values](Point a, Point b, Point c) { return (values[a] + values[b] + values[c]) / 3.0; };
  values[Point::current_avg] = average(Point::current_a, Point::current_b, Point::current_c);
  values[Point::voltage_ab] = std::abs(voltage_phasor[0] - voltage_phasor[1]);
  values[Point::voltage_bc] = std::abs(voltage_phasor[1] - voltage_phasor[2]);
  values[Point::voltage_ca] = std::abs(voltage_phasor[2] - voltage_phasor[0]);
  values[Point::voltage_ll_avg] = average(Point::voltage_ab, Point::voltage_bc, Point::voltage_ca);
  values[Point::voltage_ln_avg] = average(Point::voltage_an, Point::voltage_bn, Point::voltage_cn);
  values[Point::active_power_total] = active_total;
  values[Point::reactive_power_total] = reactive_total;
  values[Point::apparent_power_total] = apparent_total;
  values[Point::power_factor_total] = signed_power_factor(active_total, reactive_total, apparent_total);

  const bool any_voltage = !(conditions.out[0] && conditions.out[1] && conditions.out[2]);
  double frequency = 0.0;
  if (any_voltage) {
    frequency = nominal.frequency_hz + conditions.frequency_deviation_hz;
    if (noise.frequency_hz > 0.0) frequency += noise.frequency_hz * noise_value(k_stream_frequency, bucket);
  }
  values[Point::frequency] = frequency;

  put_energy_points(totals_, values);
  values[Point::active_power_demand] = demand_.active_kw;
  values[Point::reactive_power_demand] = demand_.reactive_kvar;
  values[Point::apparent_power_demand] = demand_.apparent_kva;
  values[Point::active_power_peak_demand] = totals_.peak_demand_kw;
  values.peak_demand_unix_time = totals_.peak_demand_unix_time;
  return values;
}

}  // namespace meterd::simulation
