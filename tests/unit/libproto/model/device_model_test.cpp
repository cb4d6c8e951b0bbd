#include "libproto/model/device_model.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace proto::model;

namespace {

DeviceModel model(const std::string& name) {
  auto loaded = find_device_model(name);
  INFO((loaded ? "" : loaded.error().to_string()));
  REQUIRE(loaded);
  return *loaded;
}

Capabilities caps(const std::string& name, const std::string& feature_set, const char* firmware,
                  const char* shipped = nullptr) {
  const auto device = model(name);
  auto result = device.capabilities(feature_set, *Version::parse(firmware),
                                    shipped ? Version::parse(shipped) : std::nullopt);
  INFO((result ? "" : result.error()));
  REQUIRE(result);
  return *result;
}

}  // namespace

TEST_CASE("Versions parse in both forms and compare numerically", "[model][version]") {
  CHECK(Version::parse("4.6.0") == Version{4, 6, 0});
  CHECK(Version::parse("V004.006.000") == Version{4, 6, 0});
  CHECK(Version{4, 40, 1}.vendor_form() == "V004.040.001");
  CHECK(*Version::parse("4.40.1") > *Version::parse("4.6.0"));
  CHECK_FALSE(Version::parse("4.6"));
  CHECK_FALSE(Version::parse("4.6.0.1"));
  CHECK_FALSE(Version::parse("4.-1.0"));
  CHECK_FALSE(Version::parse("1000.0.0"));
}

TEST_CASE("Every shipped model file loads, and the embedded copies match the files", "[model]") {
  const std::filesystem::path directory = std::filesystem::path(METERCTL_SOURCE_DIR) / "profiles" / "models";
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    const auto loaded = load_device_model_file(entry.path());
    INFO(entry.path().string() << ": " << (loaded ? "" : loaded.error().to_string()));
    REQUIRE(loaded);
    CHECK(model(loaded->name).firmware.size() == loaded->firmware.size());
    ++files;
  }
  CHECK(files == 4);
  CHECK(embedded_model_names().size() == files);
}

TEST_CASE("ION7400 limits and features follow the release notes, version by version", "[model]") {
  const auto v3 = caps("ION7400", "Advanced", "3.0.0");
  CHECK(v3.limit(Limit::password_max_length) == 6);
  CHECK(v3.limit(Limit::users) == 50);
  CHECK(v3.limit(Limit::recorder_linked_sources) == 16);
  CHECK(v3.limit(Limit::modbus_master_map_modules) == 40);
  CHECK(v3.limit(Limit::modbus_master_devices) == 128);
  CHECK_FALSE(v3.has(Feature::native_sessions));
  CHECK_FALSE(v3.has(Feature::modbus_unix_time));

  const auto v4 = caps("ION7400", "Advanced", "4.0.0");
  CHECK(v4.limit(Limit::password_max_length) == 16);
  CHECK(v4.has(Feature::secure_native));
  CHECK(v4.has(Feature::native_sessions));
  CHECK_FALSE(v4.has(Feature::bacnet));
  CHECK_FALSE(v4.has(Feature::password_complexity));

  const auto v46 = caps("ION7400", "Advanced", "4.6.0");
  CHECK(v46.has(Feature::bacnet));
  CHECK(v46.has(Feature::password_complexity));
  CHECK(v46.has(Feature::modbus_unix_time));
  CHECK(v46.limit(Limit::recorder_linked_sources) == 50);
  CHECK(v46.limit(Limit::recorder_linked_sources_with_trigger) == 16);
  CHECK(v46.limit(Limit::recorders_with_insert_outage_records) == 19);
  CHECK(caps("ION7400", "Standard", "4.6.0").limit(Limit::recorders_with_insert_outage_records) == 19);
  CHECK(caps("ION7400", "Essential", "4.6.0").limit(Limit::recorders_with_insert_outage_records) == 10);
}

TEST_CASE("The FC43 ProductCode exists only on meters shipped with 4.6.0 or later", "[model]") {
  CHECK(caps("ION7400", "Advanced", "4.6.0").has(Feature::modbus_product_code));
  CHECK_FALSE(caps("ION7400", "Advanced", "4.6.0", "4.0.0").has(Feature::modbus_product_code));
  CHECK(caps("ION7400", "Advanced", "4.6.0", "4.0.0").has(Feature::modbus_unix_time));
}

TEST_CASE("Rollback floors and downgrade rules come from the model files", "[model]") {
  const auto ion7400 = model("ION7400");
  CHECK(ion7400.find_firmware(*Version::parse("3.0.0"))->rollback_floor);
  CHECK(ion7400.find_firmware(*Version::parse("4.0.0"))->rollback_floor);
  CHECK(ion7400.find_firmware(*Version::parse("3.0.0"))->on_upgrade.security_mode.at("standard") == "legacy");
  const auto ion8650 = model("ion8650");
  const auto& release = ion8650.latest_firmware();
  CHECK_FALSE(release.rollback_floor);
  REQUIRE(release.on_downgrade);
  CHECK(release.on_downgrade->passwords_reset_to == "0");
  CHECK(release.on_downgrade->services_removed == std::vector<std::string>{"ssh", "sftp"});
  CHECK(release.on_downgrade->services_disabled == std::vector<std::string>{"telnet", "ftp"});
  CHECK(release.on_upgrade.web_server == "disabled");
  const auto ion8650_caps = caps("ION8650", "Standard", "4.40.1");
  CHECK_FALSE(ion8650_caps.has(Feature::password_complexity));
  CHECK_FALSE(ion8650_caps.has(Feature::no_security));
  CHECK(ion8650_caps.has(Feature::standard_security));
  CHECK(caps("ION9000", "Standard", "3.0.0").limit(Limit::modbus_master_devices) == 128);
  CHECK(caps("PM8000", "Standard", "3.0.0").has(Feature::legacy_security));
}

TEST_CASE("Unknown feature sets and firmware versions are refused with what exists", "[model]") {
  const auto device = model("ION7400");
  const auto bad_set = device.capabilities("Premium", Version{4, 6, 0});
  REQUIRE_FALSE(bad_set);
  CHECK_THAT(bad_set.error(), Catch::Contains("Essential, Standard, Advanced"));
  const auto bad_version = device.capabilities("Advanced", Version{4, 5, 0});
  REQUIRE_FALSE(bad_version);
  CHECK_THAT(bad_version.error(), Catch::Contains("3.0.0, 4.0.0, 4.6.0"));
}

TEST_CASE("Model validation errors carry file, line and column", "[model]") {
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
      "  - version: 1.0.0\n";
  REQUIRE(load_device_model(base, "x.yaml"));

  SECTION("unknown feature") {
    const auto result = load_device_model(base + "    brings: [teleportation]\n", "x.yaml");
    REQUIRE_FALSE(result);
    CHECK(result.error().line == 11);
    CHECK(result.error().column == 14);
    CHECK_THAT(result.error().to_string(), Catch::StartsWith("x.yaml:11:14: unknown feature 'teleportation'"));
  }
  SECTION("unknown key") {
    const auto result = load_device_model(base + "    colour: red\n", "x.yaml");
    REQUIRE_FALSE(result);
    CHECK(result.error().line == 11);
    CHECK_THAT(result.error().message, Catch::Contains("unknown key 'colour'"));
  }
  SECTION("limit out of range") {
    const auto result = load_device_model(base + "    limits: {users: -1}\n", "x.yaml");
    REQUIRE_FALSE(result);
    CHECK(result.error().line == 11);
    CHECK_THAT(result.error().message, Catch::Contains("users"));
  }
  SECTION("versions out of order") {
    const auto result = load_device_model(base + "  - version: 0.9.0\n", "x.yaml");
    REQUIRE_FALSE(result);
    CHECK(result.error().line == 11);
    CHECK_THAT(result.error().message, Catch::Contains("ascending"));
  }
  SECTION("default feature set that does not exist") {
    std::string text = base;
    text.replace(text.find("default_feature_set: S"), 22, "default_feature_set: Q");
    const auto result = load_device_model(text, "x.yaml");
    REQUIRE_FALSE(result);
    CHECK(result.error().line == 6);
  }
  SECTION("a floor version cannot describe a downgrade") {
    const auto result =
        load_device_model(base + "    rollback_floor: true\n    on_downgrade: {passwords_reset_to: '0'}\n", "x.yaml");
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message, Catch::Contains("rollback_floor"));
  }
  SECTION("syntax error and deep nesting") {
    CHECK(load_device_model("a: [b\n", "x.yaml").error().line >= 1);
    CHECK_THAT(load_device_model(std::string(100, '[') + std::string(100, ']'), "x.yaml").error().message,
               Catch::Contains("nested deeper"));
  }
}
