#include "cli/security_history.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/evp.h>

#include "libproto/model/utc_time.hpp"
#include "libsec/private_file.hpp"

namespace cli {

namespace {

bool needs_quotes(std::string_view text) {
  if (text.empty()) return true;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == '"' || c == '\\') return true;
  }
  return false;
}

std::string history_field(std::string_view text) {
  if (!needs_quotes(text)) return std::string(text);
  std::string quoted = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (c == '\t') {
      quoted += "\\t";
    } else if (c == '\n') {
      quoted += "\\n";
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(byte));
      quoted += escaped;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

std::string format_history_line(const HistoryEntry& entry) {
  std::string line = proto::model::iso_utc(entry.unix_time);
  for (const auto* field : {&entry.local_user, &entry.meter, &entry.login_user, &entry.file, &entry.sha256}) {
    line += ' ';
    line += history_field(*field);
  }
  line += entry.changed ? " changed " + std::to_string(entry.change_count) : " no changes";
  return line;
}

std::filesystem::path security_history_file(const char* xdg_state_home, const char* home) {
  if (xdg_state_home != nullptr && *xdg_state_home == '/') {
    return std::filesystem::path(xdg_state_home) / "meterctl" / "security.log";
  }
  return std::filesystem::path(home != nullptr && *home != '\0' ? home : ".") / ".local" / "state" / "meterctl" /
         "security.log";
}

std::filesystem::path security_history_file() {
  return security_history_file(std::getenv("XDG_STATE_HOME"), std::getenv("HOME"));
}

proto::Result<proto::Ok, CommandError> append_history_line(const std::filesystem::path& file, std::string_view line) {
  const auto directory = file.parent_path();
  if (auto created = sec::create_private_directory(directory); !created) {
    return proto::unexpected(CommandError{exit_io, created.error()});
  }
  std::error_code ignored;
  const bool existed = std::filesystem::exists(file, ignored);
  // O_NOFOLLOW: a symbolic link planted in place of the log does not redirect the writes.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, sec::k_private_file_mode);
  if (fd < 0) {
    return proto::unexpected(CommandError{exit_io, "cannot open " + file.string() + ": " + errno_text(errno)});
  }
  std::string text(line);
  text += '\n';
  // The line in one write call: with O_APPEND it lands at the end in one piece, even with
  // another meterctl appending. A short write is continued; a failed one is reported.
  if (!sec::write_all(fd, text)) {
    const int error = errno;
    ::close(fd);
    return proto::unexpected(CommandError{exit_io, "cannot write " + file.string() + ": " + errno_text(error)});
  }
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    return proto::unexpected(CommandError{exit_io, "cannot sync " + file.string() + ": " + errno_text(error)});
  }
  if (::close(fd) != 0) {
    return proto::unexpected(CommandError{exit_io, "cannot write " + file.string() + ": " + errno_text(errno)});
  }
  if (!existed) {
    if (auto synced = sec::sync_directory(directory); !synced) {
      return proto::unexpected(CommandError{exit_io, synced.error()});
    }
  }
  return proto::Ok{};
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != digest.size()) {
    throw CommandError{exit_software, "SHA-256 failed (OpenSSL EVP_Digest)"};
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest.size());
  for (const auto byte : digest) {
    hex += k_hex[byte >> 4];
    hex += k_hex[byte & 0x0f];
  }
  return hex;
}

std::string local_user_name() {
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  if (const passwd* entry = ::getpwuid(::geteuid()); entry != nullptr && entry->pw_name != nullptr) {
    return entry->pw_name;
  }
  return std::to_string(::geteuid());
}

}  // namespace cli
