#include "cli/meter_config.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

using namespace cli;

TEST_CASE("HOST[:PORT] parsing covers names, IPv4 and bracketed IPv6", "[cli][config]") {
  CHECK(parse_host_port("meter.local") == std::pair<std::string, std::optional<std::uint16_t>>{"meter.local", {}});
  CHECK(parse_host_port("127.0.0.1:5020")->second == 5020);
  CHECK(parse_host_port("[::1]:502")->first == "::1");
  CHECK(parse_host_port("::1")->first == "::1");
  CHECK_FALSE(parse_host_port("host:0"));
  CHECK_FALSE(parse_host_port("host:65536"));
  CHECK_FALSE(parse_host_port("host:x"));
  CHECK_FALSE(parse_host_port(":502"));
  CHECK_FALSE(parse_host_port("[::1"));
}

TEST_CASE("The configuration file is parsed strictly with located errors", "[cli][config]") {
  const auto good = parse_meter_config(
      "default_meter: lab\nmeters:\n  lab: {host: 10.0.0.5, ports: {modbus: 5020}, unit_id: 3}\n", "c.yaml");
  REQUIRE(good);
  CHECK(good->meters.at("lab").ports.at("modbus") == 5020);
  CHECK(good->meters.at("lab").unit_id == 3);

  const auto unknown = parse_meter_config("meters:\n  lab: {host: a, colour: red}\n", "c.yaml");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == exit_config);
  CHECK_THAT(unknown.error().message, Catch::StartsWith("c.yaml:2:"));
  CHECK_THAT(unknown.error().message, Catch::Contains("colour"));

  const auto bad_port = parse_meter_config("meters:\n  lab:\n    host: a\n    ports: {modbus: 70000}\n", "c.yaml");
  REQUIRE_FALSE(bad_port);
  CHECK_THAT(bad_port.error().message, Catch::StartsWith("c.yaml:4:"));

  const auto dangling = parse_meter_config("default_meter: roof\nmeters: {lab: {host: a}}\n", "c.yaml");
  REQUIRE_FALSE(dangling);
  CHECK_THAT(dangling.error().message, Catch::Contains("roof"));
}

TEST_CASE("The meter option beats METERCTL_METER beats default_meter, and named meters carry a port per protocol",
          "[cli][config]") {
  std::random_device entropy;
  const auto file = std::filesystem::temp_directory_path() / ("meterctl-config-" + std::to_string(entropy()) + ".yaml");
  std::ofstream(file) << "default_meter: lab\nmeters:\n  lab: {host: 10.0.0.5, ports: {modbus: 5020}}\n"
                         "  roof: {host: 10.0.0.6}\n";
  ::setenv("METERCTL_CONFIG", file.c_str(), 1);
  ::unsetenv("METERCTL_METER");

  auto endpoint = resolve_meter("", "modbus", 502);
  REQUIRE(endpoint);
  CHECK(endpoint->host == "10.0.0.5");
  CHECK(endpoint->port == 5020);

  ::setenv("METERCTL_METER", "roof", 1);
  endpoint = resolve_meter("", "modbus", 502);
  CHECK(endpoint->host == "10.0.0.6");
  CHECK(endpoint->port == 502);  // no modbus port named: the protocol's default

  endpoint = resolve_meter("192.168.1.9:1502", "modbus", 502);
  CHECK(endpoint->host == "192.168.1.9");
  CHECK(endpoint->port == 1502);

  ::unsetenv("METERCTL_METER");
  ::unsetenv("METERCTL_CONFIG");
  std::filesystem::remove(file);
}
