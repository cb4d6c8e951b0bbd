#include "cli/completion.hpp"

#include <iostream>

#include "cli/exit_codes.hpp"

namespace cli {

std::string completion_script(const CLI::App&, std::string_view shell) {
  throw CommandError{exit_software, "completion for " + std::string(shell) + " is not generated yet"};
}

void add_completion_command(CLI::App& app, Context& context) {
  static std::string shell;
  auto* command = app.add_subcommand("completion", "Print a shell completion script (bash, zsh or fish)");
  command->group("");  // hidden: documented in meterctl(1), not in --help
  command->add_option("shell", shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  command->callback([&app, &context] {
    std::cout << completion_script(app, shell);
    context.exit_code = exit_ok;
  });
}

}  // namespace cli
