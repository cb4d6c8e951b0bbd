#pragma once
// `meterctl modbus ...`: read, write, id, time, watch and map.

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace cli {

void add_modbus_commands(CLI::App& app, Context& context);

}  // namespace cli
