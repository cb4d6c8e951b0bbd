#include "libsec/profile_schema.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "libproto/model/register_map.hpp"
#include "libsec/permissions.hpp"
#include "libsec/security_events.hpp"

using namespace sec;

namespace {

const std::filesystem::path k_source_dir = METERCTL_SOURCE_DIR;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<ProfileProblem> problems_of(const std::string& yaml) {
  return validate_profile_schema(YAML::Load(yaml), "p.yaml");
}

std::string listed(const std::vector<ProfileProblem>& problems) {
  std::string text;
  for (const auto& problem : problems) text += problem.location + ": " + problem.message + "\n";
  return text;
}

constexpr const char* k_header = "apiVersion: meterctl/v1\nkind: MeterProfile\n";

// The document must fail with exactly one problem, at `location`, whose message holds `words`.
void check_single_problem(const std::string& body, const std::string& location, const std::string& words) {
  const auto problems = problems_of(k_header + body);
  INFO(body);
  INFO(listed(problems));
  REQUIRE(problems.size() == 1);
  CHECK(problems.front().location == location);
  CHECK_THAT(problems.front().message, Catch::Contains(words));
}

const nlohmann::json& schema_json() {
  static const nlohmann::json schema = nlohmann::json::parse(meter_profile_schema());
  return schema;
}

}  // namespace

TEST_CASE("The embedded schema is the shipped file", "[libsec][profile_schema]") {
  CHECK(meter_profile_schema() == read_text(k_source_dir / "profiles/schema/meter-profile.schema.json"));
  CHECK(schema_json().at("$schema") == "http://json-schema.org/draft-07/schema#");
}

TEST_CASE("Every example profile passes the schema", "[libsec][profile_schema]") {
  int profiles = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(k_source_dir / "profiles/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    const auto document = YAML::LoadFile(entry.path().string());
    if (document["kind"].as<std::string>() != "MeterProfile") continue;  // inventory.yaml
    INFO(entry.path().string());
    const auto problems = validate_profile_schema(document, entry.path().string());
    INFO(listed(problems));
    CHECK(problems.empty());
    // The editor finds the schema through the first line.
    const auto text = read_text(entry.path());
    CHECK(text.starts_with("# yaml-language-server: $schema="));
    ++profiles;
  }
  CHECK(profiles >= 5);
}

TEST_CASE("A minimal profile is valid and an empty document is not", "[libsec][profile_schema]") {
  CHECK(problems_of(k_header).empty());
  const auto empty = problems_of("");
  REQUIRE(empty.size() == 1);
  CHECK(empty.front().location == "p.yaml:1:1");
  CHECK_THAT(empty.front().message, Catch::Contains("must be a mapping"));
}

TEST_CASE("apiVersion and kind are required and exact", "[libsec][profile_schema]") {
  const auto missing = problems_of("kind: MeterProfile\n");
  REQUIRE(missing.size() == 1);
  CHECK(missing.front().location == "p.yaml:1:1");
  CHECK(missing.front().message == "the profile lacks the required key 'apiVersion' (apiVersion: meterctl/v1)");
  const auto wrong = problems_of("apiVersion: meterctl/v2\nkind: MeterProfile\n");
  REQUIRE(wrong.size() == 1);
  CHECK(wrong.front().location == "p.yaml:1:13");
  CHECK(wrong.front().message == "apiVersion is 'meterctl/v2'; it must be 'meterctl/v1'");
}

TEST_CASE("Plain YAML scalars are typed as YAML 1.2 core; quoted ones are text", "[libsec][profile_schema]") {
  CHECK(problems_of(std::string(k_header) + "communications:\n  modbus_tcp: {enabled: true, port: 502}\n").empty());
  CHECK(problems_of(std::string(k_header) + "communications:\n  modbus_tcp: {enabled: TRUE, port: 0x1F6}\n").empty());
  check_single_problem("communications:\n  modbus_tcp: {port: \"502\"}\n", "p.yaml:4:22",
                       "communications.modbus_tcp.port must be a whole number, not the text \"502\" (quoted values "
                       "are text: leave out the quotes)");
  // YAML 1.1 booleans are text in YAML 1.2.
  check_single_problem("communications:\n  native:\n    enabled: yes\n", "p.yaml:5:14",
                       "communications.native.enabled must be true or false, not the text \"yes\"");
  check_single_problem("metering:\n  nominal_frequency: 50.5\n", "p.yaml:4:22",
                       "metering.nominal_frequency must be a whole number, not the number 50.5");
  check_single_problem("metadata:\n  name: [a, b]\n", "p.yaml:4:9", "metadata.name must be text, not a list");
  check_single_problem("meter:\n  min_firmware: 4.6\n", "p.yaml:4:17",
                       "meter.min_firmware must be text, not the number 4.6");
  check_single_problem("clock:\n  time_sync:\n", "p.yaml:4:3", "clock.time_sync must be true or false, not empty");
}

TEST_CASE("Unknown keys are reported at the key, each one", "[libsec][profile_schema]") {
  check_single_problem("communications:\n  modbus_tcp:\n    prot: 502\n", "p.yaml:5:5",
                       "unknown key 'prot' in communications.modbus_tcp; known keys: enabled, port, access, unit_id");
  const auto problems = problems_of(std::string(k_header) + "colour: red\nmetering:\n  wirring: wye\n  ct: {primary: 5, "
                                                            "ratio: 20}\n");
  INFO(listed(problems));
  REQUIRE(problems.size() == 3);
  CHECK(problems[0].location == "p.yaml:3:1");
  CHECK_THAT(problems[0].message, Catch::StartsWith("unknown key 'colour'; known keys: apiVersion, kind,"));
  CHECK(problems[1].location == "p.yaml:5:3");
  CHECK_THAT(problems[1].message, Catch::StartsWith("unknown key 'wirring' in metering"));
  CHECK(problems[2].location == "p.yaml:6:20");
  CHECK_THAT(problems[2].message, Catch::StartsWith("unknown key 'ratio' in metering.ct"));
}

TEST_CASE("Values out of range name the range", "[libsec][profile_schema]") {
  check_single_problem("communications:\n  modbus_tcp: {port: 70000}\n", "p.yaml:4:22",
                       "communications.modbus_tcp.port is 70000; it must be 1 to 65535");
  check_single_problem("communications:\n  modbus_tcp: {unit_id: 0}\n", "p.yaml:4:25",
                       "communications.modbus_tcp.unit_id is 0; it must be 1 to 247");
  check_single_problem("metering:\n  pt: {primary: 13800, secondary: 700}\n", "p.yaml:4:35",
                       "metering.pt.secondary is 700; it must be 1 to 690");
  check_single_problem("security:\n  session_timeout_s: 10\n", "p.yaml:4:22",
                       "security.session_timeout_s is 10; it must be 30 to 86400");
  check_single_problem("events:\n  priorities: {lockout: 256}\n", "p.yaml:4:25",
                       "events.priorities.lockout is 256; it must be 0 to 255");
  check_single_problem("communications:\n  modbus_tcp: {access: rw}\n", "p.yaml:4:24",
                       "communications.modbus_tcp.access is 'rw'; use one of: none, read-only, read-write");
  check_single_problem("metering:\n  nominal_frequency: 55\n", "p.yaml:4:22",
                       "metering.nominal_frequency is 55; use one of: 50, 60");
  check_single_problem("clock:\n  time_zone: Paris\n", "p.yaml:4:14",
                       "clock.time_zone is 'Paris'; expected an IANA zone name such as Europe/Paris, or UTC");
}

TEST_CASE("Users and recorders are located by entry and named", "[libsec][profile_schema]") {
  check_single_problem("security:\n  users:\n    - name: alice\n      permissions: [read, admin]\n", "p.yaml:6:27",
                       "security.users[alice].permissions[1] is 'admin'; use one of: all, read, time-sync");
  check_single_problem("security:\n  users:\n    - permissions: [read]\n", "p.yaml:5:7",
                       "security.users[0] lacks the required key 'name'");
  check_single_problem("security:\n  users:\n    - name: 1alice\n", "p.yaml:5:13",
                       "security.users[1alice].name is '1alice'; expected a letter followed by");
  check_single_problem("security:\n  users:\n    - {name: bob, password_file: b.pw, password_hash: "
                       "\"$scrypt$ln=17,r=8,p=1$c2FsdA$aGFzaA\"}\n",
                       "p.yaml:5:7", "security.users[bob]: give either password_file or password_hash, not both");
  const auto hash = problems_of(std::string(k_header) + "security:\n  users:\n    - {name: bob, password_hash: "
                                                        "\"$argon2id$v=19$secret\"}\n");
  REQUIRE(hash.size() == 1);
  CHECK(hash.front().location == "p.yaml:5:34");
  CHECK_THAT(hash.front().message, Catch::StartsWith("security.users[bob].password_hash is not valid; expected an "
                                                     "scrypt PHC string"));
  CHECK_THAT(hash.front().message, !Catch::Contains("argon2id"));
  check_single_problem("recorders:\n  - name: energy\n    sources: [frequency, frequency]\n", "p.yaml:5:14",
                       "recorders[energy].sources lists the same entry twice");
  check_single_problem("recorders:\n  - name: energy\n    sources: []\n", "p.yaml:5:14",
                       "recorders[energy].sources lists 0 entries; at least 1 are needed");
  check_single_problem("recorders:\n  - name: energy\n    sources: [Voltage_AN]\n", "p.yaml:5:15",
                       "recorders[energy].sources[0] is 'Voltage_AN'; expected a measurement point name");
}

TEST_CASE("Keys a profile sets elsewhere are refused with their place", "[libsec][profile_schema]") {
  check_single_problem("security:\n  options:\n    modbus_access: read-write\n", "p.yaml:5:5",
                       "security.options.modbus_access is not set here: A profile sets Modbus access in "
                       "communications.modbus_tcp.access.");
  check_single_problem("security:\n  options: {time_sync: true}\n", "p.yaml:4:13",
                       "security.options.time_sync is not set here: A profile sets time synchronisation in "
                       "clock.time_sync.");
  check_single_problem("security:\n  options:\n    web_server: false\n", "p.yaml:5:5",
                       "communications.web.mode");
  check_single_problem("security:\n  event_priorities: {login: 20}\n", "p.yaml:4:3",
                       "security.event_priorities is not set here: A profile sets event priorities in "
                       "events.priorities.");
  check_single_problem("security:\n  users:\n    - name: bob\n      password: hunter2\n", "p.yaml:6:7",
                       "security.users[bob].password is not set here: A password is never written in a profile");
}

TEST_CASE("Duplicate keys are reported at the second one", "[libsec][profile_schema]") {
  check_single_problem("clock:\n  time_sync: true\n  time_sync: false\n", "p.yaml:5:3",
                       "key 'time_sync' appears twice");
}

TEST_CASE("Problems come in document order", "[libsec][profile_schema]") {
  const auto problems = problems_of(std::string(k_header) + "metering:\n  ct: {primary: 0}\n" + std::string(8, '\n') +
                                    "clock:\n  time_zone: nowhere\n");
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].location == "p.yaml:4:17");
  CHECK(problems[1].location == "p.yaml:14:14");
}

TEST_CASE("The schema's names and ranges are those of the code", "[libsec][profile_schema]") {
  const auto& properties = schema_json().at("properties");
  const auto& priorities = properties.at("events").at("properties").at("priorities").at("properties");
  CHECK(priorities.size() == k_security_event_type_count);
  for (std::size_t index = 0; index < k_security_event_type_count; ++index) {
    CHECK(priorities.contains(std::string(to_string(static_cast<SecurityEventType>(index)))));
  }
  const auto& permission_names = properties.at("security").at("properties").at("users").at("items").at("properties")
                                     .at("permissions").at("items").at("enum");
  CHECK(permission_names.size() == k_all_permissions.size() + 1);
  for (const auto permission : k_all_permissions) {
    CHECK(std::find(permission_names.begin(), permission_names.end(), std::string(to_string(permission))) !=
          permission_names.end());
  }
  const auto& metering = properties.at("metering").at("properties");
  const std::pair<const char*, const nlohmann::json*> settings[] = {
      {"pt_primary", &metering.at("pt").at("properties").at("primary")},
      {"pt_secondary", &metering.at("pt").at("properties").at("secondary")},
      {"ct_primary", &metering.at("ct").at("properties").at("primary")},
      {"ct_secondary", &metering.at("ct").at("properties").at("secondary")},
      {"demand_interval_minutes", &metering.at("demand").at("properties").at("interval_minutes")},
      {"demand_subintervals", &metering.at("demand").at("properties").at("subintervals")},
  };
  for (const auto& [name, schema] : settings) {
    INFO(name);
    const auto* setting = proto::model::find_config_setting(name);
    REQUIRE(setting != nullptr);
    CHECK(schema->at("minimum") == setting->min);
    CHECK(schema->at("maximum") == setting->max);
  }
  // Every shipped device model is a model name the schema accepts.
  for (const auto& entry : std::filesystem::directory_iterator(k_source_dir / "profiles/models")) {
    const auto model = entry.path().stem().string();
    INFO(model);
    CHECK(problems_of(std::string(k_header) + "meter: {model: " + model + "}\n").empty());
  }
}
