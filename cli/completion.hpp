#pragma once
// Shell completion scripts generated from the CLI11 command tree, so they never drift from
// the options meterctl really has. `meterctl completion bash|zsh|fish` prints one.

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace cli {

std::string completion_script(const CLI::App& app, std::string_view shell);
void add_completion_command(CLI::App& app, Context& context);

}  // namespace cli
