#include "firmware/security_event_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iterator>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "libsec/private_file.hpp"

namespace meterd {

namespace {

constexpr std::size_t k_checksum_digits = 8;
// "<8 hex digits> {}" is the shortest line that can hold a record at all.
constexpr std::size_t k_min_line_bytes = k_checksum_digits + 3;

// CRC-32 as in IEEE 802.3, zlib and PNG: reflected polynomial 0xEDB88320, initial value
// and final XOR 0xFFFFFFFF. Check value: "123456789" -> 0xCBF43926.
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t value = byte;
    for (int bit = 0; bit < 8; ++bit) value = (value & 1U) != 0 ? (value >> 1) ^ 0xEDB88320U : value >> 1;
    table[byte] = value;
  }
  return table;
}
constexpr auto k_crc32_table = make_crc32_table();

std::uint32_t crc32(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const char c : bytes) crc = (crc >> 8) ^ k_crc32_table[(crc ^ static_cast<unsigned char>(c)) & 0xFFU];
  return crc ^ 0xFFFFFFFFU;
}

std::string checksum_text(std::uint32_t checksum) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string text(k_checksum_digits, '0');
  for (std::size_t index = k_checksum_digits; index-- > 0; checksum >>= 4) text[index] = k_digits[checksum & 0xFU];
  return text;
}

// Lowercase only: one record has one spelling, so a line re-formats to itself.
std::optional<std::uint32_t> parse_checksum(std::string_view text) {
  std::uint32_t value = 0;
  for (const char c : text) {
    std::uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint32_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    value = (value << 4) | digit;
  }
  return value;
}

bool is_valid_time(double time) { return std::isfinite(time) && std::fabs(time) <= k_max_security_event_time_magnitude_s; }

bool is_valid_type(sec::SecurityEventType type) {
  return static_cast<std::size_t>(type) < sec::k_security_event_type_count;
}

// One line without its '\n'; nullopt when it is damaged or not a record.
std::optional<sec::SecurityEventRecord> parse_line(std::string_view line) {
  if (line.size() > k_max_security_event_line_bytes || line.size() < k_min_line_bytes) return std::nullopt;
  const auto checksum = parse_checksum(line.substr(0, k_checksum_digits));
  if (!checksum || line[k_checksum_digits] != ' ') return std::nullopt;
  const auto body = line.substr(k_checksum_digits + 1);
  if (crc32(body) != *checksum) return std::nullopt;

  const auto document = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  const auto field = [&document](const char* name) -> const nlohmann::json* {
    const auto found = document.find(name);
    return found != document.end() ? &*found : nullptr;
  };
  const auto* number = field("number");
  const auto* time = field("time");
  const auto* type = field("type");
  const auto* priority = field("priority");
  const auto* user = field("user");
  const auto* protocol = field("protocol");
  const auto* connection = field("connection");
  const auto* detail = field("detail");
  for (const auto* text : {type, user, protocol, connection, detail}) {
    if (text == nullptr || !text->is_string()) return std::nullopt;
  }
  // Integers must be stored as integers: converting 1e300 to an integer is undefined.
  if (number == nullptr || !number->is_number_unsigned() || priority == nullptr || !priority->is_number_unsigned() ||
      time == nullptr || !time->is_number()) {
    return std::nullopt;
  }

  sec::SecurityEventRecord record;
  record.number = number->get<std::uint64_t>();
  if (record.number == 0) return std::nullopt;  // 0 means "no record yet"
  record.time = time->get<double>();
  if (!is_valid_time(record.time)) return std::nullopt;
  const auto parsed_type = sec::parse_security_event_type(type->get_ref<const std::string&>());
  if (!parsed_type) return std::nullopt;
  record.type = *parsed_type;
  if (priority->get<std::uint64_t>() > 255) return std::nullopt;
  record.priority = static_cast<std::uint8_t>(priority->get<std::uint64_t>());
  record.user = user->get<std::string>();
  record.protocol = protocol->get<std::string>();
  record.connection = connection->get<std::string>();
  record.detail = detail->get<std::string>();
  // A record is accepted only if its own line fits too (a time written "1" grows to "1.0"),
  // so that every record read can be written back and read again.
  if (format_security_event_line(record).size() > k_max_security_event_line_bytes + 1) return std::nullopt;
  return record;
}

// Where to cut `text` to keep at most `max_bytes` without splitting a UTF-8 sequence (at
// most three continuation bytes follow a lead byte; beyond that it is not UTF-8 anyway).
std::size_t utf8_cut_point(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text.size();
  std::size_t cut = max_bytes;
  for (int backed_off = 0; backed_off < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U;
       ++backed_off) {
    --cut;
  }
  return cut;
}

std::string utf8_prefix(std::string_view text, std::size_t max_bytes) {
  return std::string(text.substr(0, utf8_cut_point(text, max_bytes)));
}

bool fits_in_a_line(const sec::SecurityEventRecord& record) {
  return format_security_event_line(record).size() <= k_max_security_event_line_bytes + 1;
}

// The record as the file will hold it: names cut to k_max_security_event_name_bytes, the
// detail cut to the longest prefix whose line fits, invalid UTF-8 replaced. Reading the
// formatted line back gives exactly what a reopened log will return.
std::optional<sec::SecurityEventRecord> stored_form(sec::SecurityEventRecord record) {
  for (auto* name : {&record.user, &record.protocol, &record.connection}) {
    *name = utf8_prefix(*name, k_max_security_event_name_bytes);
  }
  if (!fits_in_a_line(record)) {
    // Escaping makes a byte of detail take 1 to 6 bytes of the line, so the longest prefix
    // that fits is searched for. Names of at most 128 bytes (768 escaped) leave room for
    // an empty detail at least.
    const std::string detail = std::move(record.detail);
    std::size_t fits = 0;
    std::size_t too_long = detail.size();
    while (too_long - fits > 1) {
      const auto middle = fits + (too_long - fits) / 2;
      record.detail = utf8_prefix(detail, middle);
      (fits_in_a_line(record) ? fits : too_long) = middle;
    }
    record.detail = utf8_prefix(detail, fits);
  }
  auto line = format_security_event_line(record);
  line.pop_back();
  return parse_line(line);
}

struct LogText {
  std::string text;
  bool head_dropped = false;  // the file was larger than the read limit; text is its tail
};

// The file's last k_max_security_event_log_read_bytes, or nullopt when it does not exist.
proto::Result<std::optional<LogText>, std::string> read_log_tail(const std::filesystem::path& file) {
  // O_NONBLOCK: a FIFO planted in place of the log must not hang meterd's start.
  // O_NOFOLLOW: the log is never a symlink; one is someone pointing meterd elsewhere.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<LogText>{};
    return proto::unexpected(sec::describe_errno("cannot open", file, errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat status {};
  if (::fstat(fd, &status) != 0) return proto::unexpected(sec::describe_errno("cannot stat", file, errno));
  if (!S_ISREG(status.st_mode)) return proto::unexpected(file.string() + " is not a regular file");
  const auto size = static_cast<std::uint64_t>(status.st_size);
  LogText result;
  std::uint64_t offset = 0;
  if (size > k_max_security_event_log_read_bytes) {
    offset = size - k_max_security_event_log_read_bytes;
    result.head_dropped = true;
  }
  char buffer[65536];
  while (result.text.size() < k_max_security_event_log_read_bytes) {
    const auto wanted = std::min(sizeof buffer, k_max_security_event_log_read_bytes - result.text.size());
    const auto got = ::pread(fd, buffer, wanted, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return proto::unexpected(sec::describe_errno("cannot read", file, errno));
    }
    if (got == 0) break;
    result.text.append(buffer, static_cast<std::size_t>(got));
    offset += static_cast<std::uint64_t>(got);
  }
  return std::optional<LogText>(std::move(result));
}

}  // namespace

std::string format_security_event_line(const sec::SecurityEventRecord& record) {
  // ordered_json: the number and time lead, as a reader scanning the file expects.
  const nlohmann::ordered_json document = {
      {"number", record.number},
      {"time", record.time},
      {"type", std::string(sec::to_string(record.type))},
      {"priority", record.priority},
      {"user", record.user},
      {"protocol", record.protocol},
      {"connection", record.connection},
      {"detail", record.detail},
  };
  // replace: a user name from the network may be any bytes; strict would throw.
  const auto body = document.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::string line = checksum_text(crc32(body));
  line.append(" ").append(body).append("\n");
  return line;
}

ParsedEventLog parse_security_event_log(std::string_view text) {
  ParsedEventLog parsed;
  std::uint64_t previous_number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    auto record = parse_line(line);
    // A number not above the previous one is a line from elsewhere or a replayed copy:
    // numbers only grow, and readers page by number.
    if (!record || record->number <= previous_number) {
      ++parsed.skipped_lines;
      continue;
    }
    previous_number = record->number;
    parsed.records.push_back(std::move(*record));
  }
  return parsed;
}

SecurityEventLog::SecurityEventLog(std::filesystem::path file, std::size_t capacity)
    : file_(std::move(file)), capacity_(capacity) {}

SecurityEventLog::SecurityEventLog(SecurityEventLog&& other) noexcept
    : file_(std::move(other.file_)),
      capacity_(other.capacity_),
      records_(std::move(other.records_)),
      last_number_(other.last_number_),
      skipped_on_open_(other.skipped_on_open_),
      lines_in_file_(other.lines_in_file_),
      file_size_(other.file_size_),
      append_fd_(std::exchange(other.append_fd_, -1)),
      needs_rewrite_(other.needs_rewrite_) {}

SecurityEventLog& SecurityEventLog::operator=(SecurityEventLog&& other) noexcept {
  if (this != &other) {
    close_file();
    file_ = std::move(other.file_);
    capacity_ = other.capacity_;
    records_ = std::move(other.records_);
    last_number_ = other.last_number_;
    skipped_on_open_ = other.skipped_on_open_;
    lines_in_file_ = other.lines_in_file_;
    file_size_ = other.file_size_;
    append_fd_ = std::exchange(other.append_fd_, -1);
    needs_rewrite_ = other.needs_rewrite_;
  }
  return *this;
}

SecurityEventLog::~SecurityEventLog() { close_file(); }

void SecurityEventLog::close_file() {
  if (append_fd_ >= 0) ::close(append_fd_);
  append_fd_ = -1;
}

proto::Result<SecurityEventLog, std::string> SecurityEventLog::open(const std::filesystem::path& dir,
                                                                    std::size_t capacity) {
  if (capacity == 0 || capacity > k_max_security_event_capacity) {
    return proto::unexpected("security event log capacity must be 1.." +
                             std::to_string(k_max_security_event_capacity) + ", not " + std::to_string(capacity));
  }
  SecurityEventLog log(dir / k_security_event_log_file, capacity);
  auto read = read_log_tail(log.file_);
  if (!read) return proto::unexpected(read.error());

  bool must_rewrite = !read->has_value();  // creating the file is a rewrite of nothing
  if (read->has_value()) {
    std::string_view text = (*read)->text;
    if ((*read)->head_dropped) {
      // The cut fell inside a line; the rest of that line is not a record.
      const auto first_end = text.find('\n');
      text.remove_prefix(first_end == std::string_view::npos ? text.size() : first_end + 1);
      must_rewrite = true;
    }
    auto parsed = parse_security_event_log(text);
    log.skipped_on_open_ = parsed.skipped_lines;
    if (!parsed.records.empty()) log.last_number_ = parsed.records.back().number;
    const auto keep = std::min(parsed.records.size(), capacity);
    log.records_.assign(std::make_move_iterator(parsed.records.end() - static_cast<std::ptrdiff_t>(keep)),
                        std::make_move_iterator(parsed.records.end()));
    const auto complete_lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    log.lines_in_file_ = complete_lines;
    log.file_size_ = text.size();
    // A last line without '\n' would swallow the next append into a damaged line.
    if (!text.empty() && text.back() != '\n') must_rewrite = true;
    if (complete_lines > 2 * capacity) must_rewrite = true;
  }
  if (must_rewrite) {
    auto written = log.rewrite();
    if (!written) return proto::unexpected(written.error());
    return log;
  }
  log.append_fd_ = ::open(log.file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (log.append_fd_ < 0) return proto::unexpected(sec::describe_errno("cannot open for appending", log.file_, errno));
  // The log names users and what they did: owner-only, whatever an older file had.
  if (::fchmod(log.append_fd_, sec::k_private_file_mode) != 0) {
    return proto::unexpected(sec::describe_errno("cannot restrict the mode of", log.file_, errno));
  }
  return log;
}

proto::Result<proto::Ok, std::string> SecurityEventLog::rewrite() {
  std::string contents;
  for (const auto& record : records_) contents += format_security_event_line(record);
  auto written = sec::write_private_file_atomically(file_, contents);
  if (!written) return written;  // the old file, and the descriptor on it, are untouched
  close_file();
  lines_in_file_ = records_.size();
  file_size_ = contents.size();
  needs_rewrite_ = false;
  append_fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (append_fd_ < 0) return proto::unexpected(sec::describe_errno("cannot open for appending", file_, errno));
  return proto::Ok{};
}

proto::Result<std::uint64_t, std::string> SecurityEventLog::append(sec::SecurityEventRecord record) {
  if (!sec::is_recorded(record.priority)) {
    return proto::unexpected("security event priority " + std::to_string(record.priority) +
                             " is below the log cut-off " + std::to_string(sec::k_lowest_recorded_priority) +
                             " and is not recorded");
  }
  if (!is_valid_type(record.type)) return proto::unexpected(std::string("security event type is out of range"));
  if (!is_valid_time(record.time)) {
    return proto::unexpected(std::string("security event time is not a finite number of seconds within 1e11"));
  }
  if (last_number_ == UINT64_MAX) return proto::unexpected(std::string("security event numbers are exhausted"));
  // Used up even if the write fails: the file may hold part of it, and a gap in the
  // numbers tells an auditor that an event was lost.
  record.number = ++last_number_;
  auto stored = stored_form(std::move(record));
  if (!stored) return proto::unexpected(std::string("security event does not fit in a log line"));
  const auto number = stored->number;

  if (needs_rewrite_ || append_fd_ < 0) {
    records_.push_back(std::move(*stored));
    auto written = rewrite();
    if (!written) {
      records_.pop_back();
      return proto::unexpected("cannot record security event " + std::to_string(number) + ": " + written.error());
    }
  } else {
    const auto line = format_security_event_line(*stored);
    if (!sec::write_all(append_fd_, line) || ::fdatasync(append_fd_) != 0) {
      const int error = errno;
      const auto message = sec::describe_errno("cannot write security event " + std::to_string(number) + " to", file_, error);
      // Take back a partial line so the next append does not run into it; whether or not
      // that works, the next append replaces the whole file, which is certain to be clean.
      [[maybe_unused]] const auto truncated = ::ftruncate(append_fd_, static_cast<off_t>(file_size_));
      needs_rewrite_ = true;
      return proto::unexpected(message);
    }
    file_size_ += line.size();
    ++lines_in_file_;
    records_.push_back(std::move(*stored));
  }
  while (records_.size() > capacity_) records_.pop_front();
  if (lines_in_file_ > 2 * capacity_) {
    // Compaction only bounds the file's size; the event is already durable, so a failed
    // compaction is not the caller's error, and the next append tries again.
    static_cast<void>(rewrite());
  }
  return number;
}

std::vector<sec::SecurityEventRecord> SecurityEventLog::records(std::uint64_t after_number, std::size_t limit) const {
  const auto first = std::partition_point(records_.begin(), records_.end(), [after_number](const auto& record) {
    return record.number <= after_number;
  });
  const auto available = static_cast<std::size_t>(records_.end() - first);
  const auto count = std::min(available, limit);
  return {first, first + static_cast<std::ptrdiff_t>(count)};
}

std::uint64_t SecurityEventLog::last_number() const { return last_number_; }
std::size_t SecurityEventLog::size() const { return records_.size(); }
std::size_t SecurityEventLog::capacity() const { return capacity_; }
std::size_t SecurityEventLog::skipped_on_open() const { return skipped_on_open_; }

}  // namespace meterd
