#include "cli/app.hpp"

#include <cmath>
#include <iostream>

#include "cli/backup_commands.hpp"
#include "cli/completion.hpp"
#include "cli/config_commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/modbus_commands.hpp"
#include "cli/native_commands.hpp"
#include "cli/security_commands.hpp"
#include "cli/upgrade_commands.hpp"
#include "cli/users_commands.hpp"

namespace cli {

// CLI::Range lets NaN through (every comparison with NaN is false).
const CLI::Validator finite_number(
    [](const std::string& text) {
      try {
        return std::isfinite(std::stod(text)) ? std::string() : "must be a finite number";
      } catch (const std::exception&) {
        return std::string("must be a number");
      }
    },
    "");

// Global options may follow the subcommand too: `meterctl info --plain -o json`.
void allow_global_options_everywhere(CLI::App& app) {
  for (auto* command : app.get_subcommands([](CLI::App*) { return true; })) {
    command->fallthrough();
    allow_global_options_everywhere(*command);
  }
}

std::unique_ptr<CLI::App> make_app(Context& context) {
  auto app = std::make_unique<CLI::App>(
      "meterctl: drive electricity meters (PowerLogic ION7400, ION9000, PM8000, ION8650 and meterd)\n"
      "from the shell, scripts and CI. See meterctl(1) and meterctl-<command>(1).",
      "meterctl");
  app->set_version_flag("--version", std::string("meterctl ") + METERCTL_VERSION);
  app->require_subcommand(1);
  auto& global = context.global;
  app->add_option("--meter,-m", global.meter,
                  "HOST[:PORT] (PORT of the protocol the command speaks) or a meter named in the config file");
  app->add_option("--output,-o", global.output, "Output format: table, json, yaml or csv")
      ->check(CLI::IsMember({"table", "json", "yaml", "csv"}))
      ->capture_default_str();
  app->add_option("--timeout", global.timeout_seconds, "Seconds to wait for each answer")
      ->check(finite_number)
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app->add_flag("--verbose,-v", global.verbose, "Show each request and response on stderr");
  app->add_flag("--quiet,-q", global.quiet, "Print nothing on success where the output is only a confirmation");
  app->add_flag("--no-color", global.no_color, "No colour, even on a terminal (NO_COLOR does the same)");
  add_modbus_commands(*app, context);
  add_native_commands(*app, context);
  add_security_commands(*app, context);
  add_users_commands(*app, context);
  add_upgrade_commands(*app, context);
  add_config_commands(*app, context);
  add_backup_commands(*app, context);
  allow_global_options_everywhere(*app);
  add_completion_command(*app, context);
  return app;
}

int run(int argc, char** argv) {
  Context context;
  auto app = make_app(context);
  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app->exit(error);
    return code == 0 ? exit_ok : exit_usage;
  } catch (const CommandError& error) {
    std::cerr << "meterctl: " << error.message << '\n';
    return error.code;
  } catch (const std::exception& error) {
    std::cerr << "meterctl: internal error: " << error.what() << '\n';
    return exit_software;
  }
  return context.exit_code;
}

}  // namespace cli
