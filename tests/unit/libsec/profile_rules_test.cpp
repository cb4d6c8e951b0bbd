#include "libsec/profile_rules.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace sec;
using proto::model::Capabilities;
using proto::model::DeviceModel;
using proto::model::Version;

namespace {

const std::string k_head = "apiVersion: meterctl/v1\nkind: MeterProfile\n";

DeviceModel model_named(std::string_view name) {
  auto model = proto::model::find_device_model(name);
  if (!model) FAIL(model.error().to_string());
  return std::move(*model);
}

Capabilities capabilities_of(const DeviceModel& model, std::string_view version, std::string_view feature_set = "") {
  auto capabilities =
      model.capabilities(feature_set.empty() ? model.default_feature_set : feature_set, *Version::parse(version));
  if (!capabilities) FAIL(capabilities.error());
  return std::move(*capabilities);
}

MeterProfile profile_of(const std::string& body) {
  auto profile = parse_meter_profile(k_head + body, "site.yaml");
  if (!profile) FAIL(profile.error());
  return std::move(*profile);
}

std::vector<std::string> problems(const std::string& body, std::string_view model_name, std::string_view version,
                                  std::string_view feature_set = "") {
  const auto model = model_named(model_name);
  std::vector<std::string> texts;
  for (const auto& problem : check_profile(profile_of(body), model, capabilities_of(model, version, feature_set))) {
    texts.push_back(problem.to_string());
  }
  return texts;
}

std::string sources(int count) {
  static const std::vector<std::string> names = {"voltage_an",
                                                 "voltage_bn",
                                                 "voltage_cn",
                                                 "voltage_ab",
                                                 "voltage_bc",
                                                 "voltage_ca",
                                                 "current_a",
                                                 "current_b",
                                                 "current_c",
                                                 "current_n",
                                                 "active_power_a",
                                                 "active_power_b",
                                                 "active_power_c",
                                                 "active_power_total",
                                                 "reactive_power_total",
                                                 "apparent_power_total",
                                                 "power_factor_total",
                                                 "frequency",
                                                 "active_energy_delivered",
                                                 "active_energy_received"};
  std::string text;
  for (int i = 0; i < count; ++i) text += (text.empty() ? "" : ", ") + names.at(static_cast<std::size_t>(i));
  return "[" + text + "]";
}

}  // namespace

TEST_CASE("A profile within every limit has no problems", "[libsec][profile-rules]") {
  const auto body = R"(meter: {model: ion7400, feature_set: advanced, min_firmware: 4.6.0}
communications:
  modbus_tcp: {access: none}
  secure_native: {enabled: true}
  web: {mode: https}
security:
  mode: advanced
  policy: {complexity: ieee-1686-2013, min_length: 16}
recorders:
  - name: energy
    sources: )" + sources(20) +
                    "\n";
  CHECK(problems(body, "ION7400", "4.6.0").empty());
}

TEST_CASE("20 recorder sources on ION7400 4.0.0 are refused, naming 4.6.0", "[libsec][profile-rules]") {
  const auto body = "recorders:\n  - name: energy\n    sources: " + sources(20) + "\n";
  const auto found = problems(body, "ION7400", "4.0.0");
  REQUIRE(found.size() == 1);
  CHECK(found[0] ==
        "site.yaml:5:5: recorder 'energy' logs 20 sources; ION7400 4.0.0 allows 16 "
        "(recorder_linked_sources); 4.6.0 allows 50");
  CHECK(problems(body, "ION7400", "4.6.0").empty());

  // Triggered recorders have their own limit, which no release lifts.
  const auto triggered = "recorders:\n  - name: trip\n    triggered: true\n    sources: " + sources(20) + "\n";
  const auto on_trigger = problems(triggered, "ION7400", "4.6.0");
  REQUIRE(on_trigger.size() == 1);
  CHECK(on_trigger[0] ==
        "site.yaml:6:5: recorder 'trip' logs 20 sources on a trigger; ION7400 4.6.0 allows 16 "
        "(recorder_linked_sources_with_trigger); no ION7400 firmware allows 20");
}

TEST_CASE("Password rules on ION7400 3.0.0 name the firmware that lifts them", "[libsec][profile-rules]") {
  const auto found =
      problems("security:\n  policy: {complexity: nerc-cip-007-5, min_length: 17}\n", "ION7400", "3.0.0");
  REQUIRE(found.size() == 2);
  CHECK(found[0] ==
        "site.yaml:4:12: security.policy.complexity is nerc-cip-007-5; ION7400 3.0.0 does not offer "
        "password_complexity; 4.6.0 does");
  CHECK(found[1] ==
        "site.yaml:4:40: security.policy.min_length is 17; ION7400 3.0.0 allows 6 (password_max_length); "
        "no ION7400 firmware allows 17");

  const auto eight = problems("security:\n  policy: {min_length: 8}\n", "ION7400", "3.0.0");
  REQUIRE(eight.size() == 1);
  CHECK(eight[0] ==
        "site.yaml:4:12: security.policy.min_length is 8; ION7400 3.0.0 allows 6 (password_max_length); "
        "4.0.0 allows 16");
  CHECK(problems("security:\n  policy: {complexity: none, min_length: 6}\n", "ION7400", "3.0.0").empty());
}

TEST_CASE("Complexity on the ION8650 is refused: no firmware offers it", "[libsec][profile-rules]") {
  const auto found = problems("security:\n  policy: {complexity: ieee-1686-2013}\n", "ION8650", "4.40.1");
  REQUIRE(found.size() == 1);
  CHECK(found[0] ==
        "site.yaml:4:12: security.policy.complexity is ieee-1686-2013; ION8650 4.40.1 does not offer "
        "password_complexity; no ION8650 firmware does");
}

TEST_CASE("More users than the model allows is a problem", "[libsec][profile-rules]") {
  const auto model = model_named("ION7400");
  auto capabilities = capabilities_of(model, "4.6.0");
  capabilities.limits[static_cast<std::size_t>(proto::model::Limit::users)] = 2;
  const auto profile = profile_of(R"(security:
  users:
    - {name: a, permissions: [read]}
    - {name: b, permissions: [read]}
    - {name: c, permissions: [read]}
)");
  const auto found = check_profile(profile, model, capabilities);
  REQUIRE(found.size() == 1);
  CHECK(found[0].location == "site.yaml:4:3");
  CHECK(found[0].message ==
        "security.users lists 3 accounts; ION7400 4.6.0 allows 2 (users); no ION7400 firmware "
        "allows 3");
  CHECK(problems("security:\n  users: [{name: a}, {name: b}]\n", "ION7400", "4.6.0").empty());
}

TEST_CASE("A security mode the firmware does not offer is a problem", "[libsec][profile-rules]") {
  const auto standard = problems("security:\n  mode: standard\n", "ION7400", "4.6.0");
  REQUIRE(standard.size() == 1);
  CHECK(standard[0] ==
        "site.yaml:4:3: security.mode is standard; ION7400 4.6.0 does not offer standard_security; "
        "no ION7400 firmware does");
  const auto legacy = problems("security:\n  mode: legacy\n", "ION8650", "4.40.1");
  REQUIRE(legacy.size() == 1);
  CHECK(legacy[0].find("does not offer legacy_security") != std::string::npos);
  CHECK(problems("security:\n  mode: advanced\n", "ION8650", "4.40.1").empty());
}

TEST_CASE("Features a setting needs: secure native before 4.0.0, access none, services, web",
          "[libsec][profile-rules]") {
  const auto secure = problems("communications:\n  secure_native: {enabled: true, port: 7443}\n", "ION7400", "3.0.0");
  REQUIRE(secure.size() == 1);
  CHECK(secure[0] ==
        "site.yaml:4:19: communications.secure_native.enabled is true; ION7400 3.0.0 does not offer "
        "secure_native; 4.0.0 does");
  CHECK(problems("communications:\n  secure_native: {enabled: false}\n", "ION7400", "3.0.0").empty());

  const auto none = problems("communications:\n  modbus_tcp: {access: none}\n", "ION8650", "4.40.1");
  REQUIRE(none.size() == 1);
  CHECK(
      none[0].starts_with("site.yaml:4:16: communications.modbus_tcp.access is none; ION8650 4.40.1 does not "
                          "offer modbus_access_none"));

  const auto telnet = problems("security:\n  options:\n    services: {ssh: true, telnet: true}\n", "ION8650", "4.40.1");
  REQUIRE(telnet.size() == 1);
  CHECK(
      telnet[0].starts_with("site.yaml:5:27: security.options.services.telnet is true; ION8650 4.40.1 does not "
                            "offer telnet"));
  CHECK(problems("communications:\n  web: {mode: https}\n", "ION8650", "4.40.1").empty());
  CHECK(problems("communications:\n  web: {mode: https}\n", "ION7400", "3.0.0").empty());
}

TEST_CASE("Identity expectations are checked against the meter", "[libsec][profile-rules]") {
  const auto found =
      problems("meter:\n  model: ION9000\n  feature_set: Essential\n  min_firmware: 4.6.0\n", "ION7400", "4.0.0");
  REQUIRE(found.size() == 3);
  CHECK(found[0] == "site.yaml:4:3: the profile is for model ION9000; this meter is ION7400 4.0.0 (Advanced)");
  CHECK(found[1] == "site.yaml:5:3: the profile is for feature set Essential; this meter is ION7400 4.0.0 (Advanced)");
  CHECK(found[2] ==
        "site.yaml:6:3: the profile needs firmware 4.6.0 or later; this meter is ION7400 4.0.0 "
        "(Advanced); upgrade it first");
  CHECK(problems("meter: {model: ion7400, feature_set: ADVANCED, min_firmware: 3.0.0}\n", "ION7400", "4.0.0").empty());
}

TEST_CASE("A feature set's limit names the feature set", "[libsec][profile-rules]") {
  std::string body = "recorders:\n";
  for (int i = 0; i < 11; ++i) {
    body += "  - {name: r" + std::to_string(i) + ", sources: [current_a], insert_outage_records: true}\n";
  }
  const auto found = problems(body, "ION7400", "4.6.0", "Essential");
  REQUIRE(found.size() == 1);
  CHECK(found[0] ==
        "site.yaml:3:1: 11 recorders insert outage records; ION7400 4.6.0 (Essential) allows 10 "
        "(recorders_with_insert_outage_records); no ION7400 firmware allows 11");
  CHECK(problems(body, "ION7400", "4.6.0", "Advanced").empty());
}

TEST_CASE("Offline capabilities: the profile's model at its lowest firmware", "[libsec][profile-rules]") {
  const auto model = model_named("ION7400");
  auto capabilities = offline_capabilities(profile_of("meter: {model: ION7400, min_firmware: 4.1.0}\n"), model);
  REQUIRE(capabilities);
  CHECK(capabilities->firmware == Version{4, 6, 0});
  CHECK(capabilities->shipped_firmware == Version{4, 6, 0});
  CHECK(capabilities->feature_set == "Advanced");

  capabilities = offline_capabilities(profile_of("meter: {model: ion7400, feature_set: essential}\n"), model);
  REQUIRE(capabilities);
  CHECK(capabilities->firmware == Version{2, 0, 0});
  CHECK(capabilities->feature_set == "Essential");

  auto refused = offline_capabilities(profile_of("clock: {time_zone: UTC}\n"), model);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().find("names no meter.model") != std::string::npos);
  refused = offline_capabilities(profile_of("meter:\n  model: PM8000\n"), model);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().starts_with("site.yaml:4:3: the profile is for model PM8000, not ION7400"));
  refused = offline_capabilities(profile_of("meter:\n  model: ION7400\n  min_firmware: 9.0.0\n"), model);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().starts_with("site.yaml:5:3: no ION7400 firmware is 9.0.0 or later"));
  refused = offline_capabilities(profile_of("meter:\n  model: ION7400\n  feature_set: Deluxe\n"), model);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().starts_with("site.yaml:5:3: model ION7400 has no feature set 'Deluxe'"));
}

TEST_CASE("A problem reads location: message, or the message alone", "[libsec][profile-rules]") {
  CHECK(ProfileProblem{"a.yaml:1:2", "m"}.to_string() == "a.yaml:1:2: m");
  CHECK(ProfileProblem{"", "m"}.to_string() == "m");
}
