#pragma once
// The meterctl command tree. main() calls run(); the completion generator and the tests
// build the same tree with make_app().

#include <memory>

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace cli {

std::unique_ptr<CLI::App> make_app(Context& context);
int run(int argc, char** argv);

}  // namespace cli
