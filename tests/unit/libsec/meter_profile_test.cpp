#include "libsec/meter_profile.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace sec;

namespace {

const std::string k_head = "apiVersion: meterctl/v1\nkind: MeterProfile\n";

const std::string k_full = k_head + R"(metadata:
  name: substation-7
  description: "Feeder 7: main meter"
extends: ../base/site-base.yaml
meter:
  model: ION7400
  feature_set: Advanced
  min_firmware: V004.006.000
communications:
  modbus_tcp: {enabled: true, port: 502, access: read-only, unit_id: 1}
  native: {enabled: false, port: 7700}
  secure_native: {enabled: true, port: 7443}
  web: {mode: https-redirect, http_port: 80, https_port: 443}
security:
  mode: advanced
  policy: {complexity: nerc-cip-007-5, min_length: 8}
  lockout:
    native: {attempts: 5, window_s: 300, duration_s: 600}
    web: {attempts: 3, window_s: 60, duration_s: 0}
  session_timeout_s: 900
  options:
    revenue_lock: true
    web_server_programming: false
    front_panel_programming: true
    services: {ssh: false, sftp: true, telnet: false, ftp: false}
  password_hashing: {log2_n: 17, r: 8, p: 1, fleet_allowed: false}
  users:
    - name: admin
      permissions: [all]
      password_file: secrets/admin.pw
    - name: reader
      permissions: [read, time-sync]
      password_hash: "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
metering:
  wiring: delta
  pt: {primary: 20000, secondary: 120}
  ct: {primary: 400, secondary: 5}
  nominal_voltage: 230.5
  nominal_frequency: 60
  demand: {interval_minutes: 15, subintervals: 3}
clock:
  time_zone: America/Argentina/Buenos_Aires
  time_sync: false
events:
  priorities: {login_failed: 200, mode_change: 255}
recorders:
  - name: energy-15min
    sources: [active_energy_delivered, active_energy_received]
    interval_s: 900
    triggered: false
    insert_outage_records: true
  - name: trip
    sources: [current_a]
    triggered: true
simulation:
  scenario: sag-swell
)";

const std::string k_hash = "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

MeterProfile parsed(const std::string& text, std::string_view file = "p.yaml") {
  auto profile = parse_meter_profile(text, file);
  INFO(text);
  if (!profile) FAIL(profile.error());
  return std::move(*profile);
}

std::string error_of(const std::string& body) {
  const auto profile = parse_meter_profile(k_head + body, "p.yaml");
  INFO(body);
  REQUIRE_FALSE(profile);
  return profile.error();
}

}  // namespace

TEST_CASE("Every section of a profile is read into its typed place", "[libsec][meter-profile]") {
  const auto profile = parsed(k_full);
  CHECK(profile.name == "substation-7");
  CHECK(profile.description == "Feeder 7: main meter");
  CHECK(profile.extends == "../base/site-base.yaml");
  CHECK(profile.identity.model == "ION7400");
  CHECK(profile.identity.feature_set == "Advanced");
  CHECK(profile.identity.min_firmware == "4.6.0");  // normalised from the vendor's form

  const auto& communications = profile.communications;
  CHECK(communications.modbus_tcp == PortSetting{true, 502});
  CHECK(communications.modbus_unit_id == 1);
  CHECK(communications.native == PortSetting{false, 7700});
  CHECK(communications.secure_native == PortSetting{true, 7443});
  CHECK(communications.web_mode == WebMode::https_redirect);
  CHECK(communications.http_port == 80);
  CHECK(communications.https_port == 443);

  const auto& security = profile.security;
  CHECK(security.modbus_access == ModbusAccess::read_only);
  CHECK(security.web_server == true);
  CHECK(security.time_sync == false);
  CHECK(security.mode == SecurityMode::advanced);
  CHECK(security.complexity == Complexity::nerc_cip_007_5);
  CHECK(security.min_length == 8);
  CHECK(security.native_lockout.attempts == 5);
  CHECK(security.native_lockout.window == std::chrono::seconds(300));
  CHECK(security.web_lockout.duration == std::chrono::seconds(0));
  CHECK(security.session_timeout == std::chrono::seconds(900));
  CHECK(security.revenue_lock == true);
  CHECK(security.web_server_programming == false);
  CHECK(security.front_panel_programming == true);
  CHECK(security.sftp == true);
  CHECK(security.ssh == false);
  CHECK(security.hash_log2_n == 17);
  CHECK(security.fleet_allowed == false);
  REQUIRE(security.priorities.size() == 2);
  CHECK(security.priorities[0] == std::pair{SecurityEventType::login_failed, std::uint8_t{200}});
  CHECK(security.priorities[1] == std::pair{SecurityEventType::mode_change, std::uint8_t{255}});
  REQUIRE(security.users_listed);
  REQUIRE(security.users.size() == 2);
  CHECK(security.users[0].name == "admin");
  CHECK(security.users[0].permissions == PermissionSet::all());
  CHECK(security.users[0].password_file == "secrets/admin.pw");
  CHECK(security.users[0].location == "p.yaml:30:7");
  CHECK(security.users[1].permissions == PermissionSet::of({Permission::read, Permission::time_sync}));
  CHECK(security.users[1].password_hash == k_hash);

  const auto& metering = profile.metering;
  CHECK(metering.wiring == Wiring::delta);
  CHECK(metering.pt_primary == 20000);
  CHECK(metering.pt_secondary == 120);
  CHECK(metering.ct_primary == 400);
  CHECK(metering.ct_secondary == 5);
  CHECK(metering.nominal_voltage == 230.5);
  CHECK(metering.nominal_frequency == 60);
  CHECK(metering.demand_interval_minutes == 15);
  CHECK(metering.demand_subintervals == 3);
  CHECK(profile.clock.time_zone == "America/Argentina/Buenos_Aires");

  REQUIRE(profile.recorders_listed);
  REQUIRE(profile.recorders.size() == 2);
  CHECK(profile.recorders[0].name == "energy-15min");
  CHECK(profile.recorders[0].sources == std::vector<std::string>{"active_energy_delivered", "active_energy_received"});
  CHECK(profile.recorders[0].interval_s == 900u);
  CHECK(profile.recorders[0].triggered == false);
  CHECK(profile.recorders[0].insert_outage_records == true);
  CHECK(profile.recorders[0].location == "p.yaml:49:5");
  CHECK(profile.recorders[1].triggered == true);
  CHECK_FALSE(profile.recorders[1].interval_s);
  CHECK(profile.scenario == "sag-swell");
}

TEST_CASE("Keys left out stay unset and lists left out are not listed", "[libsec][meter-profile]") {
  const auto profile = parsed(k_head + "communications:\n  modbus_tcp: {port: 1502}\n");
  CHECK(profile.communications.modbus_tcp.port == 1502);
  CHECK_FALSE(profile.communications.modbus_tcp.enabled);
  CHECK_FALSE(profile.security.modbus_access);
  CHECK_FALSE(profile.security.users_listed);
  CHECK_FALSE(profile.recorders_listed);
  CHECK_FALSE(profile.identity.model);

  const auto empty_lists = parsed(k_head + "security:\n  users: []\nrecorders: []\n");
  CHECK(empty_lists.security.users_listed);
  CHECK(empty_lists.recorders_listed);
  CHECK(empty_lists.recorders.empty());

  const auto web_off = parsed(k_head + "communications:\n  web: {mode: disabled}\n");
  CHECK(web_off.security.web_server == false);
  CHECK(web_off.communications.web_mode == WebMode::disabled);
}

TEST_CASE("Every key read has its location, named items by name", "[libsec][meter-profile]") {
  const auto profile = parsed(k_full, "site.yaml");
  CHECK(profile.locations.at("communications.modbus_tcp.port") == "site.yaml:12:31");
  CHECK(profile.locations.at("communications.modbus_tcp.access") == "site.yaml:12:42");
  CHECK(profile.locations.at("security.users[admin].permissions") == "site.yaml:31:7");
  CHECK(profile.locations.at("security.users[reader]") == "site.yaml:33:7");
  CHECK(profile.locations.at("recorders[energy-15min].sources") == "site.yaml:50:5");
  CHECK(profile.locations.at("events.priorities.mode_change") == "site.yaml:47:35");
  CHECK(profile.locations.at("clock.time_sync") == "site.yaml:45:3");
  // Parents answer for keys they hold but the file does not name.
  CHECK(profile.location_of("recorders[trip].interval_s") == "site.yaml:54:5");
  CHECK(profile.location_of("security.users[reader].password") == "site.yaml:33:7");
  CHECK(profile.location_of("metering.pt.nothing") == "site.yaml:38:3");
  CHECK(profile.location_of("nothing.at.all").empty());

  const auto dotted = parsed(k_head + "security:\n  users:\n    - name: j.doe\n      permissions: [read]\n");
  CHECK(dotted.location_of("security.users[j.doe].password_file") == "p.yaml:5:7");
}

TEST_CASE("Each refusal names its place, line and column, and what to do", "[libsec][meter-profile]") {
  struct Case {
    std::string body;
    std::string location;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"bogus: 1\n", "p.yaml:3:1", "unknown key 'bogus' in meter profile"},
      {"security:\n  options:\n    modbus_access: none\n", "p.yaml:5:20",
       "security.options.modbus_access has its place in a profile under communications.modbus_tcp.access"},
      {"security:\n  options: {time_sync: false}\n", "p.yaml:4:24", "under clock.time_sync; move it there"},
      {"security:\n  options:\n    web_server: false\n", "p.yaml:5:17", "under communications.web.mode"},
      {"security:\n  event_priorities: {login: 3}\n", "p.yaml:4:21", "under events.priorities"},
      {"security:\n  apiVersion: x\n", "p.yaml:4:3", "unknown key 'apiVersion' in security"},
      {"security:\n  policy: {min_length: 70}\n", "p.yaml:4:24", "security.policy.min_length is 70"},
      {"security:\n  mode: secure\n", "p.yaml:4:9", "security.mode is 'secure'; use legacy, standard or advanced"},
      {"security:\n  users:\n    - name: a\n      password: x\n", "p.yaml:6:17", "a password is never written"},
      {"security:\n  users:\n    - name: a\n      permissions: [fly]\n", "p.yaml:6:21", "unknown permission 'fly'"},
      {"communications:\n  modbus_tcp: {port: 0}\n", "p.yaml:4:22",
       "communications.modbus_tcp.port is 0; it must lie between 1 and 65535"},
      {"communications:\n  modbus_tcp: {unit_id: 248}\n", "p.yaml:4:25", "unit_id is 248"},
      {"communications:\n  modbus_tcp: {access: all}\n", "p.yaml:4:24", "use none, read-only or read-write"},
      {"communications:\n  web: {mode: http}\n", "p.yaml:4:15", "use https-redirect, https or disabled"},
      {"communications:\n  native: {port: }\n", "p.yaml:4:18", "has no value; give one or remove the key"},
      {"communications:\n  native: {enabled: yes}\n", "p.yaml:4:21", "must be true or false, not 'yes'"},
      {"communications:\n  telnet: {port: 23}\n", "p.yaml:4:3", "unknown key 'telnet' in communications"},
      {"metering:\n  nominal_frequency: 55\n", "p.yaml:4:22", "use 50 or 60"},
      {"metering:\n  pt: {primary: 230, secondary: 700}\n", "p.yaml:4:33", "between 1 and 690"},
      {"metering:\n  ct: {primary: 40000}\n", "p.yaml:4:17", "between 1 and 32000"},
      {"metering:\n  ct: {primary: 2.5}\n", "p.yaml:4:17", "must be a whole number"},
      {"metering:\n  wiring: star\n", "p.yaml:4:11", "use wye or delta"},
      {"metering:\n  demand: {interval_minutes: 61}\n", "p.yaml:4:30", "between 1 and 60"},
      {"clock:\n  time_zone: Paris\n", "p.yaml:4:14", "use an IANA zone name"},
      {"events:\n  priorities: {login: 256}\n", "p.yaml:4:23", "between 0 and 255"},
      {"events:\n  priorities: {nosuch: 1}\n", "p.yaml:4:16", "unknown event type 'nosuch'"},
      {"events:\n  priorities: {login: 1, login: 2}\n", "p.yaml:4:26", "lists 'login' twice"},
      {"recorders:\n  - name: r\n    sources: [nope]\n", "p.yaml:5:15", "unknown measurement point 'nope'"},
      {"recorders:\n  - name: r\n    sources: [current_a, current_a]\n", "p.yaml:5:26", "lists 'current_a' twice"},
      {"recorders:\n  - name: r\n    sources: []\n", "p.yaml:5:14", "a list of 1 to 50"},
      {"recorders:\n  - name: r\n  - name: r\n", "p.yaml:5:11", "recorder 'r' is listed twice"},
      {"recorders:\n  - name: r\n    interval_s: 0\n", "p.yaml:5:17", "recorders[r].interval_s is 0"},
      {"recorders:\n  - name: \"a b\"\n", "p.yaml:4:11", "a recorder name has"},
      {"recorders: {name: r}\n", "p.yaml:3:12", "recorders must be a list"},
      {"meter:\n  min_firmware: 4.x\n", "p.yaml:4:17", "write a firmware version as X.Y.Z"},
      {"clock: {time_zone: UTC}\nclock: {time_zone: UTC}\n", "p.yaml:4:1", "'clock' is given twice"},
      {"simulation:\n  scenario: \"a b\"\n", "p.yaml:4:13", "name a built-in scenario"},
      {"metadata: {title: x}\n", "p.yaml:3:12", "unknown key 'title' in metadata"},
  };
  for (const auto& each : cases) {
    const auto error = error_of(each.body);
    INFO(error);
    CHECK(error.starts_with(each.location + ": "));
    CHECK(error.find(each.words) != std::string::npos);
  }
}

TEST_CASE("A recorder lists at most k_max_recorder_sources sources", "[libsec][meter-profile]") {
  std::string sources;
  for (int i = 0; i < 51; ++i) sources += (sources.empty() ? "" : ", ") + std::string("current_a");
  const auto error = error_of("recorders:\n  - name: r\n    sources: [" + sources + "]\n");
  CHECK(error.starts_with("p.yaml:5:14: "));
  CHECK(error.find("lists 51 sources; a recorder logs at most 50") != std::string::npos);
}

TEST_CASE("apiVersion and kind must be exactly those of a profile", "[libsec][meter-profile]") {
  auto profile = parse_meter_profile("apiVersion: meterctl/v2\nkind: MeterProfile\n", "p.yaml");
  REQUIRE_FALSE(profile);
  CHECK(profile.error() == "p.yaml:1:13: apiVersion is 'meterctl/v2'; this version reads 'meterctl/v1'");
  profile = parse_meter_profile("apiVersion: meterctl/v1\nkind: SecurityConfiguration\n", "p.yaml");
  REQUIRE_FALSE(profile);
  CHECK(
      profile.error().starts_with("p.yaml:2:7: kind is 'SecurityConfiguration'; a meter profile has kind: "
                                  "MeterProfile"));
  profile = parse_meter_profile("kind: MeterProfile\n", "p.yaml");
  REQUIRE_FALSE(profile);
  CHECK(profile.error() == "p.yaml:1:1: meter profile lacks the required key 'apiVersion'");
  CHECK_FALSE(parse_meter_profile("", "p.yaml"));
  CHECK_FALSE(parse_meter_profile("a: [\n", "p.yaml"));
}

TEST_CASE("The security document keeps its own messages", "[libsec][meter-profile][security-document]") {
  const std::string head = "apiVersion: meterctl/v1\nkind: SecurityConfiguration\n";
  auto document = parse_security_document(head + "mode: secure\n", "d.yaml");
  REQUIRE_FALSE(document);
  CHECK(document.error() == "d.yaml:3:7: mode is 'secure'; use legacy, standard or advanced");
  document = parse_security_document(head + "policy: {min_length: 0}\n", "d.yaml");
  REQUIRE_FALSE(document);
  CHECK(document.error() == "d.yaml:3:22: policy.min_length is 0; it must lie between 1 and 64");
  document = parse_security_document(head + "users: 3\n", "d.yaml");
  REQUIRE_FALSE(document);
  CHECK(document.error() == "d.yaml:3:8: users must be a list of {name, permissions} entries");
  document = parse_security_document(
      head + "options: {modbus_access: none, time_sync: false, web_server: false}\nevent_priorities: {login: 3}\n",
      "d.yaml");
  REQUIRE(document);
  CHECK(document->modbus_access == ModbusAccess::none);
  CHECK(document->time_sync == false);
  CHECK(document->web_server == false);
  CHECK(document->priorities.size() == 1);
}

TEST_CASE("Formatting reads back to an equal profile and is stable", "[libsec][meter-profile]") {
  const auto inputs = std::vector<std::string>{
      k_full,
      k_head,
      k_head + "security:\n  users: []\nrecorders: []\n",
      k_head + "metadata:\n  name: \"true\"\n  description: \"two\\nlines, \\\"quoted\\\" # not a comment\\t\"\n",
      k_head + "security:\n  users:\n    - name: solo\n",
      k_head + "recorders:\n  - name: bare\n",
      k_head + "communications:\n  web: {mode: disabled}\nmetering:\n  nominal_voltage: 0.1e2\n",
      k_head + "extends: \"../a dir/base: one.yaml\"\nclock: {time_zone: Etc/GMT+5}\n",
  };
  for (const auto& input : inputs) {
    const auto profile = parsed(input);
    const auto text = format_meter_profile(profile, "Exported from a test");
    INFO(text);
    const auto again = parsed(text, "again.yaml");
    CHECK(same_settings(profile, again));
    CHECK(format_meter_profile(again, "Exported from a test") == text);
    CHECK(text.starts_with("# Exported from a test\napiVersion: meterctl/v1\nkind: MeterProfile\n"));
  }
}

TEST_CASE("The format puts sections in a stable order, small ones as flow maps", "[libsec][meter-profile]") {
  const auto text = format_meter_profile(parsed(k_full));
  CHECK(text.find("  modbus_tcp: {enabled: true, port: 502, access: read-only, unit_id: 1}\n") != std::string::npos);
  CHECK(text.find("  policy: {complexity: nerc-cip-007-5, min_length: 8}\n") != std::string::npos);
  CHECK(text.find("    - name: admin\n      permissions: [all]\n      password_file: secrets/admin.pw\n") !=
        std::string::npos);
  CHECK(text.find("      password_hash: \"" + k_hash + "\"\n") != std::string::npos);
  CHECK(text.find("password:") == std::string::npos);
  std::vector<std::size_t> positions;
  for (const auto* section : {"\nmetadata:", "\nextends:", "\nmeter:", "\ncommunications:", "\nsecurity:",
                              "\nmetering:", "\nclock:", "\nevents:", "\nrecorders:", "\nsimulation:"}) {
    positions.push_back(text.find(section));
    CHECK(positions.back() != std::string::npos);
  }
  CHECK(std::is_sorted(positions.begin(), positions.end()));

  // A long list goes one item a line.
  MeterProfile wide;
  wide.recorders_listed = true;
  wide.recorders.push_back({"wide",
                            {"voltage_an", "voltage_bn", "voltage_cn", "current_a", "current_b", "current_c",
                             "active_energy_delivered", "active_energy_received"},
                            std::nullopt,
                            std::nullopt,
                            std::nullopt,
                            ""});
  const auto wide_text = format_meter_profile(wide);
  CHECK(wide_text.find("    sources:\n      - voltage_an\n      - voltage_bn\n") != std::string::npos);
  CHECK(same_settings(parsed(wide_text), wide));
}

TEST_CASE("overlay: site keys win, named lists merge by name", "[libsec][meter-profile]") {
  const auto base = parsed(k_head + R"(extends: ../root.yaml
communications:
  modbus_tcp: {enabled: true, port: 502, access: read-only}
security:
  mode: advanced
  policy: {min_length: 8}
  users:
    - name: admin
      permissions: [all]
      password_file: admin.pw
    - name: reader
      permissions: [read]
events:
  priorities: {login: 10, lockout: 200}
recorders:
  - name: energy
    sources: [active_energy_delivered]
    interval_s: 900
)",
                           "base.yaml");
  const auto site = parsed(k_head + R"(communications:
  modbus_tcp: {port: 1502}
security:
  policy: {complexity: nerc-cip-007-5}
  users:
    - name: admin
      password_hash: ")" + k_hash +
                               R"("
    - name: operator
      permissions: [read, time-sync]
      password_file: operator.pw
events:
  priorities: {lockout: 255}
recorders:
  - name: energy
    interval_s: 300
)",
                           "site.yaml");
  const auto merged = overlay(base, site);
  CHECK_FALSE(merged.extends);
  CHECK(merged.communications.modbus_tcp == PortSetting{true, 1502});
  CHECK(merged.security.modbus_access == ModbusAccess::read_only);
  CHECK(merged.security.mode == SecurityMode::advanced);
  CHECK(merged.security.min_length == 8);
  CHECK(merged.security.complexity == Complexity::nerc_cip_007_5);
  REQUIRE(merged.security.users.size() == 3);
  const auto& admin = merged.security.users[0];
  CHECK(admin.name == "admin");
  CHECK(admin.permissions == PermissionSet::all());  // from base, key by key
  CHECK(admin.password_hash == k_hash);              // the site's password replaces the base's file
  CHECK_FALSE(admin.password_file);
  CHECK(merged.security.users[1].name == "reader");  // only in base: stays
  CHECK(merged.security.users[2].name == "operator");
  REQUIRE(merged.security.priorities.size() == 2);
  CHECK(merged.security.priorities[1] == std::pair{SecurityEventType::lockout, std::uint8_t{255}});
  REQUIRE(merged.recorders.size() == 1);
  CHECK(merged.recorders[0].sources == std::vector<std::string>{"active_energy_delivered"});
  CHECK(merged.recorders[0].interval_s == 300u);
  // The winning key's location.
  CHECK(merged.location_of("communications.modbus_tcp.port") == "site.yaml:4:16");
  CHECK(merged.location_of("communications.modbus_tcp.access").starts_with("base.yaml:"));
  CHECK(merged.location_of("security.users[reader].permissions").starts_with("base.yaml:"));
  CHECK(merged.location_of("recorders[energy].interval_s").starts_with("site.yaml:"));
  CHECK(merged.locations.count("extends") == 0);
}

TEST_CASE("flatten lists every key set with its value", "[libsec][meter-profile]") {
  const auto flat = flatten_profile(parsed(k_full));
  CHECK(flat.at("communications.modbus_tcp.port") == "502");
  CHECK(flat.at("communications.modbus_tcp.access") == "read-only");
  CHECK(flat.at("communications.web.mode") == "https-redirect");
  CHECK(flat.at("clock.time_sync") == "false");
  CHECK(flat.at("security.users[reader].permissions") == "[time-sync, read]");
  CHECK(flat.at("security.users[reader].password") == k_hash);
  CHECK(flat.at("security.users[admin].password_file") == "secrets/admin.pw");
  CHECK(flat.at("recorders[energy-15min].sources") == "[active_energy_delivered, active_energy_received]");
  CHECK(flat.at("events.priorities.login_failed") == "200");
  CHECK(flat.at("metering.nominal_voltage") == "230.5");
  CHECK(flat.at("meter.min_firmware") == "4.6.0");
  CHECK(flat.count("security.users") == 0);
  CHECK(flatten_profile(parsed(k_head + "recorders: []\n")).at("recorders") == "[]");
  CHECK(flatten_profile(parsed(k_head)).empty());
}

TEST_CASE("diff_profiles: added, removed and changed keys, passwords masked", "[libsec][meter-profile]") {
  const auto before = parsed(k_head + R"(communications:
  modbus_tcp: {port: 502, access: read-only}
security:
  users:
    - name: alice
      permissions: [read]
      password_hash: ")" + k_hash +
                             R"("
    - name: bob
      permissions: [read]
)");
  auto after = before;
  after.communications.modbus_tcp.port = 1502;
  after.security.modbus_access.reset();
  after.communications.native.enabled = true;
  after.security.users[0].password_hash = "$scrypt$ln=4,r=8,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo";
  after.security.users.pop_back();
  after.security.users.push_back({"carol", PermissionSet::of({Permission::read}), std::nullopt, k_hash, ""});

  const auto changes = diff_profiles(before, after);
  const std::vector<ProfileChange> expected = {
      {"communications.modbus_tcp.access", "read-only", std::nullopt},
      {"communications.modbus_tcp.port", "502", "1502"},
      {"communications.native.enabled", std::nullopt, "true"},
      {"security.users[alice].password", "(set)", "(changed)"},
      {"security.users[bob].permissions", "[read]", std::nullopt},
      {"security.users[carol].password", std::nullopt, "(set)"},
      {"security.users[carol].permissions", std::nullopt, "[read]"},
  };
  CHECK(changes == expected);
  for (const auto& change : changes) CHECK(to_string(change).find("scrypt") == std::string::npos);
  CHECK(to_string(changes[0]) == "- communications.modbus_tcp.access: read-only");
  CHECK(to_string(changes[1]) == "~ communications.modbus_tcp.port: 502 -> 1502");
  CHECK(to_string(changes[2]) == "+ communications.native.enabled: true");
  CHECK(diff_profiles(before, before).empty());
}

TEST_CASE("Web modes and wirings have one spelling each", "[libsec][meter-profile]") {
  for (const auto mode : {WebMode::https_redirect, WebMode::https, WebMode::disabled}) {
    CHECK(parse_web_mode(to_string(mode)) == mode);
  }
  CHECK(to_string(WebMode::https_redirect) == "https-redirect");
  CHECK_FALSE(parse_web_mode("https_redirect"));
  CHECK_FALSE(parse_web_mode("HTTPS"));
  CHECK(parse_wiring("wye") == Wiring::wye);
  CHECK(parse_wiring(to_string(Wiring::delta)) == Wiring::delta);
  CHECK_FALSE(parse_wiring("star"));
}
