#include "cli/security_commands.hpp"

#include <catch2/catch.hpp>

#include "cli/exit_codes.hpp"

using namespace cli;
using nlohmann::json;

TEST_CASE("on and off are the only switch values", "[cli][security]") {
  CHECK(parse_on_off("on") == true);
  CHECK(parse_on_off("off") == false);
  CHECK_FALSE(parse_on_off("On"));
  CHECK_FALSE(parse_on_off("yes"));
  CHECK_FALSE(parse_on_off("1"));
  CHECK_FALSE(parse_on_off(""));
}

TEST_CASE("security options sends only the options given, services nested", "[cli][security]") {
  CHECK(option_arguments({}) == json::object());

  OptionChanges changes;
  changes.web_server_programming = "off";
  changes.modbus_access = "read-only";
  changes.revenue_lock = "on";
  changes.telnet = "off";
  changes.ssh = "on";
  CHECK(option_arguments(changes) == json{{"web_server_programming", false},
                                          {"modbus_access", "read-only"},
                                          {"revenue_lock", true},
                                          {"services", {{"ssh", true}, {"telnet", false}}}});

  OptionChanges wrong;
  wrong.time_sync = "maybe";
  try {
    (void)option_arguments(wrong);
    FAIL("a value other than on or off was accepted");
  } catch (const CommandError& error) {
    CHECK(error.code == exit_usage);
  }
}

TEST_CASE("Option rows show switches as on and off, and services one a row", "[cli][security]") {
  const json options = {{"web_server", true},
                        {"modbus_access", "read-only"},
                        {"services",
                         {{"ssh", {{"enabled", true}, {"emulated", true}}},
                          {"ftp", {{"enabled", false}}},
                          {"telnet", {{"enabled", false}, {"offered", false}}}}}};
  const auto rows = option_rows(options, "options.");
  CHECK(rows == std::vector<std::vector<std::string>>{{"options.modbus_access", "read-only"},
                                                      {"options.services.ftp", "off"},
                                                      {"options.services.ssh", "on (emulated)"},
                                                      {"options.services.telnet", "off (not offered)"},
                                                      {"options.web_server", "on"}});
}

TEST_CASE("Field rows flatten nested objects, join arrays and write yes and no", "[cli][security]") {
  const json show = {{"mode", "advanced"},
                     {"modes", {"legacy", "advanced"}},
                     {"lockout", {{"native", {{"attempts", 5}}}}},
                     {"password_hashing", {{"meets_minimum", false}}}};
  CHECK(field_rows(show) == std::vector<std::vector<std::string>>{{"lockout.native.attempts", "5"},
                                                                  {"mode", "advanced"},
                                                                  {"modes", "legacy, advanced"},
                                                                  {"password_hashing.meets_minimum", "no"}});
  CHECK(field_rows(json{{"changed", true}}) == std::vector<std::vector<std::string>>{{"changed", "yes"}});
}

TEST_CASE("An audit fails on a failing finding or when the meter says so; warnings pass", "[cli][security]") {
  CHECK_FALSE(audit_failed(json{{"passed", true}, {"findings", json::array()}}));
  const json warnings = {{"passed", true},
                         {"findings", {{{"id", "web-programming"}, {"severity", "warn"}}, {{"severity", "pass"}}}}};
  CHECK_FALSE(audit_failed(warnings));
  CHECK(audit_failed(json{{"passed", true}, {"findings", {{{"id", "default-password"}, {"severity", "fail"}}}}}));
  CHECK(audit_failed(json{{"passed", false}, {"findings", json::array()}}));
}

TEST_CASE("A document's password files are relative to the document's directory", "[cli][security]") {
  CHECK(password_file_path("site/security.yaml", "alice.pw") == std::filesystem::path("site/alice.pw"));
  CHECK(password_file_path("security.yaml", "secrets/alice.pw") == std::filesystem::path("secrets/alice.pw"));
  CHECK(password_file_path("/etc/m/security.yaml", "/run/secrets/a") == std::filesystem::path("/run/secrets/a"));
}
