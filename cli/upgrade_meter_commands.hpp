#pragma once
// `meterctl upgrade status` and `meterctl upgrade apply`: a meter's firmware slots and
// trial, and a signed package brought onto one meter or rolled out over a fleet
// inventory in waves. See meterctl-upgrade(1). The logic lives in cli/upgrade_apply.hpp
// (one meter) and cli/upgrade_rollout.hpp (a fleet); this file wires them to the
// command line, the network and the output.

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace cli {

// Adds `status` and `apply` under the `upgrade` command.
void add_upgrade_meter_commands(CLI::App& upgrade, Context& context);

}  // namespace cli
