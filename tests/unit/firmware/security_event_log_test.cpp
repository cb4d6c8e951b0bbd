#include "firmware/security_event_log.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

using namespace meterd;
using sec::SecurityEventRecord;
using sec::SecurityEventType;

namespace {

class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::random_device entropy;
    path_ = std::filesystem::temp_directory_path() /
            ("meterd-events-test-" + std::to_string(entropy()) + std::to_string(entropy()));
    std::filesystem::create_directories(path_);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path log_file() const { return path_ / k_security_event_log_file; }

 private:
  std::filesystem::path path_;
};

SecurityEventRecord event(std::string detail, SecurityEventType type = SecurityEventType::login) {
  SecurityEventRecord record;
  record.time = 1700000000.25;
  record.user = "User1";
  record.protocol = "native";
  record.connection = "ethernet";
  record.type = type;
  record.priority = sec::default_priority(type);
  record.detail = std::move(detail);
  return record;
}

SecurityEventLog open_log(const std::filesystem::path& directory, std::size_t capacity = 1000) {
  auto log = SecurityEventLog::open(directory, capacity);
  if (!log) FAIL(log.error());
  return std::move(*log);
}

std::uint64_t append(SecurityEventLog& log, const SecurityEventRecord& record) {
  auto number = log.append(record);
  if (!number) FAIL(number.error());
  return *number;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::filesystem::path& file, std::string_view text) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

std::size_t line_count(const std::filesystem::path& file) {
  const auto text = read_text(file);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::vector<std::uint64_t> numbers_of(const std::vector<SecurityEventRecord>& records) {
  std::vector<std::uint64_t> numbers;
  for (const auto& record : records) numbers.push_back(record.number);
  return numbers;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> numbers;
  for (auto number = first; number <= last; ++number) numbers.push_back(number);
  return numbers;
}

mode_t file_mode(const std::filesystem::path& file) {
  struct stat status {};
  ::stat(file.c_str(), &status);
  return status.st_mode & 07777;
}

}  // namespace

TEST_CASE("Security event lines are a CRC-32 of the JSON and the JSON", "[firmware][events]") {
  SecurityEventRecord record;
  record.number = 7;
  record.time = 1700000000.5;
  record.user = "User1";
  record.protocol = "native";
  record.connection = "ethernet";
  record.type = SecurityEventType::login_failed;
  record.priority = 70;
  record.detail = "from 192.0.2.7";
  // Computed independently (Python's zlib.crc32): the format is what old logs hold, so it
  // must not drift.
  const std::string expected =
      "2bdf51fc "
      R"({"number":7,"time":1700000000.5,"type":"login_failed","priority":70,"user":"User1",)"
      R"("protocol":"native","connection":"ethernet","detail":"from 192.0.2.7"})"
      "\n";
  CHECK(format_security_event_line(record) == expected);
  const auto parsed = parse_security_event_log(expected);
  REQUIRE(parsed.records.size() == 1);
  CHECK(parsed.records[0] == record);
  CHECK(parsed.skipped_lines == 0);
}

TEST_CASE("Appended security events are read back in order after reopening", "[firmware][events]") {
  ScratchDirectory directory;
  std::vector<SecurityEventRecord> appended;
  {
    auto log = open_log(directory.path());
    CHECK(log.last_number() == 0);
    CHECK(log.size() == 0);
    CHECK(log.capacity() == 1000);
    CHECK(std::filesystem::exists(directory.log_file()));
    for (int index = 1; index <= 5; ++index) {
      auto record = event("event " + std::to_string(index), index % 2 == 0 ? SecurityEventType::logout
                                                                             : SecurityEventType::login);
      record.number = 999;  // ignored: the log numbers
      CHECK(append(log, record) == static_cast<std::uint64_t>(index));
      record.number = static_cast<std::uint64_t>(index);
      appended.push_back(record);
    }
    CHECK(log.records() == appended);
  }
  auto reopened = open_log(directory.path());
  CHECK(reopened.records() == appended);
  CHECK(reopened.last_number() == 5);
  CHECK(reopened.skipped_on_open() == 0);
  CHECK(append(reopened, event("after reopening")) == 6);
  CHECK(open_log(directory.path()).last_number() == 6);
}

TEST_CASE("A full security event log keeps the newest records and numbering continues", "[firmware][events]") {
  ScratchDirectory directory;
  {
    auto log = open_log(directory.path(), 10);
    for (int index = 1; index <= 25; ++index) append(log, event("event " + std::to_string(index)));
    CHECK(log.size() == 10);
    CHECK(numbers_of(log.records()) == range(16, 25));
    CHECK(log.records().front().detail == "event 16");
  }
  // Reopened with the same or a smaller capacity, the newest records are kept.
  auto reopened = open_log(directory.path(), 10);
  CHECK(numbers_of(reopened.records()) == range(16, 25));
  CHECK(append(reopened, event("next")) == 26);
  auto smaller = open_log(directory.path(), 3);
  CHECK(numbers_of(smaller.records()) == range(24, 26));
  CHECK(append(smaller, event("next")) == 27);
}

TEST_CASE("The security event log file is compacted past twice its capacity", "[firmware][events]") {
  ScratchDirectory directory;
  {
    auto log = open_log(directory.path(), 4);
    for (int index = 1; index <= 8; ++index) append(log, event("event " + std::to_string(index)));
    CHECK(line_count(directory.log_file()) == 8);  // 2 x capacity: not yet
    append(log, event("event 9"));
    CHECK(line_count(directory.log_file()) == 4);  // compacted to the newest 4
    CHECK(numbers_of(log.records()) == range(6, 9));
    append(log, event("event 10"));
    CHECK(line_count(directory.log_file()) == 5);
    CHECK(file_mode(directory.log_file()) == 0600);
  }
  auto reopened = open_log(directory.path(), 4);
  CHECK(numbers_of(reopened.records()) == range(7, 10));
  CHECK(reopened.skipped_on_open() == 0);
  CHECK(append(reopened, event("event 11")) == 11);
  // No temporary file is left behind.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory.path())) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("A log longer than twice the capacity is compacted at open", "[firmware][events]") {
  ScratchDirectory directory;
  {
    auto log = open_log(directory.path(), 100);
    for (int index = 1; index <= 30; ++index) append(log, event("event " + std::to_string(index)));
  }
  auto reopened = open_log(directory.path(), 5);
  CHECK(line_count(directory.log_file()) == 5);
  CHECK(numbers_of(reopened.records()) == range(26, 30));
  CHECK(append(reopened, event("next")) == 31);
}

TEST_CASE("A torn final line is skipped at open and the next append gets the next number", "[firmware][events]") {
  ScratchDirectory directory;
  {
    auto log = open_log(directory.path());
    for (int index = 1; index <= 3; ++index) append(log, event("event " + std::to_string(index)));
  }
  // A crash in the middle of writing record 3.
  const auto size = std::filesystem::file_size(directory.log_file());
  std::filesystem::resize_file(directory.log_file(), size - 20);
  {
    auto log = open_log(directory.path());
    CHECK(log.skipped_on_open() == 1);
    CHECK(numbers_of(log.records()) == range(1, 2));
    CHECK(log.last_number() == 2);
    CHECK(append(log, event("after the crash")) == 3);
  }
  auto reopened = open_log(directory.path());
  CHECK(reopened.skipped_on_open() == 0);  // the torn line was cleared before appending
  CHECK(numbers_of(reopened.records()) == range(1, 3));
  CHECK(reopened.records().back().detail == "after the crash");
}

TEST_CASE("A complete last record without its newline is kept", "[firmware][events]") {
  ScratchDirectory directory;
  {
    auto log = open_log(directory.path());
    for (int index = 1; index <= 2; ++index) append(log, event("event " + std::to_string(index)));
  }
  std::filesystem::resize_file(directory.log_file(), std::filesystem::file_size(directory.log_file()) - 1);
  {
    auto log = open_log(directory.path());
    CHECK(log.skipped_on_open() == 0);
    CHECK(numbers_of(log.records()) == range(1, 2));
    CHECK(append(log, event("event 3")) == 3);
  }
  CHECK(numbers_of(open_log(directory.path()).records()) == range(1, 3));
}

TEST_CASE("A corrupted middle line is skipped and the records around it kept", "[firmware][events]") {
  ScratchDirectory directory;
  {
    auto log = open_log(directory.path());
    for (int index = 1; index <= 3; ++index) append(log, event("event " + std::to_string(index)));
  }
  auto text = read_text(directory.log_file());
  const auto where = text.find("event 2");
  REQUIRE(where != std::string::npos);
  text[where] = 'E';  // one flipped letter: the CRC no longer matches
  write_text(directory.log_file(), text);

  auto log = open_log(directory.path());
  CHECK(log.skipped_on_open() == 1);
  CHECK(numbers_of(log.records()) == std::vector<std::uint64_t>{1, 3});
  CHECK(append(log, event("event 4")) == 4);
  // The damaged line is left in place, for whoever investigates, and reported again.
  auto reopened = open_log(directory.path());
  CHECK(reopened.skipped_on_open() == 1);
  CHECK(numbers_of(reopened.records()) == std::vector<std::uint64_t>{1, 3, 4});
}

TEST_CASE("Security event lines whose number does not grow are skipped", "[firmware][events]") {
  std::string text;
  for (const std::uint64_t number : {1, 2, 2, 1, 5, 3, 6}) {
    auto record = event("number " + std::to_string(number));
    record.number = number;
    text += format_security_event_line(record);
  }
  const auto parsed = parse_security_event_log(text);
  CHECK(numbers_of(parsed.records) == std::vector<std::uint64_t>{1, 2, 5, 6});
  CHECK(parsed.skipped_lines == 3);
}

TEST_CASE("Damaged security event lines are skipped", "[firmware][events]") {
  auto record = event("fine");
  record.number = 1;
  const auto good = format_security_event_line(record);
  const auto body = good.substr(9);
  const std::string damaged[] = {
      "\n",
      "not a record\n",
      good.substr(0, 8) + "\t" + body,                   // separator
      "2BDF51FC" + good.substr(8),                       // uppercase is not how the log writes
      "00000000 " + body,                                // CRC
      good.substr(0, good.size() - 2) + "\n",            // truncated JSON
      format_security_event_line(event("number 0")),     // 0 is no record number
      good.substr(0, 9) + " " + body,                    // extra space changes the CRC input
  };
  for (const auto& line : damaged) {
    INFO(line);
    const auto parsed = parse_security_event_log(line + good);
    CHECK(parsed.skipped_lines == 1);
    CHECK(parsed.records.size() == 1);
  }
}

TEST_CASE("Every prefix of a security event log parses to the complete records in it", "[firmware][events]") {
  std::string text;
  std::vector<std::size_t> line_ends;  // offset of each '\n'
  for (std::uint64_t number = 1; number <= 3; ++number) {
    auto record = event("record " + std::to_string(number));
    record.number = number;
    text += format_security_event_line(record);
    line_ends.push_back(text.size() - 1);
  }
  for (std::size_t length = 0; length <= text.size(); ++length) {
    INFO("prefix of " << length << " bytes");
    const auto parsed = parse_security_event_log(std::string_view(text).substr(0, length));
    std::size_t complete = 0;
    bool cut_inside_a_line = false;
    std::size_t line_start = 0;
    for (const auto end : line_ends) {
      // A line missing only its '\n' is complete.
      if (length >= end) {
        ++complete;
      } else if (length > line_start) {
        cut_inside_a_line = true;
      }
      line_start = end + 1;
    }
    CHECK(parsed.records.size() == complete);
    CHECK(parsed.skipped_lines == (cut_inside_a_line ? 1U : 0U));
  }
}

TEST_CASE("Security event records page by number and limit", "[firmware][events]") {
  ScratchDirectory directory;
  auto log = open_log(directory.path(), 5);
  for (int index = 1; index <= 8; ++index) append(log, event("event " + std::to_string(index)));
  CHECK(numbers_of(log.records()) == range(4, 8));
  CHECK(numbers_of(log.records(0, 2)) == range(4, 5));
  CHECK(numbers_of(log.records(2)) == range(4, 8));  // older than the log holds
  CHECK(numbers_of(log.records(5)) == range(6, 8));
  CHECK(numbers_of(log.records(5, 2)) == range(6, 7));
  CHECK(log.records(8).empty());
  CHECK(log.records(100).empty());
  CHECK(log.records(0, 0).empty());
}

TEST_CASE("The security event log file is owner-only, even if it was not before", "[firmware][events]") {
  ScratchDirectory directory;
  const auto old_umask = ::umask(0);
  { auto log = open_log(directory.path()); }
  ::umask(old_umask);
  CHECK(file_mode(directory.log_file()) == 0600);

  ::chmod(directory.log_file().c_str(), 0644);
  {
    auto log = open_log(directory.path());
    CHECK(file_mode(directory.log_file()) == 0600);
    append(log, event("event"));
  }
  CHECK(file_mode(directory.log_file()) == 0600);
}

TEST_CASE("Security events are stored as valid UTF-8 and cut to fit a line", "[firmware][events]") {
  ScratchDirectory directory;
  auto log = open_log(directory.path());

  auto long_event = event(std::string(3000, 'x') + std::string(3000, '\x01'));  // \u0001 takes 6 bytes
  long_event.user = std::string(200, 'u');
  std::string euros;
  for (int index = 0; index < 100; ++index) euros += "\xE2\x82\xAC";  // U+20AC, 3 bytes
  long_event.protocol = euros;
  append(log, long_event);

  static constexpr char raw_detail[] = "bad \xFF\xFE byte, nul \0 and \"quotes\"\n";
  static constexpr char stored_detail[] = "bad \xEF\xBF\xBD\xEF\xBF\xBD byte, nul \0 and \"quotes\"\n";
  auto odd_event = event(std::string(raw_detail, sizeof raw_detail - 1));
  odd_event.user = "\xC3";  // a lead byte with nothing after it
  append(log, odd_event);

  const auto stored = log.records();
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].user == std::string(k_max_security_event_name_bytes, 'u'));
  CHECK(stored[0].protocol.size() == 126);  // 42 whole euro signs, not 128 bytes
  CHECK(stored[0].protocol == euros.substr(0, 126));
  // The longest detail that fits: one more byte (6 once escaped) would not.
  const auto line_size = format_security_event_line(stored[0]).size();
  CHECK(line_size <= k_max_security_event_line_bytes + 1);
  CHECK(line_size + 6 > k_max_security_event_line_bytes + 1);
  CHECK(stored[0].detail.substr(0, 3000) == std::string(3000, 'x'));
  CHECK(stored[0].detail.size() > 3000);
  CHECK(stored[1].user == "\xEF\xBF\xBD");  // U+FFFD
  CHECK(stored[1].detail == std::string(stored_detail, sizeof stored_detail - 1));

  // What append returns as stored is what a reopened log reads.
  const auto reopened = open_log(directory.path());
  CHECK(reopened.records() == stored);
  CHECK(reopened.skipped_on_open() == 0);
}

TEST_CASE("A security event line longer than the limit is skipped", "[firmware][events]") {
  auto record = event(std::string(k_max_security_event_line_bytes, 'x'));
  record.number = 1;
  const auto line = format_security_event_line(record);  // written as is: longer than the limit
  REQUIRE(line.size() > k_max_security_event_line_bytes + 1);
  const auto parsed = parse_security_event_log(line);
  CHECK(parsed.records.empty());
  CHECK(parsed.skipped_lines == 1);
}

TEST_CASE("Security event append refuses what the log does not record", "[firmware][events]") {
  ScratchDirectory directory;
  auto log = open_log(directory.path());

  auto informational = event("reading the configuration", SecurityEventType::configuration_access);
  const auto refused_priority = log.append(informational);
  REQUIRE_FALSE(refused_priority);
  CHECK_THAT(refused_priority.error(), Catch::Contains("priority 5"));
  informational.priority = 6;
  CHECK(append(log, informational) == 1);

  auto no_time = event("no time");
  no_time.time = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(log.append(no_time));
  no_time.time = std::numeric_limits<double>::infinity();
  CHECK_FALSE(log.append(no_time));
  no_time.time = 2e11;
  CHECK_FALSE(log.append(no_time));

  auto no_type = event("no type");
  no_type.type = static_cast<SecurityEventType>(sec::k_security_event_type_count);
  CHECK_FALSE(log.append(no_type));

  // Refusals use up no number.
  CHECK(append(log, event("next")) == 2);
  CHECK(log.size() == 2);
}

TEST_CASE("Security event log open refuses bad capacities and directories", "[firmware][events]") {
  ScratchDirectory directory;
  CHECK_FALSE(SecurityEventLog::open(directory.path(), 0));
  CHECK_FALSE(SecurityEventLog::open(directory.path(), k_max_security_event_capacity + 1));
  CHECK(SecurityEventLog::open(directory.path(), k_max_security_event_capacity));

  const auto missing = SecurityEventLog::open(directory.path() / "missing");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::Contains("missing"));

  std::filesystem::remove(directory.log_file());
  std::filesystem::create_directory(directory.log_file());
  const auto not_a_file = SecurityEventLog::open(directory.path());
  REQUIRE_FALSE(not_a_file);
  CHECK_THAT(not_a_file.error(), Catch::Contains(k_security_event_log_file));
}

TEST_CASE("A security event log larger than the read limit is read from its tail", "[firmware][events]") {
  ScratchDirectory directory;
  std::string text;
  const std::string filler(3900, 'f');
  std::uint64_t number = 0;
  while (text.size() <= k_max_security_event_log_read_bytes + 100'000) {
    auto record = event(filler);
    record.number = ++number;
    text += format_security_event_line(record);
  }
  write_text(directory.log_file(), text);

  auto log = open_log(directory.path(), 10);
  CHECK(log.last_number() == number);
  CHECK(numbers_of(log.records()) == range(number - 9, number));
  CHECK(log.skipped_on_open() == 0);  // the cut line at the head is not damage
  CHECK(line_count(directory.log_file()) == 10);
  CHECK(append(log, event("next")) == number + 1);
}

TEST_CASE("Moving a security event log keeps it appending", "[firmware][events]") {
  ScratchDirectory directory;
  auto first = open_log(directory.path());
  append(first, event("one"));
  SecurityEventLog second = std::move(first);
  CHECK(append(second, event("two")) == 2);
  auto third = open_log(directory.path());
  third = std::move(second);
  CHECK(append(third, event("three")) == 3);
  CHECK(numbers_of(open_log(directory.path()).records()) == range(1, 3));
}
