#pragma once
// The scenarios meterd has built in (profiles/scenarios/, meter-scenario(5)), found by
// name, and the supply a profile may impose on top of a scenario (wiring, nominal voltage
// and frequency) while the rest of the scenario (load, noise, events) stays.

#include <string>
#include <string_view>
#include <vector>

#include "firmware/meter_state.hpp"
#include "firmware/simulation/scenario.hpp"
#include "libproto/result.hpp"

namespace meterd {

std::vector<std::string> builtin_scenario_names();
bool is_builtin_scenario(std::string_view name);
// The built-in scenario of that name; the error lists the names there are.
proto::Result<simulation::Scenario, std::string> load_builtin_scenario(std::string_view name);
// A built-in name, else a scenario file (the --scenario option).
proto::Result<simulation::Scenario, std::string> load_scenario_named(const std::string& name_or_path);

// `scenario` with the profile's supply: the voltage is line-to-line for delta wiring and
// line-to-neutral for wye, as meter-profile(5) has it.
simulation::Scenario with_metering_overrides(simulation::Scenario scenario, const MeteringOverrides& overrides);
// The nominal voltage of a scenario as a profile states it (line-to-line for delta).
double profile_nominal_voltage(const simulation::Scenario& scenario);

}  // namespace meterd
