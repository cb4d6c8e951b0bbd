#include "libsec/known_meters.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "libsec/fingerprint.hpp"
#include "libsec/meter_address.hpp"
#include "libsec/private_file.hpp"

namespace sec {

namespace {

constexpr std::string_view k_blanks = " \t";
constexpr std::string_view k_new_file_header =
    "# meterctl known meters: one \"host:port SHA256:fingerprint\" line per meter.\n"
    "# A line is added when you accept a meter's key; delete a line to forget a meter.\n";

std::string at_line(const std::string& file, std::size_t line, const std::string& message) {
  return file + ":" + std::to_string(line) + ": " + message;
}

// The next blank-separated field of `rest`, removing it from `rest`.
std::string_view next_field(std::string_view& rest) {
  const auto start = rest.find_first_not_of(k_blanks);
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  const auto end = std::min(rest.find_first_of(k_blanks), rest.size());
  const auto field = rest.substr(0, end);
  rest.remove_prefix(end);
  return field;
}

// Holds flock(2) on a directory for the lifetime of the object. The lock lives on the
// directory rather than on the file because the file is replaced by rename: a lock on the
// old inode would not exclude a writer that opened the new one. No lock file is left behind.
class DirectoryLock {
 public:
  static proto::Result<std::unique_ptr<DirectoryLock>, std::string> acquire(const std::filesystem::path& directory) {
    const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return proto::unexpected("cannot open " + directory.string() + ": " + std::strerror(errno));
    auto lock = std::unique_ptr<DirectoryLock>(new DirectoryLock(fd));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) return proto::unexpected("cannot lock " + directory.string() + ": " + std::strerror(errno));
    }
    return lock;
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock() { ::close(fd_); }  // closing the last descriptor releases the lock

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

const KnownMeter* KnownMeters::find(std::string_view canonical_address) const {
  for (const auto& entry : entries) {
    if (entry.address == canonical_address) return &entry;
  }
  return nullptr;
}

proto::Result<KnownMeters, std::string> parse_known_meters(std::string_view text, std::string file) {
  if (text.size() > k_max_known_meters_file_bytes) {
    return proto::unexpected(file + ": larger than " + std::to_string(k_max_known_meters_file_bytes) + " bytes");
  }
  KnownMeters known;
  std::unordered_map<std::string, std::size_t> line_of_address;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    auto line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.size() > k_max_known_meters_line_bytes) {
      return proto::unexpected(
          at_line(file, line_number, "line longer than " + std::to_string(k_max_known_meters_line_bytes) + " bytes"));
    }
    // Files edited on Windows end lines with CR LF; the CR is not part of the entry.
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.find('\0') != std::string_view::npos) {
      return proto::unexpected(at_line(file, line_number, "NUL byte in line"));
    }
    auto rest = line;
    const auto address_text = next_field(rest);
    if (address_text.empty() || address_text.starts_with('#')) continue;
    const auto fingerprint = next_field(rest);
    if (fingerprint.empty()) {
      return proto::unexpected(at_line(
          file, line_number,
          "missing fingerprint after \"" + std::string(address_text) + "\"; expected host:port SHA256:fingerprint"));
    }
    if (!next_field(rest).empty()) {
      return proto::unexpected(
          at_line(file, line_number, "unexpected text after the fingerprint; expected host:port SHA256:fingerprint"));
    }
    auto address = canonical_meter_address(address_text);
    if (!address) return proto::unexpected(at_line(file, line_number, address.error()));
    if (!is_valid_fingerprint(fingerprint)) {
      return proto::unexpected(at_line(
          file, line_number, quoted(fingerprint) + " is not a fingerprint (SHA256: and 43 characters of base64)"));
    }
    const auto [previous, inserted] = line_of_address.try_emplace(*address, line_number);
    if (!inserted) {
      return proto::unexpected(at_line(file, line_number,
                                       "second entry for " + *address + " (the first is on line " +
                                           std::to_string(previous->second) + "); keep one"));
    }
    known.entries.push_back({std::move(*address), std::string(fingerprint), line_number});
  }
  known.file = std::move(file);
  return known;
}

std::string serialize_known_meters(const KnownMeters& known) {
  std::string text;
  for (const auto& entry : known.entries) text.append(entry.address).append(" ").append(entry.fingerprint).append("\n");
  return text;
}

proto::Result<KnownMeters, std::string> load_known_meters(const std::filesystem::path& file) {
  const auto text = read_file_if_exists(file, k_max_known_meters_file_bytes);
  if (!text) return proto::unexpected(text.error());
  if (!text->has_value()) {
    KnownMeters empty;
    empty.file = file.string();
    return empty;
  }
  return parse_known_meters(**text, file.string());
}

proto::Result<PinCheck, std::string> verify_pin(const KnownMeters& known, std::string_view address,
                                                std::string_view presented_fingerprint) {
  auto canonical = canonical_meter_address(address);
  if (!canonical) return proto::unexpected(canonical.error());
  if (!is_valid_fingerprint(presented_fingerprint)) {
    return proto::unexpected(quoted(presented_fingerprint) + " is not a fingerprint");
  }
  PinCheck check;
  check.address = std::move(*canonical);
  check.presented_fingerprint = std::string(presented_fingerprint);
  check.file = known.file;
  const auto* entry = known.find(check.address);
  if (entry == nullptr) {
    check.status = PinStatus::unknown;
    return check;
  }
  check.stored_fingerprint = entry->fingerprint;
  check.line = entry->line;
  check.status = entry->fingerprint == presented_fingerprint ? PinStatus::known_match : PinStatus::mismatch;
  return check;
}

std::string describe_pin_check(const PinCheck& check) {
  const auto location = check.file + ":" + std::to_string(check.line);
  switch (check.status) {
    case PinStatus::known_match:
      return "meter " + check.address + " presented the key pinned in " + location + " (" +
             check.presented_fingerprint + ")";
    case PinStatus::unknown:
      return "meter " + check.address + " is not in " + check.file + "; its TLS public key fingerprint is " +
             check.presented_fingerprint +
             ". Compare it with the one meterd printed or the meter's display before "
             "accepting it";
    case PinStatus::mismatch:
      return "the TLS key of meter " + check.address + " HAS CHANGED\n  pinned:    " + check.stored_fingerprint + " (" +
             location + ")\n  presented: " + check.presented_fingerprint +
             "\nSomeone may be intercepting the connection, or the meter's key was replaced (a new device "
             "certificate, a factory reset). Refusing to connect. If you have verified the new fingerprint out of "
             "band, delete line " +
             std::to_string(check.line) + " of " + check.file + " and connect again.";
  }
  return {};
}

proto::Result<proto::Ok, std::string> add_pin(const std::filesystem::path& file, std::string_view address,
                                              std::string_view fingerprint) {
  auto canonical = canonical_meter_address(address);
  if (!canonical) return proto::unexpected(canonical.error());
  if (!is_valid_fingerprint(fingerprint)) {
    return proto::unexpected(quoted(fingerprint) + " is not a fingerprint");
  }
  const auto directory = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  if (auto created = create_private_directory(directory); !created) return proto::unexpected(created.error());
  auto lock = DirectoryLock::acquire(directory);
  if (!lock) return proto::unexpected(lock.error());

  // Read under the lock: another writer may have added an entry since the caller's check.
  const auto existing = read_file_if_exists(file, k_max_known_meters_file_bytes);
  if (!existing) return proto::unexpected(existing.error());
  std::string text = existing->has_value() ? **existing : std::string(k_new_file_header);
  const auto known = parse_known_meters(text, file.string());
  if (!known) return proto::unexpected(known.error() + " (fix the file before adding meters to it)");
  if (const auto* entry = known->find(*canonical)) {
    if (entry->fingerprint == fingerprint) return proto::Ok{};
    return proto::unexpected(file.string() + ":" + std::to_string(entry->line) + " already pins " + *canonical +
                             " to " + entry->fingerprint + "; delete that line first to trust " +
                             std::string(fingerprint));
  }
  if (!text.empty() && !text.ends_with('\n')) text.push_back('\n');
  text.append(*canonical).append(" ").append(fingerprint).append("\n");
  if (text.size() > k_max_known_meters_file_bytes) {
    return proto::unexpected(file.string() + " would grow beyond " + std::to_string(k_max_known_meters_file_bytes) +
                             " bytes");
  }
  return write_private_file_atomically(file, text);
}

}  // namespace sec
