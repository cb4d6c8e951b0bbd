#include "libsec/known_meters.hpp"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "libsec/fingerprint.hpp"
#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace sec;
using sec::test::TemporaryDirectory;

namespace {

const std::string k_first = "SHA256:B8MFe0egggiigArxsjAK/CSxdR0vZ5SmSM2PbtkY0mA";
const std::string k_second = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
const std::string k_third = "SHA256:ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs";

// The error of parsing `text` as file "known_meters".
std::string parse_error(std::string_view text) {
  const auto known = parse_known_meters(text, "known_meters");
  REQUIRE_FALSE(known);
  return known.error();
}

}  // namespace

TEST_CASE("A known-meters file parses, with comments and blank lines", "[libsec][known-meters]") {
  const std::string text =
      "# meters of site 7\n"
      "\n"
      "meter-7.site.example:7443 " +
      k_first +
      "\n"
      "   # an indented comment\n"
      "\t[FD00::7]:7443\t\t" +
      k_second +
      "   \r\n"
      "10.0.0.7:7443 " +
      k_third;  // no newline at the end
  const auto known = parse_known_meters(text, "known_meters");
  REQUIRE(known);
  CHECK(known->file == "known_meters");
  REQUIRE(known->entries.size() == 3);
  CHECK(known->entries[0].address == "meter-7.site.example:7443");
  CHECK(known->entries[0].fingerprint == k_first);
  CHECK(known->entries[0].line == 3);
  CHECK(known->entries[1].address == "[fd00::7]:7443");
  CHECK(known->entries[1].line == 5);
  CHECK(known->entries[2].address == "10.0.0.7:7443");
  CHECK(known->entries[2].line == 6);
  CHECK(known->find("[fd00::7]:7443") == &known->entries[1]);
  CHECK(known->find("meter-8.site.example:7443") == nullptr);

  CHECK(parse_known_meters("", "empty")->entries.empty());
  CHECK(parse_known_meters("# nothing yet\n\n", "empty")->entries.empty());
}

TEST_CASE("Serialized entries parse back to the same entries", "[libsec][known-meters]") {
  const auto known = parse_known_meters("# x\nMeter:1 " + k_first + "\n[::1]:2 " + k_second + "\n", "a");
  REQUIRE(known);
  const auto text = serialize_known_meters(*known);
  CHECK(text == "meter:1 " + k_first + "\n[::1]:2 " + k_second + "\n");
  const auto again = parse_known_meters(text, "b");
  REQUIRE(again);
  REQUIRE(again->entries.size() == 2);
  CHECK(again->entries[0].address == known->entries[0].address);
  CHECK(again->entries[1].fingerprint == known->entries[1].fingerprint);
}

TEST_CASE("Known-meters errors name file:line", "[libsec][known-meters]") {
  const std::string good = "meter-1:7443 " + k_first + "\n";
  CHECK_THAT(parse_error(good + "meter-2:7443\n"), Catch::StartsWith("known_meters:2: missing fingerprint"));
  CHECK_THAT(parse_error(good + "meter-2:7443 " + k_second + " extra\n"),
             Catch::StartsWith("known_meters:2: unexpected text after the fingerprint"));
  CHECK_THAT(parse_error(good + "meter-2:7443 " + k_second + " # comment\n"),
             Catch::StartsWith("known_meters:2: unexpected text"));
  CHECK_THAT(parse_error(std::string("\n\nmeter-2 ") + k_second + "\n"),
             Catch::StartsWith("known_meters:3: \"meter-2\" has no port"));
  CHECK_THAT(parse_error(good + "meter-2:0 " + k_second + "\n"), Catch::StartsWith("known_meters:2:"));
  CHECK_THAT(parse_error(good + "meter-2:70000 " + k_second + "\n"),
             Catch::StartsWith("known_meters:2: \"meter-2:70000\" has no valid port"));
  CHECK_THAT(parse_error(good + "fd00::7:7443 " + k_second + "\n"),
             Catch::StartsWith("known_meters:2:") && Catch::Contains("in brackets"));
  CHECK_THAT(parse_error(good + "meter-2:7443 SHA256:abc\n"),
             Catch::StartsWith("known_meters:2: \"SHA256:abc\" is not a fingerprint"));
  CHECK_THAT(parse_error(good + "meter-2:7443 " + k_second + "=\n"), Catch::StartsWith("known_meters:2:"));
  CHECK_THAT(parse_error(good + "meter-2:7443 " + k_second + "\nMETER-1:7443 " + k_third + "\n"),
             Catch::StartsWith("known_meters:3: second entry for meter-1:7443 (the first is on line 1)"));
  std::string with_nul = good;  // appended: GCC 12 warns falsely (-Wrestrict) on string + string&&
  with_nul.append("meter-2:7443 ").push_back('\0');
  with_nul.append(k_second).append("\n");
  CHECK_THAT(parse_error(with_nul), Catch::StartsWith("known_meters:2: NUL byte"));
  CHECK_THAT(parse_error(good + "# " + std::string(k_max_known_meters_line_bytes, 'x') + "\n"),
             Catch::StartsWith("known_meters:2: line longer than 1024 bytes"));
  CHECK_THAT(parse_error(std::string(k_max_known_meters_file_bytes + 1, '\n')),
             Catch::StartsWith("known_meters: larger than"));
}

TEST_CASE("A pin matches, is unknown, or is a mismatch", "[libsec][known-meters]") {
  const auto known = parse_known_meters("# site 7\nmeter-7:7443 " + k_first + "\n[fd00::7]:7443 " + k_second + "\n",
                                        "/home/op/.config/meterctl/known_meters");
  REQUIRE(known);

  const auto match = verify_pin(*known, "METER-7:7443", k_first);
  REQUIRE(match);
  CHECK(match->status == PinStatus::known_match);
  CHECK(match->address == "meter-7:7443");
  CHECK(match->line == 2);
  CHECK(match->stored_fingerprint == k_first);

  CHECK(verify_pin(*known, "[fd00:0::7]:7443", k_second)->status == PinStatus::known_match);

  const auto unknown = verify_pin(*known, "meter-7:7444", k_first);
  REQUIRE(unknown);
  CHECK(unknown->status == PinStatus::unknown);
  CHECK(unknown->stored_fingerprint.empty());
  CHECK(unknown->line == 0);
  CHECK_THAT(describe_pin_check(*unknown), Catch::Contains("meter-7:7444 is not in") && Catch::Contains(k_first));

  const auto mismatch = verify_pin(*known, "meter-7:7443", k_third);
  REQUIRE(mismatch);
  CHECK(mismatch->status == PinStatus::mismatch);
  CHECK(mismatch->stored_fingerprint == k_first);
  CHECK(mismatch->presented_fingerprint == k_third);
  CHECK(mismatch->line == 2);
  const auto message = describe_pin_check(*mismatch);
  CHECK_THAT(message, Catch::Contains("HAS CHANGED"));
  CHECK_THAT(message, Catch::Contains(k_first));
  CHECK_THAT(message, Catch::Contains(k_third));
  CHECK_THAT(message, Catch::Contains("/home/op/.config/meterctl/known_meters:2"));
  CHECK_THAT(message, Catch::Contains("delete line 2 of /home/op/.config/meterctl/known_meters"));

  // Malformed input is an error, never a pass.
  CHECK_FALSE(verify_pin(*known, "meter-7", k_first));
  CHECK_FALSE(verify_pin(*known, "meter-7:7443", ""));
  CHECK_FALSE(verify_pin(*known, "meter-7:7443", k_first + "="));
}

TEST_CASE("add_pin creates the file, then verify_pin finds the pin", "[libsec][known-meters]") {
  TemporaryDirectory home("known-meters");
  const auto directory = home.path() / "config" / "meterctl";
  const auto file = directory / "known_meters";

  CHECK(load_known_meters(file).value().entries.empty());  // no file yet: nothing known
  REQUIRE(add_pin(file, "Meter-7:7443", k_first));
  CHECK(test::file_mode(file) == 0600);
  CHECK(test::file_mode(directory) == 0700);
  CHECK(test::file_mode(home.path() / "config") == 0700);
  const auto text = test::read_text(file);
  CHECK_THAT(text, Catch::StartsWith("# meterctl known meters"));
  CHECK_THAT(text, Catch::EndsWith("\nmeter-7:7443 " + k_first + "\n"));

  const auto known = load_known_meters(file);
  REQUIRE(known);
  CHECK(known->file == file.string());
  CHECK(verify_pin(*known, "meter-7:7443", k_first)->status == PinStatus::known_match);
  CHECK(verify_pin(*known, "meter-7:7443", k_second)->status == PinStatus::mismatch);
  // Only the file and nothing else: no temporary or lock files are left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(directory), {}) == 1);
}

TEST_CASE("add_pin keeps existing lines and comments, and never replaces a pin", "[libsec][known-meters]") {
  TemporaryDirectory home("known-meters");
  const auto file = home.path() / "known_meters";
  const std::string original = "# hand-written\nmeter-1:7443 " + k_first;  // no final newline
  test::write_text(file, original, 0644);

  REQUIRE(add_pin(file, "meter-2:7443", k_second));
  CHECK(test::read_text(file) == original + "\nmeter-2:7443 " + k_second + "\n");
  CHECK(test::file_mode(file) == 0600);

  // The same pin again is a no-op.
  REQUIRE(add_pin(file, "METER-2:7443", k_second));
  CHECK(test::read_text(file) == original + "\nmeter-2:7443 " + k_second + "\n");

  // Another key for a pinned meter is refused, with the line to delete.
  const auto replaced = add_pin(file, "meter-1:7443", k_third);
  REQUIRE_FALSE(replaced);
  CHECK_THAT(replaced.error(), Catch::Contains(file.string() + ":2 already pins meter-1:7443 to " + k_first));
  CHECK(verify_pin(load_known_meters(file).value(), "meter-1:7443", k_first)->status == PinStatus::known_match);
}

TEST_CASE("add_pin refuses to touch a malformed file or take malformed input", "[libsec][known-meters]") {
  TemporaryDirectory home("known-meters");
  const auto file = home.path() / "known_meters";
  test::write_text(file, "meter-1:7443 " + k_first + "\nbroken line\n");
  const auto result = add_pin(file, "meter-2:7443", k_second);
  REQUIRE_FALSE(result);
  CHECK_THAT(result.error(), Catch::StartsWith(file.string() + ":2:") && Catch::Contains("fix the file"));
  CHECK(test::read_text(file) == "meter-1:7443 " + k_first + "\nbroken line\n");

  CHECK_FALSE(add_pin(home.path() / "other", "meter-2", k_second));
  CHECK_FALSE(add_pin(home.path() / "other", "meter-2:7443", "SHA256:x"));
  CHECK_FALSE(std::filesystem::exists(home.path() / "other"));
}

TEST_CASE("Parallel add_pin calls keep every entry", "[libsec][known-meters]") {
  TemporaryDirectory home("known-meters");
  const auto file = home.path() / "known_meters";
  constexpr int k_meters = 24;
  std::vector<std::thread> threads;
  std::vector<int> failures(k_meters, 0);
  for (int i = 0; i < k_meters; ++i) {
    threads.emplace_back([&, i] {
      if (!add_pin(file, "meter-" + std::to_string(i) + ":7443", k_first)) failures[static_cast<std::size_t>(i)] = 1;
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(std::count(failures.begin(), failures.end(), 1) == 0);
  const auto known = load_known_meters(file);
  REQUIRE(known);
  CHECK(known->entries.size() == k_meters);
  CHECK(std::distance(std::filesystem::directory_iterator(home.path()), {}) == 1);
}

TEST_CASE("A known-meters file that cannot be read is an error naming it", "[libsec][known-meters]") {
  TemporaryDirectory home("known-meters");
  const auto directory_instead = home.path() / "known_meters";
  std::filesystem::create_directories(directory_instead);
  const auto loaded = load_known_meters(directory_instead);
  REQUIRE_FALSE(loaded);
  CHECK_THAT(loaded.error(), Catch::Contains(directory_instead.string()));
  CHECK_FALSE(add_pin(directory_instead, "meter-1:7443", k_first));
}
