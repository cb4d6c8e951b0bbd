#include "firmware/simulation/engine.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <string>

#include "firmware/simulation/noise.hpp"

#ifndef METERCTL_SOURCE_DIR
#error "METERCTL_SOURCE_DIR must name the repository root, to find profiles/scenarios"
#endif

namespace {

using meterd::simulation::Engine;
using meterd::simulation::EngineState;
using meterd::simulation::Scenario;
using proto::model::Point;

// 2023-11-15 00:00:00 UTC: a midnight, so times of day are easy to read in the tests.
constexpr double k_start = 1'700'006'400.0;
constexpr double k_hour = 3600.0;
constexpr double k_day = 86'400.0;

// 230 V, 40 A, PF 0.95 lagging, no noise: the reference load of the analytic checks.
const std::string k_quiet = R"(apiVersion: meterctl/v1
kind: Scenario
name: quiet
wiring: wye
nominal:
  voltage_ln: 230
  frequency: 50
  current: 40
  power_factor: 0.95
)";

const double k_apparent_kva = 3 * 230.0 * 40.0 / 1000.0;
const double k_active_kw = k_apparent_kva * 0.95;
const double k_reactive_kvar = k_apparent_kva * std::sqrt(1.0 - 0.95 * 0.95);

Scenario scenario_from(const std::string& yaml) {
  auto scenario = meterd::simulation::load_scenario(yaml, "test.yaml");
  if (!scenario) FAIL(scenario.error().to_string());
  return std::move(scenario).value();
}

Scenario shipped_scenario(const std::string& name) {
  const auto path = std::filesystem::path(METERCTL_SOURCE_DIR) / "profiles/scenarios" / (name + ".yaml");
  auto scenario = meterd::simulation::load_scenario_file(path);
  if (!scenario) FAIL(scenario.error().to_string());
  return std::move(scenario).value();
}

void require_same_state(const EngineState& a, const EngineState& b) {
  CHECK(a.integrated_until == b.integrated_until);
  CHECK(a.active_energy_delivered_kwh == b.active_energy_delivered_kwh);
  CHECK(a.active_energy_received_kwh == b.active_energy_received_kwh);
  CHECK(a.reactive_energy_delivered_kvarh == b.reactive_energy_delivered_kvarh);
  CHECK(a.reactive_energy_received_kvarh == b.reactive_energy_received_kvarh);
  CHECK(a.apparent_energy_delivered_kvah == b.apparent_energy_delivered_kvah);
  CHECK(a.apparent_energy_received_kvah == b.apparent_energy_received_kvah);
  CHECK(a.peak_demand_kw == b.peak_demand_kw);
  CHECK(a.peak_demand_unix_time == b.peak_demand_unix_time);
}

}  // namespace

TEST_CASE("energy under a constant import matches the analytic integral", "[simulation][engine]") {
  Engine engine(scenario_from(k_quiet), 1, k_start);
  engine.advance_to(k_start + 2 * k_hour);
  const auto state = engine.state();
  CHECK(state.integrated_until == k_start + 2 * k_hour);
  CHECK(state.active_energy_delivered_kwh == Approx(k_active_kw * 2).epsilon(0.001));
  CHECK(state.reactive_energy_delivered_kvarh == Approx(k_reactive_kvar * 2).epsilon(0.001));
  CHECK(state.apparent_energy_delivered_kvah == Approx(k_apparent_kva * 2).epsilon(0.001));
  CHECK(state.active_energy_received_kwh == 0.0);
  CHECK(state.reactive_energy_received_kvarh == 0.0);
  CHECK(state.apparent_energy_received_kvah == 0.0);

  const auto values = engine.measure(k_start + 2 * k_hour);
  CHECK(values.unix_time == k_start + 2 * k_hour);
  CHECK(values[Point::active_energy_delivered] == state.active_energy_delivered_kwh);
  CHECK(values[Point::active_power_total] == Approx(k_active_kw));
  CHECK(values[Point::active_power_a] == Approx(k_active_kw / 3));
  CHECK(values[Point::reactive_power_total] == Approx(k_reactive_kvar));
  CHECK(values[Point::apparent_power_total] == Approx(k_apparent_kva));
  CHECK(values[Point::power_factor_total] == Approx(0.95));
  CHECK(values[Point::power_factor_b] == Approx(0.95));
  CHECK(values[Point::voltage_an] == 230.0);
  CHECK(values[Point::voltage_ln_avg] == Approx(230.0));
  CHECK(values[Point::voltage_ab] == Approx(230.0 * std::sqrt(3.0)));
  CHECK(values[Point::voltage_ll_avg] == Approx(230.0 * std::sqrt(3.0)));
  CHECK(values[Point::current_avg] == Approx(40.0));
  CHECK(values[Point::current_n] == Approx(0.0).margin(1e-9));
  CHECK(values[Point::frequency] == 50.0);
  CHECK(values[Point::voltage_thd_a] == 0.0);
}

TEST_CASE("energy under a constant export goes to the received registers", "[simulation][engine]") {
  const auto yaml = k_quiet + "load_profile:\n  - {at: \"00:00\", load: -1}\n";
  Engine engine(scenario_from(yaml), 1, k_start);
  engine.advance_to(k_start + 2 * k_hour);
  const auto state = engine.state();
  CHECK(state.active_energy_received_kwh == Approx(k_active_kw * 2).epsilon(0.001));
  CHECK(state.apparent_energy_received_kvah == Approx(k_apparent_kva * 2).epsilon(0.001));
  // Lagging export is quadrant III: Q < 0.
  CHECK(state.reactive_energy_received_kvarh == Approx(k_reactive_kvar * 2).epsilon(0.001));
  CHECK(state.active_energy_delivered_kwh == 0.0);
  CHECK(state.reactive_energy_delivered_kvarh == 0.0);
  CHECK(state.apparent_energy_delivered_kvah == 0.0);

  const auto values = engine.measure(k_start + k_hour);
  CHECK(values[Point::active_power_total] == Approx(-k_active_kw));
  CHECK(values[Point::reactive_power_total] == Approx(-k_reactive_kvar));
  CHECK(values[Point::apparent_power_total] == Approx(k_apparent_kva));
  CHECK(values[Point::current_a] == Approx(40.0));
  CHECK(values[Point::power_factor_total] == Approx(0.95));
}

TEST_CASE("a leading load has negative reactive power and power factor", "[simulation][engine]") {
  const auto yaml = k_quiet + "  power_factor_sense: leading\n";
  Engine engine(scenario_from(yaml), 1, k_start);
  engine.advance_to(k_start + k_hour);
  const auto values = engine.measure(k_start + k_hour);
  CHECK(values[Point::active_power_total] == Approx(k_active_kw));
  CHECK(values[Point::reactive_power_total] == Approx(-k_reactive_kvar));
  CHECK(values[Point::power_factor_total] == Approx(-0.95));
  CHECK(values[Point::power_factor_c] == Approx(-0.95));
  CHECK(values[Point::reactive_energy_received] == Approx(k_reactive_kvar).epsilon(0.001));
  CHECK(values[Point::reactive_energy_delivered] == 0.0);
}

TEST_CASE("only whole steps are integrated, the rest waits", "[simulation][engine]") {
  Engine engine(scenario_from(k_quiet), 1, k_start);
  CHECK(engine.state().integrated_until == 0.0);
  engine.advance_to(k_start + 10.75);
  CHECK(engine.state().integrated_until == k_start + 10.0);
  CHECK(engine.state().active_energy_delivered_kwh == Approx(k_active_kw * 10 / 3600));
  engine.advance_to(k_start + 10.9);
  CHECK(engine.state().active_energy_delivered_kwh == Approx(k_active_kw * 10 / 3600));
  engine.advance_to(k_start + 11.0);
  CHECK(engine.state().active_energy_delivered_kwh == Approx(k_active_kw * 11 / 3600));
  engine.advance_to(std::numeric_limits<double>::quiet_NaN());
  CHECK(engine.state().integrated_until == k_start + 11.0);
}

TEST_CASE("results do not depend on how time was advanced", "[simulation][engine]") {
  const auto scenario = shipped_scenario("daily-office-load");
  const double end = k_start + 5 * k_hour + 0.4;

  Engine in_one_call(scenario, 42, k_start);
  in_one_call.advance_to(end);

  Engine in_many_calls(scenario, 42, k_start);
  std::mt19937 random(7);
  std::uniform_real_distribution<double> step(0.01, 700.0);
  for (double t = k_start; t < end; t += step(random)) in_many_calls.advance_to(t);
  in_many_calls.advance_to(end);

  require_same_state(in_one_call.state(), in_many_calls.state());
  const auto a = in_one_call.measure(end);
  const auto b = in_many_calls.measure(end);
  CHECK(a.values == b.values);
  CHECK(a.peak_demand_unix_time == b.peak_demand_unix_time);
  CHECK(in_one_call.state().active_energy_delivered_kwh > 0.0);

  SECTION("measure is a pure function of the time") {
    CHECK(in_one_call.measure(k_start + 123.4).values == in_one_call.measure(k_start + 123.4).values);
    Engine fresh(scenario, 42, k_start);
    for (const auto point : {Point::voltage_an, Point::current_b, Point::frequency, Point::voltage_thd_c}) {
      CHECK(fresh.measure(k_start + 123.4)[point] == in_one_call.measure(k_start + 123.4)[point]);
    }
  }
  SECTION("another seed gives other noise and other energy") {
    Engine other_seed(scenario, 43, k_start);
    other_seed.advance_to(end);
    const auto c = other_seed.measure(end);
    CHECK(c[Point::voltage_an] != a[Point::voltage_an]);
    CHECK(c[Point::current_a] != a[Point::current_a]);
    CHECK(c[Point::frequency] != a[Point::frequency]);
    CHECK(other_seed.state().active_energy_delivered_kwh != in_one_call.state().active_energy_delivered_kwh);
    // The same statistics, though: within a percent over five hours.
    CHECK(other_seed.state().active_energy_delivered_kwh ==
          Approx(in_one_call.state().active_energy_delivered_kwh).epsilon(0.01));
  }
}

TEST_CASE("noise is a zero-mean, unit-variance pure function", "[simulation][noise]") {
  using meterd::simulation::standard_noise;
  CHECK(standard_noise(1, 2, 3) == standard_noise(1, 2, 3));
  CHECK(standard_noise(1, 2, 3) != standard_noise(2, 2, 3));
  CHECK(standard_noise(1, 2, 3) != standard_noise(1, 3, 3));
  CHECK(standard_noise(1, 2, 3) != standard_noise(1, 2, 4));
  CHECK(standard_noise(1, 2, 3) != standard_noise(3, 2, 1));
  constexpr int k_samples = 200'000;
  double sum = 0.0, sum_of_squares = 0.0, largest = 0.0;
  for (int bucket = 0; bucket < k_samples; ++bucket) {
    const double value = standard_noise(99, 1, bucket);
    sum += value;
    sum_of_squares += value * value;
    largest = std::max(largest, std::abs(value));
  }
  CHECK(sum / k_samples == Approx(0.0).margin(0.01));
  CHECK(sum_of_squares / k_samples == Approx(1.0).epsilon(0.01));
  CHECK(largest <= 2 * std::sqrt(3.0));
  CHECK(meterd::simulation::noise_bucket(10.5, 1.0) == 10);
  CHECK(meterd::simulation::noise_bucket(-0.5, 1.0) == -1);
  CHECK(meterd::simulation::noise_bucket(std::numeric_limits<double>::infinity(), 1.0) > 0);
  CHECK(meterd::simulation::noise_bucket(std::numeric_limits<double>::quiet_NaN(), 1.0) == 0);
}

TEST_CASE("sags, swells, outages and frequency events", "[simulation][engine]") {
  const auto yaml = k_quiet + R"(events:
  - {at: 60s, duration: 10s, type: sag, phases: [a], magnitude_pct: 70}
  - {at: 120s, duration: 5s, type: swell, phases: all, magnitude_pct: 115}
  - {at: 300s, duration: 60s, type: outage, phases: all}
  - {at: 400s, duration: 20s, type: outage, phases: [c]}
  - {at: 600s, duration: 30s, type: frequency, deviation_hz: -0.5}
repeat_events_every: 1h
)";
  Engine engine(scenario_from(yaml), 1, k_start);

  SECTION("sag on phase a only") {
    const auto values = engine.measure(k_start + 65);
    CHECK(values[Point::voltage_an] == Approx(0.7 * 230));
    CHECK(values[Point::voltage_bn] == 230.0);
    CHECK(values[Point::voltage_cn] == 230.0);
    CHECK(values[Point::current_a] == Approx(40.0));
    CHECK(values[Point::active_power_a] == Approx(0.7 * k_active_kw / 3));
    CHECK(engine.measure(k_start + 59.9)[Point::voltage_an] == 230.0);
    CHECK(engine.measure(k_start + 70.0)[Point::voltage_an] == 230.0);
  }
  SECTION("events repeat every period and not before the start") {
    CHECK(engine.measure(k_start + k_hour + 65)[Point::voltage_an] == Approx(0.7 * 230));
    CHECK(engine.measure(k_start + 10 * k_hour + 65)[Point::voltage_an] == Approx(0.7 * 230));
    CHECK(engine.measure(k_start - k_hour + 65)[Point::voltage_an] == 230.0);
  }
  SECTION("swell on all phases") {
    const auto values = engine.measure(k_start + 122);
    for (const auto point : {Point::voltage_an, Point::voltage_bn, Point::voltage_cn}) {
      CHECK(values[point] == Approx(1.15 * 230));
    }
    CHECK(values[Point::voltage_ab] == Approx(1.15 * 230 * std::sqrt(3.0)));
  }
  SECTION("outage of all phases: nothing flows and energy stops") {
    const auto values = engine.measure(k_start + 330);
    for (const auto point : {Point::voltage_an, Point::voltage_ab, Point::current_a, Point::current_n,
                             Point::active_power_total, Point::apparent_power_total, Point::power_factor_total,
                             Point::voltage_thd_a, Point::current_thd_b, Point::frequency}) {
      INFO(proto::model::info(point).name);
      CHECK(values[point] == 0.0);
    }
    engine.advance_to(k_start + 300);
    const double before = engine.state().active_energy_delivered_kwh;
    CHECK(before > 0.0);
    engine.advance_to(k_start + 360);
    CHECK(engine.state().active_energy_delivered_kwh == before);
    engine.advance_to(k_start + 361);
    CHECK(engine.state().active_energy_delivered_kwh == Approx(before + k_active_kw / 3600));
  }
  SECTION("outage of one phase: the others carry on, the neutral carries the rest") {
    const auto values = engine.measure(k_start + 410);
    CHECK(values[Point::voltage_cn] == 0.0);
    CHECK(values[Point::current_c] == 0.0);
    CHECK(values[Point::voltage_an] == 230.0);
    CHECK(values[Point::active_power_total] == Approx(2 * k_active_kw / 3));
    CHECK(values[Point::current_n] == Approx(40.0));
    CHECK(values[Point::voltage_bc] == Approx(230.0));
    CHECK(values[Point::frequency] == 50.0);
  }
  SECTION("frequency event") {
    CHECK(engine.measure(k_start + 610)[Point::frequency] == Approx(49.5));
    CHECK(engine.measure(k_start + 640)[Point::frequency] == 50.0);
  }
}

TEST_CASE("overlapping events combine", "[simulation][engine]") {
  const auto yaml = k_quiet + R"(events:
  - {at: 0s, duration: 100s, type: sag, phases: [a], magnitude_pct: 50}
  - {at: 10s, duration: 5s, type: sag, phases: [b], magnitude_pct: 80}
  - {at: 40s, duration: 20s, type: sag, phases: [a, b], magnitude_pct: 50}
  - {at: 45s, duration: 10s, type: outage, phases: [b]}
  - {at: 42s, duration: 5s, type: frequency, deviation_hz: 0.2}
  - {at: 43s, duration: 5s, type: frequency, deviation_hz: 0.1}
)";
  Engine engine(scenario_from(yaml), 1, k_start);
  // A long event stays in force while shorter, later ones start and end around it.
  CHECK(engine.measure(k_start + 12)[Point::voltage_an] == Approx(0.5 * 230));
  CHECK(engine.measure(k_start + 12)[Point::voltage_bn] == Approx(0.8 * 230));
  CHECK(engine.measure(k_start + 30)[Point::voltage_an] == Approx(0.5 * 230));
  CHECK(engine.measure(k_start + 30)[Point::voltage_bn] == 230.0);
  // Sags multiply; an outage overrides them; frequency deviations add up.
  CHECK(engine.measure(k_start + 44)[Point::voltage_an] == Approx(0.25 * 230));
  CHECK(engine.measure(k_start + 44)[Point::voltage_bn] == Approx(0.5 * 230));
  CHECK(engine.measure(k_start + 44)[Point::frequency] == Approx(50.3));
  CHECK(engine.measure(k_start + 50)[Point::voltage_bn] == 0.0);
  CHECK(engine.measure(k_start + 99.5)[Point::voltage_an] == Approx(0.5 * 230));
  CHECK(engine.measure(k_start + 100)[Point::voltage_an] == 230.0);
}

TEST_CASE("the daily profile interpolates linearly and wraps around midnight", "[simulation][engine]") {
  const auto yaml = k_quiet + R"(load_profile:
  - {at: "20:00", load: 0.5}
  - {at: "00:00", load: 0.2}
  - {at: "08:00", load: 1.0}
)";
  Engine engine(scenario_from(yaml), 1, k_start);
  const auto current_at = [&](double hours) { return engine.measure(k_start + hours * k_hour)[Point::current_a]; };
  CHECK(current_at(0) == Approx(0.2 * 40));
  CHECK(current_at(4) == Approx(0.6 * 40));
  CHECK(current_at(8) == Approx(1.0 * 40));
  CHECK(current_at(14) == Approx(0.75 * 40));
  CHECK(current_at(22) == Approx(0.35 * 40));
  CHECK(current_at(24 + 4) == Approx(0.6 * 40));  // the next day
  CHECK(current_at(-2) == Approx(0.35 * 40));     // before the scenario start

  SECTION("the profile runs on local time") {
    Engine east(scenario_from(yaml + "utc_offset_hours: 2\n"), 1, k_start);
    CHECK(east.measure(k_start + 2 * k_hour)[Point::current_a] == Approx(0.6 * 40));
    Engine west(scenario_from(yaml + "utc_offset_hours: -4\n"), 1, k_start);
    CHECK(west.measure(k_start + 2 * k_hour)[Point::current_a] == Approx(0.35 * 40));
  }
  SECTION("energy follows the profile") {
    // From 00:00 to 08:00 the load ramps from 0.2 to 1.0: on average 0.6.
    engine.advance_to(k_start + 8 * k_hour);
    CHECK(engine.state().active_energy_delivered_kwh == Approx(0.6 * k_active_kw * 8).epsilon(0.001));
  }
}

TEST_CASE("delta wiring reports no L-N voltage and no neutral current", "[simulation][engine]") {
  const auto yaml = R"(apiVersion: meterctl/v1
kind: Scenario
name: delta
wiring: delta
nominal:
  voltage_ll: 400
  frequency: 60
  current: 40
  power_factor: 0.95
  phase_imbalance_pct: 10
)";
  Engine engine(scenario_from(yaml), 1, k_start);
  const auto values = engine.measure(k_start);
  for (const auto point : {Point::voltage_an, Point::voltage_bn, Point::voltage_cn, Point::voltage_ln_avg,
                           Point::current_n}) {
    CHECK(values[point] == 0.0);
  }
  CHECK(values[Point::voltage_ab] == Approx(400.0));
  CHECK(values[Point::voltage_bc] == Approx(400.0));
  CHECK(values[Point::voltage_ca] == Approx(400.0));
  CHECK(values[Point::current_a] == Approx(44.0));
  CHECK(values[Point::current_c] == Approx(36.0));
  CHECK(values[Point::active_power_total] == Approx(std::sqrt(3.0) * 400 * 40 * 0.95 / 1000));
  CHECK(values[Point::frequency] == 60.0);
}

TEST_CASE("wye phase imbalance shows up in the neutral", "[simulation][engine]") {
  Engine engine(scenario_from(k_quiet + "  phase_imbalance_pct: 10\n"), 1, k_start);
  const auto values = engine.measure(k_start);
  CHECK(values[Point::current_a] == Approx(44.0));
  CHECK(values[Point::current_b] == Approx(40.0));
  CHECK(values[Point::current_c] == Approx(36.0));
  CHECK(values[Point::current_n] == Approx(std::sqrt(3.0) * 4.0));
  CHECK(values[Point::active_power_total] == Approx(k_active_kw));
}

TEST_CASE("sliding-window demand", "[simulation][engine]") {
  Engine engine(scenario_from(k_quiet), 1, k_start);

  SECTION("no demand before the first subinterval ends") {
    engine.advance_to(k_start + 59);
    CHECK(engine.measure(k_start + 59)[Point::active_power_demand] == 0.0);
    CHECK(engine.measure(k_start + 59)[Point::active_power_peak_demand] == 0.0);
    CHECK(engine.measure(k_start + 59).peak_demand_unix_time == 0.0);
  }
  SECTION("a constant load gives a constant demand, and its peak") {
    engine.advance_to(k_start + 15 * 60);
    const auto values = engine.measure(k_start + 15 * 60);
    CHECK(values[Point::active_power_demand] == Approx(k_active_kw));
    CHECK(values[Point::reactive_power_demand] == Approx(k_reactive_kvar));
    CHECK(values[Point::apparent_power_demand] == Approx(k_apparent_kva));
    CHECK(values[Point::active_power_peak_demand] == Approx(k_active_kw));
    // Reached when a subinterval closed (later ones may round a last bit higher).
    CHECK(values.peak_demand_unix_time > k_start);
    CHECK(values.peak_demand_unix_time <= k_start + 15 * 60);
    CHECK(std::fmod(values.peak_demand_unix_time - k_start, 60.0) == 0.0);

    engine.reset_peak_demand(k_start + 15 * 60 + 10);
    const auto after_reset = engine.measure(k_start + 15 * 60 + 10);
    CHECK(after_reset[Point::active_power_peak_demand] == 0.0);
    CHECK(after_reset.peak_demand_unix_time == k_start + 15 * 60 + 10);
    CHECK(after_reset[Point::active_power_demand] == Approx(k_active_kw));
    CHECK(engine.state().peak_demand_kw == 0.0);

    engine.advance_to(k_start + 16 * 60);
    CHECK(engine.measure(k_start + 16 * 60)[Point::active_power_peak_demand] == Approx(k_active_kw));
    CHECK(engine.state().peak_demand_unix_time == k_start + 16 * 60);
  }
  SECTION("the window slides: an outage lowers demand one subinterval at a time") {
    Engine with_outage(scenario_from(k_quiet + "events:\n  - {at: 15m, duration: 1h, type: outage, phases: all}\n"),
                       1, k_start);
    with_outage.advance_to(k_start + 15 * 60 + 8 * 60);
    // 15 one-minute subintervals: 7 before the outage, 8 in it.
    CHECK(with_outage.measure(k_start)[Point::active_power_demand] == Approx(7.0 / 15.0 * k_active_kw));
    CHECK(with_outage.state().peak_demand_kw == Approx(k_active_kw));
    CHECK(with_outage.state().peak_demand_unix_time <= k_start + 15 * 60);
    with_outage.advance_to(k_start + 30 * 60);
    CHECK(with_outage.measure(k_start)[Point::active_power_demand] == Approx(0.0).margin(1e-12));
  }
  SECTION("block demand with one subinterval") {
    engine.set_demand_settings({5, 1});
    engine.advance_to(k_start + 4 * 60);
    CHECK(engine.measure(k_start)[Point::active_power_demand] == 0.0);
    engine.advance_to(k_start + 5 * 60);
    CHECK(engine.measure(k_start)[Point::active_power_demand] == Approx(k_active_kw));
  }
  SECTION("settings are checked") {
    using meterd::simulation::demand_settings_error;
    CHECK_FALSE(demand_settings_error({15, 15}).has_value());
    CHECK_FALSE(demand_settings_error({60, 60}).has_value());
    CHECK(demand_settings_error({0, 1}).has_value());
    CHECK(demand_settings_error({61, 1}).has_value());
    CHECK(demand_settings_error({15, 0}).has_value());
    CHECK(demand_settings_error({15, 61}).has_value());
    CHECK(demand_settings_error({1, 7}).has_value());  // 60 s / 7 is not whole seconds
    CHECK_THROWS_AS(engine.set_demand_settings({15, 0}), std::invalid_argument);
  }
}

TEST_CASE("a clock set back never takes energy away", "[simulation][engine]") {
  Engine engine(scenario_from(k_quiet), 1, k_start);
  engine.advance_to(k_start + 2 * k_hour);
  const auto before = engine.state();
  engine.advance_to(k_start + k_hour);
  const auto after = engine.state();
  CHECK(after.integrated_until == k_start + k_hour);
  CHECK(after.active_energy_delivered_kwh == before.active_energy_delivered_kwh);
  // The demand window spans the jump no more: it starts again.
  CHECK(engine.measure(k_start + k_hour)[Point::active_power_demand] == 0.0);
  engine.advance_to(k_start + k_hour + 60);
  CHECK(engine.measure(k_start + k_hour)[Point::active_power_demand] == Approx(k_active_kw));
  // The hour is lived through again, and counted again, as a real meter would.
  engine.advance_to(k_start + 2 * k_hour);
  CHECK(engine.state().active_energy_delivered_kwh == Approx(k_active_kw * 3).epsilon(0.001));
}

TEST_CASE("a huge jump forward integrates a bounded span quickly", "[simulation][engine]") {
  Engine engine(scenario_from(k_quiet), 1, k_start);
  const auto started = std::chrono::steady_clock::now();
  engine.advance_to(k_start + 365 * k_day);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const double bounded_days = static_cast<double>(meterd::simulation::k_max_catch_up_steps) / k_day;
  CHECK(engine.state().integrated_until == k_start + 365 * k_day);
  CHECK(engine.state().active_energy_delivered_kwh == Approx(k_active_kw * 24 * bounded_days).epsilon(0.001));
  // Generous enough for a sanitizer build; an optimised build takes a few tens of ms.
  CHECK(elapsed < std::chrono::seconds(5));
}

TEST_CASE("one day of a noisy scenario integrates fast", "[simulation][engine][performance]") {
  Engine engine(shipped_scenario("sag-swell"), 1, k_start);
  const auto started = std::chrono::steady_clock::now();
  engine.advance_to(k_start + k_day);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const double milliseconds = std::chrono::duration<double, std::milli>(elapsed).count();
  INFO(milliseconds << " ms");
  // The requirement is well under 100 ms in an optimised build; this bound also holds
  // under sanitizers and catches anything worse than linear.
  CHECK(elapsed < std::chrono::seconds(1));
  CHECK(engine.state().active_energy_delivered_kwh > 0.0);
}

TEST_CASE("the most events a scenario may hold still integrate fast", "[simulation][engine][performance]") {
  // One event spans the day and a thousand short ones start inside it: a lookup that
  // walked the overlapping events would take a thousand steps per second of meter time.
  std::string yaml = k_quiet + "events:\n  - {at: 0s, duration: 24h, type: sag, phases: [a], magnitude_pct: 90}\n";
  for (std::size_t i = 1; i < meterd::simulation::k_max_events; ++i) {
    yaml += "  - {at: " + std::to_string(i * 60) + "s, duration: 5s, type: outage, phases: [b]}\n";
  }
  Engine engine(scenario_from(yaml), 1, k_start);
  CHECK(engine.measure(k_start + 30)[Point::voltage_an] == Approx(0.9 * 230));
  CHECK(engine.measure(k_start + 60 * 500 + 2)[Point::voltage_bn] == 0.0);
  CHECK(engine.measure(k_start + 60 * 500 + 2)[Point::voltage_an] == Approx(0.9 * 230));
  CHECK(engine.measure(k_start + 60 * 500 + 6)[Point::voltage_bn] == 230.0);
  const auto started = std::chrono::steady_clock::now();
  engine.advance_to(k_start + k_day);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
}

TEST_CASE("engine state survives a round trip through JSON and a restart", "[simulation][engine]") {
  const auto scenario = shipped_scenario("steady-state");
  Engine original(scenario, 5, k_start);
  original.advance_to(k_start + 3 * k_hour + 17.5);
  const auto state = original.state();

  const auto json = meterd::simulation::to_json(state);
  const auto parsed = meterd::simulation::engine_state_from_json(nlohmann::json::parse(json.dump()));
  if (!parsed) FAIL(parsed.error());
  require_same_state(*parsed, state);

  Engine restarted(scenario, 5, k_start);
  restarted.restore(*parsed);
  require_same_state(restarted.state(), state);
  original.advance_to(k_start + 4 * k_hour);
  restarted.advance_to(k_start + 4 * k_hour);
  CHECK(restarted.state().active_energy_delivered_kwh == original.state().active_energy_delivered_kwh);
  CHECK(restarted.state().integrated_until == original.state().integrated_until);

  SECTION("a never-integrated state restores to a fresh engine") {
    Engine fresh(scenario, 5, k_start);
    fresh.restore(EngineState{});
    CHECK(fresh.state().integrated_until == 0.0);
    fresh.advance_to(k_start + 10);
    CHECK(fresh.state().integrated_until == k_start + 10);
  }
}

TEST_CASE("malformed engine state is rejected", "[simulation][engine]") {
  const auto valid = meterd::simulation::to_json(EngineState{});
  REQUIRE(meterd::simulation::engine_state_from_json(valid).has_value());

  const auto rejected = [](const nlohmann::json& json, const std::string& message_part) {
    const auto result = meterd::simulation::engine_state_from_json(json);
    REQUIRE_FALSE(result.has_value());
    CHECK_THAT(result.error(), Catch::Matchers::Contains(message_part));
  };
  rejected(nlohmann::json::array(), "JSON object");
  rejected(nlohmann::json(42), "JSON object");
  {
    auto json = valid;
    json.erase("peak_demand_kw");
    rejected(json, "lacks the field 'peak_demand_kw'");
  }
  {
    auto json = valid;
    json["active_energy_delivered_kwh"] = -1.0;
    rejected(json, "active_energy_delivered_kwh");
  }
  {
    auto json = valid;
    json["integrated_until"] = std::numeric_limits<double>::quiet_NaN();
    rejected(json, "integrated_until");
  }
  {
    auto json = valid;
    json["integrated_until"] = std::numeric_limits<double>::infinity();
    rejected(json, "finite");
  }
  {
    auto json = valid;
    json["peak_demand_unix_time"] = "yesterday";
    rejected(json, "must be a number");
  }
  {
    auto json = valid;
    json["reactive_energy_received_kvarh"] = true;
    rejected(json, "must be a number");
  }
  {
    auto json = valid;
    json["energy"] = 1.0;
    rejected(json, "unknown field 'energy'");
  }
}
