#pragma once
// Where a password comes from. Never argv: a file (--password-file or the named meter's
// password_file), standard input (--password-stdin), or a prompt on the terminal.

#include <optional>
#include <string>

#include "cli/exit_codes.hpp"
#include "libproto/result.hpp"

namespace cli {

struct PasswordOptions {
  std::string file;
  bool from_stdin = false;
};

// Reads the first line of `file` (or of stdin), else prompts on /dev/tty without echo.
proto::Result<std::string, CommandError> obtain_password(const PasswordOptions& options, const std::string& user,
                                                         const std::string& meter);

// Asks a yes/no question on the terminal; nullopt when there is no terminal.
std::optional<bool> ask_on_terminal(const std::string& question);

}  // namespace cli
