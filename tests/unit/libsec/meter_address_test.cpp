#include "libsec/meter_address.hpp"

#include <catch2/catch.hpp>

using namespace sec;

TEST_CASE("A meter address has one canonical spelling", "[libsec][known-meters]") {
  CHECK(canonical_meter_address("meter-7.Site.EXAMPLE:7443").value() == "meter-7.site.example:7443");
  CHECK(canonical_meter_address("10.0.0.7:7443").value() == "10.0.0.7:7443");
  CHECK(canonical_meter_address("[FD00:0:0::7]:7443").value() == "[fd00::7]:7443");
  CHECK(canonical_meter_address("[::1]:1").value() == "[::1]:1");
  CHECK(canonical_meter_address("localhost:65535").value() == "localhost:65535");
  CHECK(canonical_meter_address("meter_01:502").value() == "meter_01:502");
  CHECK(canonical_meter_address("Meter-7", 7443).value() == "meter-7:7443");
  CHECK(canonical_meter_address("fd00::7", 7443).value() == "[fd00::7]:7443");
  CHECK(canonical_meter_address("[fd00::7]", 7443).value() == "[fd00::7]:7443");
}

TEST_CASE("Malformed meter addresses are refused", "[libsec][known-meters]") {
  for (const char* text : {"",
                           "meter",
                           "meter:",
                           ":7443",
                           "meter:0",
                           "meter:65536",
                           "meter:07443",
                           "meter:+1",
                           "meter:74a3",
                           "meter: 7443",
                           "fd00::7:7443",
                           "[fd00::7]7443",
                           "[fd00::7",
                           "[meter]:1",
                           "-meter:1",
                           "meter-:1",
                           "me ter:1",
                           "meter..site:1",
                           ".meter:1",
                           "meter.:1",
                           "10.0.7:1",
                           "10.0.0.256:1",
                           "010.0.0.7:1",
                           "[10.0.0.7]:1",
                           "fe80::1%eth0:1",
                           "[fe80::1%eth0]:1",
                           "m\xc3\xa9ter:1"}) {
    INFO(text);
    CHECK_FALSE(canonical_meter_address(text));
  }
  CHECK_FALSE(canonical_meter_address("meter", 0));
  CHECK_FALSE(canonical_meter_address(std::string(64, 'a') + ".example", 1));
  CHECK(canonical_meter_address(std::string(63, 'a') + ".example", 1));
  std::string long_name;
  while (long_name.size() < 250) long_name += "abcdefghi.";
  CHECK_FALSE(canonical_meter_address(long_name + "abcd", 1));  // 254 characters
}

TEST_CASE("IP addresses are told apart from names", "[libsec][known-meters]") {
  CHECK(is_ip_address("127.0.0.1"));
  CHECK(is_ip_address("::1"));
  CHECK(is_ip_address("[::1]"));
  CHECK_FALSE(is_ip_address("localhost"));
  CHECK_FALSE(is_ip_address("10.0.7"));
  CHECK_FALSE(is_ip_address("[10.0.0.7]"));
}
