#pragma once
// Commands over the native management protocol: info, read, time, demand, test-mode.

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace cli {

void add_native_commands(CLI::App& app, Context& context);

}  // namespace cli
