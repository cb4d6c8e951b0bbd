#include "cli/password_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>

namespace cli {

namespace {

// A password is a line of text; anything longer than this is not one.
constexpr std::size_t k_max_password_input = 1024;

std::string as_password(std::string line) {
  if (line.size() > k_max_password_input) line.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string first_line(std::istream& in) {
  std::string line;
  std::getline(in, line);
  return as_password(std::move(line));
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
  if (!options.file.empty()) return read_password_file(options.file, OpenPasswordFile::warn);
  if (options.from_stdin) return first_line(std::cin);
  auto typed = read_from_terminal("Password for " + user + " on " + meter + ": ", false);
  if (!typed) {
    return proto::unexpected(CommandError{
        exit_usage, "a password is needed for " + user +
                        " and there is no terminal to ask on: use --password-file FILE or --password-stdin"});
  }
  return *typed;
}

proto::Result<std::string, CommandError> read_password_file(const std::string& file, OpenPasswordFile open_file) {
  // One descriptor for the mode check and the read, so the file checked is the file read.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return proto::unexpected(CommandError{exit_io, "cannot read the password file " + file});
  struct stat status {};
  if (::fstat(fd, &status) == 0 && (status.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    if (open_file == OpenPasswordFile::refuse) {
      ::close(fd);
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
      return proto::unexpected(CommandError{exit_config, "the password file " + file + " has mode " + mode +
                                                             ": other users may read or change it; chmod 600 it"});
    }
    std::cerr << "meterctl: warning: " << file << " can be read by other users; chmod 600 it\n";
  }
  // Reads up to the first line break, and no further than one byte past the longest password.
  std::string line;
  char buffer[256];
  while (line.size() <= k_max_password_input) {
    const auto got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      ::close(fd);
      return proto::unexpected(CommandError{exit_io, "cannot read the password file " + file});
    }
    if (got == 0) break;
    line.append(buffer, static_cast<std::size_t>(got));
    if (line.find('\n') != std::string::npos) break;
  }
  ::close(fd);
  if (const auto end = line.find('\n'); end != std::string::npos) line.resize(end);
  return as_password(std::move(line));
}

proto::Result<std::string, CommandError> obtain_new_password(const PasswordOptions& options, const std::string& user) {
  if (!options.file.empty()) return read_password_file(options.file, OpenPasswordFile::warn);
  if (options.from_stdin) return first_line(std::cin);
  auto first = read_from_terminal("New password for " + user + ": ", false);
  if (!first) {
    return proto::unexpected(CommandError{
        exit_usage, "a new password is needed for " + user +
                        " and there is no terminal to ask on: use --password-file FILE or --password-stdin"});
  }
  auto second = read_from_terminal("Retype the new password for " + user + ": ", false);
  if (!second || *second != *first) {
    return proto::unexpected(
        CommandError{exit_data, "the two passwords typed for " + user + " differ; nothing was changed"});
  }
  return *first;
}

std::optional<bool> ask_on_terminal(const std::string& question) {
  auto answer = read_from_terminal(question + " (yes/no) ", true);
  if (!answer) return std::nullopt;
  return *answer == "yes" || *answer == "y";
}

}  // namespace cli
