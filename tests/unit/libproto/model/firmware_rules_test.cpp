#include "libproto/model/firmware_rules.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace proto::model;

namespace {

DeviceModel model(const std::string& name) {
  auto loaded = find_device_model(name);
  INFO((loaded ? "" : loaded.error().to_string()));
  REQUIRE(loaded);
  return *loaded;
}

Version v(const char* text) { return *Version::parse(text); }

Capabilities caps(const std::string& name, const char* firmware, const char* shipped = nullptr) {
  const auto device = model(name);
  auto result = device.capabilities(device.default_feature_set, v(firmware), shipped ? Version::parse(shipped) : std::nullopt);
  INFO((result ? "" : result.error()));
  REQUIRE(result);
  return *result;
}

bool has_line(const std::vector<std::string>& lines, const std::string& wanted) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) { return line == wanted; });
}

std::string all_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

}  // namespace

TEST_CASE("ION7400 4.0.0 refuses 3.0.0, and 4.6.0 refuses both earlier floors", "[model][firmware-rules]") {
  const auto ion7400 = model("ION7400");
  const auto refused = check_firmware_change(ion7400, v("4.0.0"), v("3.0.0"));
  REQUIRE(refused);
  CHECK(*refused == "this meter runs firmware 4.0.0; an ION7400 on 4.0.0 or later cannot be downgraded, so 3.0.0 is refused");
  CHECK(check_firmware_change(ion7400, v("4.6.0"), v("4.0.0")));
  CHECK(check_firmware_change(ion7400, v("4.6.0"), v("3.0.0")));
  CHECK(check_firmware_change(ion7400, v("4.6.0"), v("2.0.0")));
  CHECK_FALSE(check_firmware_change(ion7400, v("4.0.0"), v("4.6.0")));
  CHECK_FALSE(check_firmware_change(ion7400, v("4.6.0"), v("4.6.0")));
}

TEST_CASE("ION7400, ION9000 and PM8000 on 3.0.0 refuse 2.0.0; 2.0.0 upgrades freely", "[model][firmware-rules]") {
  for (const auto* name : {"ION7400", "ION9000", "PM8000"}) {
    INFO(name);
    const auto device = model(name);
    const auto refused = check_firmware_change(device, v("3.0.0"), v("2.0.0"));
    REQUIRE(refused);
    CHECK_THAT(*refused, Catch::Contains("on 3.0.0 or later cannot be downgraded, so 2.0.0 is refused"));
    CHECK_FALSE(check_firmware_change(device, v("2.0.0"), v("3.0.0")));
    CHECK_FALSE(check_firmware_change(device, v("2.0.0"), device.latest_firmware().version));
  }
}

TEST_CASE("ION8650 4.40.1 may go back to 4.30.0, unless the meter keeps a floor", "[model][firmware-rules]") {
  const auto ion8650 = model("ION8650");
  CHECK_FALSE(check_firmware_change(ion8650, v("4.40.1"), v("4.30.0")));
  CHECK_FALSE(check_firmware_change(ion8650, v("4.30.0"), v("4.40.1")));
  // A floor the meter keeps (its boot record's) counts like one in the model.
  const auto kept = check_firmware_change(ion8650, v("4.40.1"), v("4.30.0"), v("4.40.1"));
  REQUIRE(kept);
  CHECK_THAT(*kept, Catch::Contains("on 4.40.1 or later cannot be downgraded, so 4.30.0 is refused"));
  // Below a kept floor nothing runs, not even an upgrade that stays under it (a meter
  // whose state came back from before it reached the floor).
  const auto below = check_firmware_change(model("ION7400"), v("2.0.0"), v("3.0.0"), v("4.0.0"));
  REQUIRE(below);
  CHECK(*below == "this meter has run firmware 4.0.0, a rollback floor it keeps, so 3.0.0 is refused");
  CHECK_FALSE(check_firmware_change(model("ION7400"), v("2.0.0"), v("4.0.0"), v("4.0.0")));
}

TEST_CASE("The rollback floor at a version is the highest floor release at or below it", "[model][firmware-rules]") {
  const auto ion7400 = model("ION7400");
  CHECK_FALSE(rollback_floor_at(ion7400, v("2.0.0")));
  CHECK(rollback_floor_at(ion7400, v("3.0.0")) == v("3.0.0"));
  CHECK(rollback_floor_at(ion7400, v("4.0.0")) == v("4.0.0"));
  CHECK(rollback_floor_at(ion7400, v("4.6.0")) == v("4.0.0"));
  CHECK_FALSE(rollback_floor_at(model("ION8650"), v("4.40.1")));
  CHECK(rollback_floor_at(model("PM8000"), v("3.0.0")) == v("3.0.0"));
}

TEST_CASE("A firmware change walks the releases between, upward or downward", "[model][firmware-rules]") {
  const auto ion7400 = model("ION7400");
  const auto up = firmware_change_steps(ion7400, v("2.0.0"), v("4.6.0"));
  REQUIRE(up.size() == 3);
  CHECK(up[0].release->version == v("3.0.0"));
  CHECK(up[1].release->version == v("4.0.0"));
  CHECK(up[2].release->version == v("4.6.0"));
  CHECK(std::all_of(up.begin(), up.end(), [](const auto& step) { return step.upgrade; }));
  CHECK(firmware_change_steps(ion7400, v("4.0.0"), v("4.0.0")).empty());

  // The steps point into the model, which must outlive them.
  const auto ion8650 = model("ION8650");
  const auto down = firmware_change_steps(ion8650, v("4.40.1"), v("4.30.0"));
  REQUIRE(down.size() == 1);
  CHECK(down[0].release->version == v("4.40.1"));
  CHECK_FALSE(down[0].upgrade);
}

TEST_CASE("Each version offers the features and limits its release notes give", "[model][firmware-rules]") {
  // Before 3.0.0: Standard security, no Legacy security support, 20/64 Modbus master limits.
  const auto v2 = caps("ION7400", "2.0.0");
  CHECK(v2.has(Feature::standard_security));
  CHECK_FALSE(v2.has(Feature::legacy_security));
  CHECK_FALSE(v2.has(Feature::hashed_password_storage));
  CHECK(v2.limit(Limit::modbus_master_map_modules) == 20);
  CHECK(v2.limit(Limit::modbus_master_devices) == 64);
  CHECK(v2.limit(Limit::password_max_length) == 6);
  // 3.0.0: "Standard security mode has been removed"; Legacy security support and hashing.
  const auto v3 = caps("ION7400", "3.0.0");
  CHECK_FALSE(v3.has(Feature::standard_security));
  CHECK(v3.has(Feature::legacy_security));
  CHECK(v3.has(Feature::hashed_password_storage));
  CHECK_FALSE(v3.has(Feature::secure_native));
  // 4.0.0: Secure ION, 16-character passwords.
  const auto v4 = caps("ION7400", "4.0.0");
  CHECK(v4.has(Feature::secure_native));
  CHECK(v4.limit(Limit::password_max_length) == 16);
  CHECK_FALSE(v4.has(Feature::bacnet));
  CHECK_FALSE(v4.has(Feature::password_complexity));
  CHECK(v4.limit(Limit::recorder_linked_sources) == 16);
  // 4.6.0: BACnet, complexity, 50 recorder sources.
  const auto v46 = caps("ION7400", "4.6.0");
  CHECK(v46.has(Feature::bacnet));
  CHECK(v46.has(Feature::password_complexity));
  CHECK(v46.limit(Limit::recorder_linked_sources) == 50);
  // The ProductCode only on meters shipped with 4.6.0.
  CHECK(v46.has(Feature::modbus_product_code));
  CHECK_FALSE(caps("ION7400", "4.6.0", "4.0.0").has(Feature::modbus_product_code));
  CHECK_FALSE(caps("ION7400", "4.6.0", "2.0.0").has(Feature::modbus_product_code));

  for (const auto* name : {"ION9000", "PM8000"}) {
    INFO(name);
    CHECK(caps(name, "2.0.0").has(Feature::standard_security));
    CHECK_FALSE(caps(name, "3.0.0").has(Feature::standard_security));
    CHECK(caps(name, "3.0.0").has(Feature::legacy_security));
  }

  // ION8650 before 4.40.1: No security, Telnet and FTP, no SSH or SFTP, no hashing.
  const auto old8650 = caps("ION8650", "4.30.0");
  CHECK(old8650.has(Feature::no_security));
  CHECK(old8650.has(Feature::telnet));
  CHECK(old8650.has(Feature::ftp));
  CHECK(old8650.has(Feature::web_server));
  CHECK_FALSE(old8650.has(Feature::ssh));
  CHECK_FALSE(old8650.has(Feature::sftp));
  CHECK_FALSE(old8650.has(Feature::hashed_password_storage));
  const auto new8650 = caps("ION8650", "4.40.1");
  CHECK(new8650.has(Feature::ssh));
  CHECK(new8650.has(Feature::sftp));
  CHECK(new8650.has(Feature::standard_security));
  CHECK_FALSE(new8650.has(Feature::no_security));
  CHECK_FALSE(new8650.has(Feature::telnet));
}

TEST_CASE("The newest release stays every model's default firmware", "[model][firmware-rules]") {
  CHECK(model("ION7400").latest_firmware().version == v("4.6.0"));
  CHECK(model("ION9000").latest_firmware().version == v("3.0.0"));
  CHECK(model("PM8000").latest_firmware().version == v("3.0.0"));
  CHECK(model("ION8650").latest_firmware().version == v("4.40.1"));
}

TEST_CASE("An upgrade is described step by step, with features and limits", "[model][firmware-rules]") {
  const auto lines = describe_firmware_change(model("ION7400"), v("2.0.0"), v("4.6.0"));
  INFO(all_lines(lines));
  CHECK(has_line(lines, "upgrade to 3.0.0: a meter in standard security moves to Legacy security support, as User1 "
                        "with the same password"));
  CHECK(has_line(lines, "upgrade to 3.0.0: a meter in advanced security stays in it, its users and passwords kept"));
  CHECK(has_line(lines, "upgrade to 3.0.0: stored passwords are kept as hashes only (any clear-text password is hashed)"));
  CHECK(has_line(lines, "upgrade to 3.0.0: 3.0.0 is a rollback floor: afterwards the meter accepts no older firmware"));
  CHECK(has_line(lines, "upgrade to 4.0.0: the plain native port is enabled"));
  CHECK(has_line(lines, "upgrade to 4.6.0: modbus_product_code stays unavailable: it comes only with meters shipped "
                        "with 4.6.0 or later"));
  CHECK(has_line(lines, "limit password_max_length: 6 -> 16"));
  CHECK(has_line(lines, "limit recorder_linked_sources: 16 -> 50"));
  CHECK(has_line(lines, "features lost: standard_security"));
  const auto gained = std::find_if(lines.begin(), lines.end(), [](const auto& line) { return line.starts_with("features gained: "); });
  REQUIRE(gained != lines.end());
  for (const auto* feature : {"legacy_security", "secure_native", "bacnet", "password_complexity"}) {
    CHECK_THAT(*gained, Catch::Contains(feature));
  }
  CHECK_THAT(*gained, !Catch::Contains("modbus_product_code"));
}

TEST_CASE("An ION8650 downgrade and upgrade are described with the FAQ's effects", "[model][firmware-rules]") {
  const auto ion8650 = model("ION8650");
  const auto down = describe_firmware_change(ion8650, v("4.40.1"), v("4.30.0"));
  INFO(all_lines(down));
  CHECK(has_line(down, "downgrade from 4.40.1: the security mode is kept"));
  CHECK(has_line(down, "downgrade from 4.40.1: every user's password is reset to 0"));
  CHECK(has_line(down, "downgrade from 4.40.1: ssh and sftp are removed (the older firmware has none)"));
  CHECK(has_line(down, "downgrade from 4.40.1: telnet and ftp are disabled"));
  CHECK(has_line(down, "downgrade from 4.40.1: web read access is enabled"));
  CHECK(has_line(down, "downgrade from 4.40.1: web configuration is disabled"));

  const auto up = describe_firmware_change(ion8650, v("4.30.0"), v("4.40.1"));
  INFO(all_lines(up));
  CHECK(has_line(up, "upgrade to 4.40.1: a meter in standard security stays in it, its users and passwords kept"));
  CHECK(has_line(up, "upgrade to 4.40.1: the web server comes up disabled"));
  CHECK(std::none_of(up.begin(), up.end(), [](const auto& line) { return line.find("rollback floor") != std::string::npos; }));
  CHECK(describe_firmware_change(ion8650, v("4.40.1"), v("4.40.1")).empty());
}

TEST_CASE("A model's downgrade may switch off only services a meter has", "[model][firmware-rules]") {
  const std::string base =
      "apiVersion: meterctl/v1\n"
      "kind: DeviceModel\n"
      "name: X\n"
      "vendor: V\n"
      "product_name: P\n"
      "default_feature_set: S\n"
      "feature_sets:\n"
      "  - name: S\n"
      "firmware:\n"
      "  - version: 1.0.0\n"
      "  - version: 2.0.0\n"
      "    on_downgrade:\n";
  REQUIRE(load_device_model(base + "      services_removed: [ssh, sftp]\n", "x.yaml"));
  const auto refused = load_device_model(base + "      services_disabled: [telnet, gopher]\n", "x.yaml");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().line == 13);
  CHECK(refused.error().column == 35);
  CHECK_THAT(refused.error().message, Catch::StartsWith("unknown service 'gopher' in services_disabled"));
}
