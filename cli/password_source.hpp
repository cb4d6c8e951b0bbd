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

// A new password for `user`: the first line of `file` (or of stdin), else asked twice on
// /dev/tty without echo; the two entries must match.
proto::Result<std::string, CommandError> obtain_new_password(const PasswordOptions& options, const std::string& user);

// What to do with a password file that its group or other users may read or write.
enum class OpenPasswordFile {
  warn,    // a password the operator names on the command line: warn, and read it
  refuse,  // passwords a security document names: refuse, as ssh refuses such a private key
};

// The first line of a password file (a trailing carriage return dropped; a line longer
// than 1024 bytes reads as empty). Too-open files are refused with exit_config.
proto::Result<std::string, CommandError> read_password_file(const std::string& file, OpenPasswordFile open_file);

// Asks a yes/no question on the terminal; nullopt when there is no terminal.
std::optional<bool> ask_on_terminal(const std::string& question);

}  // namespace cli
