#pragma once
// The meter's cybersecurity event log (seed 004, "Cybersecurity event logs and reports";
// IEEE 1686-2013 clause 5.2 audit trail): a persistent circular log of
// sec::SecurityEventRecord that survives kill -9 and power loss.
//
// File format, one record per line:
//   <CRC-32 of the JSON, 8 lowercase hex digits> <space> <JSON object> '\n'
//   3f1c09a2 {"number":7,"time":1700000000.5,"type":"login","priority":10,"user":"User1",...}
// The CRC-32 (IEEE 802.3, the one zlib and PNG use) finds torn and corrupted lines; it is
// no protection against someone who can write the file, which is why the file is owner-only
// in a 0700 state directory. Events are stored by name, so reordering the enumeration never
// reinterprets an old log.
//
// Writing: a record is appended with one write() and made durable with fdatasync() before
// append() returns. Once the file holds more than 2 x capacity lines it is replaced, through
// sec::write_private_file_atomically (temporary file, fsync, rename, fsync of the
// directory), by the newest `capacity` records: a kill -9 at any moment leaves the old or
// the new file, and each still ends with the newest record, so numbering carries on.
// Reading: damaged lines are skipped and counted; a damaged tail (a torn last line after a
// crash, or a file grown past the read limit) is repaired by the same atomic replacement
// at open, so later appends start on a line of their own.
//
// Not synchronized: one thread owns a log.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/result.hpp"
#include "libsec/security_events.hpp"

namespace meterd {

inline constexpr const char* k_security_event_log_file = "security-events.log";
inline constexpr std::size_t k_default_security_event_capacity = 1000;
// A line, without its '\n', is at most 4 KiB: append() shortens the detail (and user,
// protocol and connection, at k_max_security_event_name_bytes) to fit, and a longer line
// on disk is damage.
inline constexpr std::size_t k_max_security_event_line_bytes = 4096;
// User, protocol and connection are names; an attacker picks the user name of a failed
// login, so it is cut short rather than allowed to crowd out the detail.
inline constexpr std::size_t k_max_security_event_name_bytes = 128;
// At most this much of the file is read at open: a file grown beyond it (compaction kept
// failing, someone appended junk) is read from its tail.
inline constexpr std::size_t k_max_security_event_log_read_bytes = 16 * 1024 * 1024;
// 2 x capacity lines of at most 4 KiB must fit in the read limit, or open could not see
// `capacity` records.
inline constexpr std::size_t k_max_security_event_capacity =
    k_max_security_event_log_read_bytes / (2 * k_max_security_event_line_bytes);
// Meter time is the host clock plus an offset of at most about a century (meter_state);
// a time beyond +-1e11 s (some 3000 years) is not a time and is refused.
inline constexpr double k_max_security_event_time_magnitude_s = 1e11;

class SecurityEventLog {
 public:
  // Opens or creates <dir>/security-events.log (mode 0600). Keeps at most `capacity` newest
  // records; `capacity` is 1..k_max_security_event_capacity. The directory must exist.
  static proto::Result<SecurityEventLog, std::string> open(const std::filesystem::path& dir,
                                                           std::size_t capacity = k_default_security_event_capacity);

  SecurityEventLog(SecurityEventLog&& other) noexcept;
  SecurityEventLog& operator=(SecurityEventLog&& other) noexcept;
  SecurityEventLog(const SecurityEventLog&) = delete;
  SecurityEventLog& operator=(const SecurityEventLog&) = delete;
  ~SecurityEventLog();

  // Assigns the next number, appends durably (write + fdatasync) and returns the number.
  // Error text says why (disk full...). record.number is ignored. Refused: a priority the
  // log does not record (sec::is_recorded), a time that is not finite or beyond
  // k_max_security_event_time_magnitude_s, a type outside the enumeration. Strings are
  // stored as valid UTF-8 (invalid bytes become U+FFFD) and cut to fit a line; records()
  // returns them as stored. A failed append still uses up its number, so a gap in the
  // numbers shows an event that could not be written.
  proto::Result<std::uint64_t, std::string> append(sec::SecurityEventRecord record);

  // Oldest first, numbers > after_number, at most `limit`.
  std::vector<sec::SecurityEventRecord> records(std::uint64_t after_number = 0, std::size_t limit = SIZE_MAX) const;
  std::uint64_t last_number() const;  // 0 before the first record
  std::size_t size() const;
  std::size_t capacity() const;
  // Damaged lines ignored at open (a torn final line after a crash, a corrupted line, a
  // number not above the previous one).
  std::size_t skipped_on_open() const;

 private:
  SecurityEventLog(std::filesystem::path file, std::size_t capacity);
  // Replaces the file with the records held, atomically, and reopens it for appending.
  proto::Result<proto::Ok, std::string> rewrite();
  void close_file();

  std::filesystem::path file_;
  std::size_t capacity_ = 0;
  std::deque<sec::SecurityEventRecord> records_;  // the newest capacity_, oldest first
  std::uint64_t last_number_ = 0;
  std::size_t skipped_on_open_ = 0;
  std::size_t lines_in_file_ = 0;
  std::uint64_t file_size_ = 0;  // bytes of complete lines; a failed append is cut back to it
  int append_fd_ = -1;
  bool needs_rewrite_ = false;  // the file may end in a partial line
};

// Pure parser of the file text, used by open() and fuzzed. Lines are accepted in order
// when their CRC and fields are valid and their number is above the previous accepted one;
// other lines count in skipped_lines. A last line without '\n' is accepted if it is valid
// (the crash came just before the newline) and counted as skipped otherwise.
struct ParsedEventLog {
  std::vector<sec::SecurityEventRecord> records;
  std::size_t skipped_lines = 0;
};
ParsedEventLog parse_security_event_log(std::string_view text);

// One line incl. '\n', as stored. It writes `record` as it is (no shortening); invalid
// UTF-8 is written as U+FFFD.
std::string format_security_event_line(const sec::SecurityEventRecord& record);

}  // namespace meterd
