#include "cli/security_history.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace cli;

namespace {

HistoryEntry sample_entry() {
  HistoryEntry entry;
  entry.unix_time = 1893456000.75;  // 2030-01-01T00:00:00Z and a fraction
  entry.local_user = "alice";
  entry.meter = "127.0.0.1:7443";
  entry.login_user = "User1";
  entry.file = "/etc/meters/site.yaml";
  entry.sha256 = std::string(64, 'a');
  return entry;
}

}  // namespace

TEST_CASE("A history line has the time, who, the meter, the login, the file, its hash and the outcome",
          "[cli][security_history]") {
  auto entry = sample_entry();
  entry.changed = true;
  entry.change_count = 3;
  CHECK(format_history_line(entry) ==
        "2030-01-01T00:00:00Z alice 127.0.0.1:7443 User1 /etc/meters/site.yaml " + std::string(64, 'a') + " changed 3");
  entry.changed = false;
  entry.change_count = 0;
  CHECK_THAT(format_history_line(entry), Catch::EndsWith(" no changes"));
}

TEST_CASE("History fields with blanks, quotes or control characters are quoted, so lines split the same way",
          "[cli][security_history]") {
  auto entry = sample_entry();
  entry.file = "/home/a b/site \"v2\".yaml";
  entry.local_user = "";
  entry.login_user = "tab\there\nnew\x01";
  const auto line = format_history_line(entry);
  CHECK_THAT(line, Catch::Contains(R"("/home/a b/site \"v2\".yaml")"));
  CHECK_THAT(line, Catch::Contains(R"( "" 127.0.0.1:7443 )"));
  CHECK_THAT(line, Catch::Contains(R"("tab\there\nnew\x01")"));
  CHECK(line.find('\n') == std::string::npos);
  entry.file = R"(C:\meters)";
  CHECK_THAT(format_history_line(entry), Catch::Contains(R"("C:\\meters")"));
}

TEST_CASE("The history file is under XDG_STATE_HOME when absolute, else ~/.local/state", "[cli][security_history]") {
  CHECK(security_history_file("/var/state", "/home/a") == "/var/state/meterctl/security.log");
  CHECK(security_history_file(nullptr, "/home/a") == "/home/a/.local/state/meterctl/security.log");
  CHECK(security_history_file("", "/home/a") == "/home/a/.local/state/meterctl/security.log");
  // The XDG Base Directory specification: a relative path is invalid and ignored.
  CHECK(security_history_file("state", "/home/a") == "/home/a/.local/state/meterctl/security.log");
}

TEST_CASE("SHA-256 is hex of the exact bytes", "[cli][security_history]") {
  // FIPS 180-2, appendix B.1 and the empty message.
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("History lines are appended to a private file in a private directory", "[cli][security_history]") {
  sec::test::TemporaryDirectory scratch("security-history");
  const auto file = scratch.path() / "state" / "meterctl" / "security.log";
  REQUIRE(append_history_line(file, "first"));
  REQUIRE(append_history_line(file, "second"));
  CHECK(sec::test::read_text(file) == "first\nsecond\n");
  CHECK(sec::test::file_mode(file) == 0600);
  CHECK(sec::test::file_mode(file.parent_path()) == 0700);

  // A symbolic link in place of the log is not followed.
  const auto link = scratch.path() / "link.log";
  std::filesystem::create_symlink(file, link);
  const auto refused = append_history_line(link, "third");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == exit_io);
  CHECK(sec::test::read_text(file) == "first\nsecond\n");
}

TEST_CASE("The local user name is never empty", "[cli][security_history]") { CHECK_FALSE(local_user_name().empty()); }
