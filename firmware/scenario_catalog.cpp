#include "firmware/scenario_catalog.hpp"

#include <cmath>

#include "firmware/embedded_scenarios.hpp"

namespace meterd {

namespace {

std::string_view stem(std::string_view file_name) { return file_name.substr(0, file_name.rfind('.')); }

std::string names_text() {
  std::string names;
  for (const auto& name : builtin_scenario_names()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

}  // namespace

std::vector<std::string> builtin_scenario_names() {
  std::vector<std::string> names;
  for (const auto& file : embedded_scenarios::embedded_files()) names.emplace_back(stem(file.name));
  return names;
}

bool is_builtin_scenario(std::string_view name) {
  for (const auto& file : embedded_scenarios::embedded_files()) {
    if (stem(file.name) == name) return true;
  }
  return false;
}

proto::Result<simulation::Scenario, std::string> load_builtin_scenario(std::string_view name) {
  for (const auto& file : embedded_scenarios::embedded_files()) {
    if (stem(file.name) != name) continue;
    auto scenario = simulation::load_scenario(file.contents, "embedded:" + std::string(file.name));
    if (!scenario) return proto::unexpected(scenario.error().to_string());
    return std::move(*scenario);
  }
  return proto::unexpected("no built-in scenario '" + std::string(name) + "' (built-in scenarios: " + names_text() +
                           ")");
}

proto::Result<simulation::Scenario, std::string> load_scenario_named(const std::string& name_or_path) {
  if (is_builtin_scenario(name_or_path)) return load_builtin_scenario(name_or_path);
  auto scenario = simulation::load_scenario_file(name_or_path);
  if (!scenario) {
    return proto::unexpected(scenario.error().to_string() + " (built-in scenarios: " + names_text() + ")");
  }
  return std::move(*scenario);
}

simulation::Scenario with_metering_overrides(simulation::Scenario scenario, const MeteringOverrides& overrides) {
  const double sqrt3 = std::sqrt(3.0);
  if (overrides.wiring) {
    scenario.wiring = *overrides.wiring == sec::Wiring::delta ? simulation::Wiring::delta : simulation::Wiring::wye;
  }
  if (overrides.nominal_voltage) {
    if (scenario.wiring == simulation::Wiring::delta) {
      scenario.nominal.voltage_ll = *overrides.nominal_voltage;
      scenario.nominal.voltage_ln = *overrides.nominal_voltage / sqrt3;
    } else {
      scenario.nominal.voltage_ln = *overrides.nominal_voltage;
      scenario.nominal.voltage_ll = *overrides.nominal_voltage * sqrt3;
    }
  }
  if (overrides.nominal_frequency) scenario.nominal.frequency_hz = *overrides.nominal_frequency;
  return scenario;
}

double profile_nominal_voltage(const simulation::Scenario& scenario) {
  const double volts =
      scenario.wiring == simulation::Wiring::delta ? scenario.nominal.voltage_ll : scenario.nominal.voltage_ln;
  // Scenarios give whole volts; sqrt 3 leaves 398.37... where the file said 400.
  return std::round(volts * 100.0) / 100.0;
}

}  // namespace meterd
