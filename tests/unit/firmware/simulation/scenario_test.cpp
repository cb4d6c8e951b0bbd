#include "firmware/simulation/scenario.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <filesystem>
#include <string>

#ifndef METERCTL_SOURCE_DIR
#error "METERCTL_SOURCE_DIR must name the repository root, to find profiles/scenarios"
#endif

namespace {

using meterd::simulation::load_scenario;
using meterd::simulation::Scenario;

// Lines 1-9; tests append to it or replace parts of it.
const std::string k_minimal = R"(apiVersion: meterctl/v1
kind: Scenario
name: test
wiring: wye
nominal:
  voltage_ln: 230
  frequency: 50
  current: 40
  power_factor: 0.95
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

struct Location {
  int line = 0;
  int column = 0;
};

// One-based line and column of the first occurrence of needle, so the tests state where
// an error must point without counting characters by hand.
Location location_of(const std::string& text, const std::string& needle) {
  const auto offset = text.find(needle);
  REQUIRE(offset != std::string::npos);
  Location location{1, 1};
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++location.line;
      location.column = 1;
    } else {
      ++location.column;
    }
  }
  return location;
}

void require_error_at(const std::string& yaml, Location expected, const std::string& message_part) {
  const auto result = load_scenario(yaml, "test.yaml");
  REQUIRE_FALSE(result.has_value());
  INFO(result.error().to_string());
  CHECK(result.error().file == "test.yaml");
  CHECK(result.error().line == expected.line);
  CHECK(result.error().column == expected.column);
  CHECK_THAT(result.error().message, Catch::Matchers::Contains(message_part));
}

}  // namespace

TEST_CASE("every shipped scenario loads", "[simulation][scenario]") {
  const auto directory = std::filesystem::path(METERCTL_SOURCE_DIR) / "profiles" / "scenarios";
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    const auto scenario = meterd::simulation::load_scenario_file(entry.path());
    if (!scenario) FAIL(scenario.error().to_string());
    CHECK(scenario->name == entry.path().stem().string());
    ++loaded;
  }
  CHECK(loaded >= 4);
}

TEST_CASE("the default steady-state scenario is what meterd promises", "[simulation][scenario]") {
  const auto path = std::filesystem::path(METERCTL_SOURCE_DIR) / "profiles/scenarios/steady-state.yaml";
  const auto scenario = meterd::simulation::load_scenario_file(path);
  REQUIRE(scenario.has_value());
  CHECK(scenario->wiring == meterd::simulation::Wiring::wye);
  CHECK(scenario->nominal.voltage_ln == 230.0);
  CHECK(scenario->nominal.frequency_hz == 50.0);
  CHECK(scenario->nominal.current == 40.0);
  CHECK(scenario->nominal.power_factor == 0.95);
  CHECK(scenario->nominal.power_factor_sense == meterd::simulation::PowerFactorSense::lagging);
  CHECK(scenario->noise.voltage_pct > 0.0);
  CHECK(scenario->noise.voltage_pct < 1.0);
  CHECK(scenario->harmonics.voltage_thd_pct > 0.0);
  CHECK(scenario->harmonics.voltage_thd_pct < 5.0);
  CHECK(scenario->events.empty());
  CHECK(scenario->load_profile.empty());
}

TEST_CASE("a minimal scenario takes the documented defaults", "[simulation][scenario]") {
  const auto scenario = load_scenario(k_minimal, "test.yaml");
  REQUIRE(scenario.has_value());
  CHECK(scenario->nominal.voltage_ll == Approx(230.0 * std::sqrt(3.0)));
  CHECK(scenario->nominal.power_factor_sense == meterd::simulation::PowerFactorSense::lagging);
  CHECK(scenario->nominal.phase_imbalance_pct == 0.0);
  CHECK(scenario->harmonics.voltage_thd_pct == 0.0);
  CHECK(scenario->noise.voltage_pct == 0.0);
  CHECK(scenario->noise.period_s == 1.0);
  CHECK(scenario->time_acceleration == 1.0);
  CHECK(scenario->utc_offset_hours == 0.0);
  CHECK(scenario->repeat_events_every_s == 0.0);
}

TEST_CASE("delta takes the line-to-line voltage", "[simulation][scenario]") {
  const auto yaml = replaced(replaced(k_minimal, "wiring: wye", "wiring: delta"), "voltage_ln: 230", "voltage_ll: 400");
  const auto scenario = load_scenario(yaml, "test.yaml");
  REQUIRE(scenario.has_value());
  CHECK(scenario->nominal.voltage_ll == 400.0);
  CHECK(scenario->nominal.voltage_ln == Approx(400.0 / std::sqrt(3.0)));

  const auto with_ln = replaced(k_minimal, "wiring: wye", "wiring: delta");
  require_error_at(with_ln, location_of(with_ln, "230"), "voltage_ll");
}

TEST_CASE("events and profile points are sorted, durations take units", "[simulation][scenario]") {
  const auto yaml = k_minimal + R"(load_profile:
  - {at: "18:00", load: 0.5}
  - {at: "06:30", load: -0.25}
events:
  - {at: 1h, duration: 1.5m, type: swell, phases: [c, a], magnitude_pct: 110}
  - {at: 90, duration: 10s, type: sag, phases: all, magnitude_pct: 70}
  - {at: 2m, duration: 500, type: frequency, deviation_hz: -0.5}
repeat_events_every: 2h
)";
  const auto scenario = load_scenario(yaml, "test.yaml");
  if (!scenario) FAIL(scenario.error().to_string());
  REQUIRE(scenario->load_profile.size() == 2);
  CHECK(scenario->load_profile[0].second_of_day == 6 * 3600 + 30 * 60);
  CHECK(scenario->load_profile[0].load == -0.25);
  CHECK(scenario->load_profile[1].second_of_day == 18 * 3600);
  REQUIRE(scenario->events.size() == 3);
  CHECK(scenario->events[0].start_s == 90.0);
  CHECK(scenario->events[0].type == meterd::simulation::EventType::sag);
  CHECK(scenario->events[0].phases == std::array<bool, 3>{true, true, true});
  CHECK(scenario->events[1].start_s == 120.0);
  CHECK(scenario->events[1].duration_s == 500.0);
  CHECK(scenario->events[1].deviation_hz == -0.5);
  CHECK(scenario->events[2].start_s == 3600.0);
  CHECK(scenario->events[2].duration_s == 90.0);
  CHECK(scenario->events[2].phases == std::array<bool, 3>{true, false, true});
  CHECK(scenario->repeat_events_every_s == 7200.0);
}

TEST_CASE("durations and times of day parse strictly", "[simulation][scenario]") {
  using meterd::simulation::parse_duration_seconds;
  using meterd::simulation::parse_time_of_day_seconds;
  CHECK(parse_duration_seconds("90") == 90.0);
  CHECK(parse_duration_seconds("90s") == 90.0);
  CHECK(parse_duration_seconds("0.5s") == 0.5);
  CHECK(parse_duration_seconds("10m") == 600.0);
  CHECK(parse_duration_seconds("2h") == 7200.0);
  for (const auto* bad : {"", "s", "-5s", "+5s", "5 s", "1e3s", "5d", "5ms", ".5s", "5.s", "1h30m", "five"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration_seconds(bad).has_value());
  }
  CHECK(parse_time_of_day_seconds("00:00") == 0.0);
  CHECK(parse_time_of_day_seconds("23:59") == 23 * 3600 + 59 * 60);
  for (const auto* bad : {"24:00", "12:60", "8:00", "08:00:00", "0800", "ab:cd", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_time_of_day_seconds(bad).has_value());
  }
}

TEST_CASE("scenario errors name file, line and column", "[simulation][scenario]") {
  SECTION("unknown top-level key") {
    const auto yaml = k_minimal + "colour: blue\n";
    require_error_at(yaml, location_of(yaml, "colour"), "unknown key 'colour'");
  }
  SECTION("unknown nested key, with the keys that are allowed") {
    const auto yaml = replaced(k_minimal, "current: 40", "curent: 40");
    require_error_at(yaml, location_of(yaml, "curent"), "voltage_ln, voltage_ll, frequency, current");
  }
  SECTION("bad number") {
    const auto yaml = replaced(k_minimal, "current: 40", "current: forty");
    require_error_at(yaml, location_of(yaml, "forty"), "must be a number");
  }
  SECTION("number out of range") {
    const auto yaml = replaced(k_minimal, "power_factor: 0.95", "power_factor: 95");
    require_error_at(yaml, location_of(yaml, "95"), "between 0 and 1");
  }
  SECTION("bad duration") {
    const auto yaml = k_minimal + "events:\n  - {at: 10x, duration: 5s, type: outage, phases: all}\n";
    require_error_at(yaml, location_of(yaml, "10x"), "must be a duration such as 90s, 10m or 2h");
  }
  SECTION("zero duration") {
    const auto yaml = k_minimal + "events:\n  - {at: 10s, duration: 0s, type: outage, phases: all}\n";
    require_error_at(yaml, location_of(yaml, "0s, type"), "more than 0s");
  }
  SECTION("bad phase") {
    const auto yaml = k_minimal + "events:\n  - {at: 10s, duration: 5s, type: outage, phases: [a, d]}\n";
    require_error_at(yaml, location_of(yaml, "d]"), "unknown phase 'd'");
  }
  SECTION("phase listed twice") {
    const auto yaml = k_minimal + "events:\n  - {at: 10s, duration: 5s, type: outage, phases: [b, b]}\n";
    require_error_at(yaml, location_of(yaml, "b]"), "twice");
  }
  SECTION("phases as a bare word other than all") {
    const auto yaml = k_minimal + "events:\n  - {at: 10s, duration: 5s, type: outage, phases: a}\n";
    require_error_at(yaml, location_of(yaml, "a}"), "the word all or a list");
  }
  SECTION("missing nominal") {
    auto yaml = k_minimal.substr(0, k_minimal.find("nominal:"));
    require_error_at(yaml, {1, 1}, "lacks the required key 'nominal'");
  }
  SECTION("missing voltage") {
    const auto yaml = replaced(k_minimal, "  voltage_ln: 230\n", "");
    require_error_at(yaml, location_of(yaml, "frequency"), "voltage_ln");
  }
  SECTION("both voltages") {
    const auto yaml = replaced(k_minimal, "  voltage_ln: 230\n", "  voltage_ln: 230\n  voltage_ll: 400\n");
    require_error_at(yaml, location_of(yaml, "400"), "both voltage_ln and voltage_ll");
  }
  SECTION("unknown wiring word") {
    const auto yaml = replaced(k_minimal, "wiring: wye", "wiring: star");
    require_error_at(yaml, location_of(yaml, "star"), "wye or delta");
  }
  SECTION("wrong apiVersion") {
    const auto yaml = replaced(k_minimal, "meterctl/v1", "meterctl/v9");
    require_error_at(yaml, location_of(yaml, "meterctl/v9"), "meterctl/v1");
  }
  SECTION("key that does not belong to the event type") {
    const auto yaml =
        k_minimal + "events:\n  - {at: 10s, duration: 5s, type: outage, phases: all, magnitude_pct: 50}\n";
    require_error_at(yaml, location_of(yaml, "magnitude_pct"), "unknown key 'magnitude_pct'");
  }
  SECTION("sag that raises the voltage") {
    const auto yaml = k_minimal + "events:\n  - {at: 10s, duration: 5s, type: sag, phases: all, magnitude_pct: 100}\n";
    require_error_at(yaml, location_of(yaml, "100"), "use type: swell");
  }
  SECTION("frequency event that leaves the supported range") {
    const auto yaml = replaced(k_minimal, "frequency: 50", "frequency: 65") +
                      "events:\n  - {at: 10s, duration: 5s, type: frequency, deviation_hz: 6}\n";
    require_error_at(yaml, location_of(yaml, "6}"), "between 40 and 70 Hz");
  }
  SECTION("repeat period shorter than the events") {
    const auto yaml = k_minimal + "events:\n  - {at: 25m, duration: 10m, type: outage, phases: all}\n"
                                  "repeat_events_every: 30m\n";
    require_error_at(yaml, location_of(yaml, "30m"), "at least that long");
  }
  SECTION("profile time not HH:MM") {
    const auto yaml = k_minimal + "load_profile:\n  - {at: \"8:00\", load: 0.5}\n";
    require_error_at(yaml, location_of(yaml, "\"8:00\""), "\"HH:MM\"");
  }
  SECTION("profile time twice") {
    const auto yaml = k_minimal + "load_profile:\n  - {at: \"08:00\", load: 0.5}\n  - {at: \"08:00\", load: 0.6}\n";
    const auto second = location_of(yaml, "\"08:00\", load: 0.6");
    require_error_at(yaml, second, "twice");
  }
  SECTION("load factor out of range") {
    const auto yaml = k_minimal + "load_profile:\n  - {at: \"08:00\", load: 3}\n";
    require_error_at(yaml, location_of(yaml, "3}"), "between -2 and 2");
  }
  SECTION("too many events") {
    auto yaml = k_minimal + "events:\n";
    for (std::size_t i = 0; i <= meterd::simulation::k_max_events; ++i) {
      yaml += "  - {at: " + std::to_string(i) + "s, duration: 1s, type: outage, phases: all}\n";
    }
    require_error_at(yaml, location_of(yaml, "- {at: 0s"), "at most 1000");
  }
  SECTION("a list where a mapping belongs") {
    const auto yaml = k_minimal + "noise: [1, 2]\n";
    require_error_at(yaml, location_of(yaml, "[1, 2]"), "must be a mapping");
  }
  SECTION("YAML syntax error") {
    const auto yaml = k_minimal + "noise: {voltage_pct: 1\n";
    const auto result = load_scenario(yaml, "test.yaml");
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().line > 0);
  }
}

TEST_CASE("a missing scenario file is an error naming the file", "[simulation][scenario]") {
  const auto result = meterd::simulation::load_scenario_file("/nonexistent/scenario.yaml");
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().file == "/nonexistent/scenario.yaml");
}
