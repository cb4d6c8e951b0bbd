#include "cli/password_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

namespace cli {

namespace {

// A password is a line of text; anything longer than this is not one.
constexpr std::size_t k_max_password_input = 1024;

std::string first_line(std::istream& in) {
  std::string line;
  std::getline(in, line);
  if (line.size() > k_max_password_input) line.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Reads a line from the terminal with echo off; nullopt without a terminal.
std::optional<std::string> read_from_terminal(const std::string& prompt, bool echo) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  termios saved{};
  const bool is_terminal = ::tcgetattr(fd, &saved) == 0;
  if (!is_terminal) {
    ::close(fd);
    return std::nullopt;
  }
  [[maybe_unused]] auto written = ::write(fd, prompt.data(), prompt.size());
  if (!echo) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string line;
  char c = 0;
  while (::read(fd, &c, 1) == 1 && c != '\n' && line.size() < k_max_password_input) line.push_back(c);
  if (!echo) {
    ::tcsetattr(fd, TCSAFLUSH, &saved);
    written = ::write(fd, "\n", 1);
  }
  ::close(fd);
  return line;
}

}  // namespace

proto::Result<std::string, CommandError> obtain_password(const PasswordOptions& options, const std::string& user,
                                                         const std::string& meter) {
  if (!options.file.empty()) {
    struct stat status {};
    if (::stat(options.file.c_str(), &status) == 0 && (status.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      std::cerr << "meterctl: warning: " << options.file
                << " can be read by other users; chmod 600 it\n";
    }
    std::ifstream in(options.file);
    if (!in) return proto::unexpected(CommandError{exit_io, "cannot read the password file " + options.file});
    return first_line(in);
  }
  if (options.from_stdin) return first_line(std::cin);
  auto typed = read_from_terminal("Password for " + user + " on " + meter + ": ", false);
  if (!typed) {
    return proto::unexpected(CommandError{
        exit_usage, "a password is needed for " + user +
                        " and there is no terminal to ask on: use --password-file FILE or --password-stdin"});
  }
  return *typed;
}

std::optional<bool> ask_on_terminal(const std::string& question) {
  auto answer = read_from_terminal(question + " (yes/no) ", true);
  if (!answer) return std::nullopt;
  return *answer == "yes" || *answer == "y";
}

}  // namespace cli
