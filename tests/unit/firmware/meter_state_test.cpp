#include "firmware/meter_state.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "libsec/private_file.hpp"

using namespace meterd;

namespace {
std::filesystem::path fresh_directory() {
  std::random_device entropy;
  auto path = std::filesystem::temp_directory_path() / ("meterd-state-test-" + std::to_string(entropy()));
  std::filesystem::create_directories(path);
  return path;
}
}  // namespace

TEST_CASE("Meter state round trips through its file", "[firmware][state]") {
  const auto directory = fresh_directory();
  MeterState state;
  state.serial_number = new_serial_number();
  state.model = "ION7400";
  state.feature_set = "Advanced";
  state.firmware = {4, 6, 0};
  state.shipped_firmware = {4, 0, 0};
  state.modbus_access = sec::ModbusAccess::none;
  state.modbus_unit_id = 17;
  state.settings = default_settings();
  state.set(proto::model::ConfigSetting::ct_primary, 400);
  state.energy.active_energy_delivered_kwh = 1234.5;
  REQUIRE(save_meter_state(directory, state));
  const auto loaded = load_meter_state(directory);
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  const auto& copy = **loaded;
  CHECK(copy.serial_number == state.serial_number);
  CHECK(copy.shipped_firmware == state.shipped_firmware);
  CHECK(copy.modbus_access == sec::ModbusAccess::none);
  CHECK(copy.modbus_unit_id == 17);
  CHECK(copy.setting(proto::model::ConfigSetting::ct_primary) == 400);
  CHECK(copy.energy.active_energy_delivered_kwh == 1234.5);
  CHECK(std::filesystem::status(directory / k_state_file_name).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  std::filesystem::remove_all(directory);
}

TEST_CASE("An empty directory has no state, and a damaged file is an error that names it", "[firmware][state]") {
  const auto directory = fresh_directory();
  const auto empty = load_meter_state(directory);
  REQUIRE(empty);
  CHECK_FALSE(empty->has_value());
  for (const char* damage : {"{", "[]", "{\"format_version\": 1}", "{\"format_version\": 99}"}) {
    std::ofstream(directory / k_state_file_name) << damage;
    const auto loaded = load_meter_state(directory);
    REQUIRE_FALSE(loaded);
    CHECK_THAT(loaded.error(), Catch::Contains(k_state_file_name));
  }
  std::filesystem::remove_all(directory);
}


TEST_CASE("Configuration fields and a pending confirm round trip through the state file", "[firmware][state]") {
  const auto directory = fresh_directory();
  MeterState state;
  state.serial_number = "VM0000000001";
  state.model = "ION7400";
  state.feature_set = "Advanced";
  state.firmware = {4, 6, 0};
  state.shipped_firmware = {4, 6, 0};
  state.settings = default_settings();
  state.config_version = 42;
  state.communications.modbus_tcp = {true, 1502};
  state.communications.native = {false, std::nullopt};
  state.communications.secure_native = {true, 17443};
  state.communications.web_mode = sec::WebMode::https;
  state.communications.http_port = 8080;
  state.communications.https_port = 8443;
  state.metering = {sec::Wiring::delta, 400.0, 60.0};
  state.time_zone = "Europe/Paris";
  state.recorders = {{"energy", {"active_energy_delivered", "active_energy_received"}, 60, true, true}};
  state.scenario = "sag-swell";
  auto previous = state.configuration();
  previous.time_zone = "UTC";
  previous.recorders.clear();
  state.pending_confirm = PendingConfirm{1'900'000'000, 41, previous};
  REQUIRE(save_meter_state(directory, state));

  const auto loaded = load_meter_state(directory);
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  const auto& copy = **loaded;
  CHECK(copy.config_version == 42);
  CHECK(copy.configuration() == state.configuration());
  REQUIRE(copy.pending_confirm);
  CHECK(copy.pending_confirm->deadline == 1'900'000'000);
  CHECK(copy.pending_confirm->previous_version == 41);
  CHECK(copy.pending_confirm->previous == previous);
  std::filesystem::remove_all(directory);
}

TEST_CASE("A state file from before configuration as code loads with the defaults", "[firmware][state]") {
  const auto directory = fresh_directory();
  std::ofstream(directory / k_state_file_name) << R"({
    "format_version": 1, "serial_number": "VM0000000002", "model": "ION7400", "feature_set": "Advanced",
    "firmware": "4.6.0", "shipped_firmware": "4.0.0",
    "modbus": {"access": "read-only", "unit_id": 3},
    "settings": {"ct_primary": 200},
    "energy": {"integrated_until": 0, "active_energy_delivered_kwh": 1, "active_energy_received_kwh": 0,
               "reactive_energy_delivered_kvarh": 0, "reactive_energy_received_kvarh": 0,
               "apparent_energy_delivered_kvah": 0, "apparent_energy_received_kvah": 0,
               "peak_demand_kw": 0, "peak_demand_unix_time": 0},
    "clock_offset_s": 0})";
  const auto loaded = load_meter_state(directory);
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  const auto& state = **loaded;
  CHECK(state.config_version == 1);
  CHECK(state.modbus_unit_id == 3);
  CHECK(state.communications == CommunicationsSettings{});
  CHECK(state.communications.web_mode == sec::WebMode::https_redirect);
  CHECK(state.communications.http_port == 80);
  CHECK(state.communications.https_port == 443);
  CHECK(state.time_zone == "UTC");
  CHECK(state.recorders.empty());
  CHECK_FALSE(state.scenario);
  CHECK_FALSE(state.pending_confirm);
  CHECK(state.security_missing);
  std::filesystem::remove_all(directory);
}

TEST_CASE("New configuration fields are parsed strictly", "[firmware][state]") {
  const auto directory = fresh_directory();
  MeterState state;
  state.serial_number = "VM0000000003";
  state.model = "ION7400";
  state.feature_set = "Advanced";
  state.firmware = {4, 6, 0};
  state.shipped_firmware = {4, 6, 0};
  state.settings = default_settings();
  REQUIRE(save_meter_state(directory, state));
  const auto text = sec::read_file_if_exists(directory / k_state_file_name, k_max_state_file_bytes);
  REQUIRE(text);
  REQUIRE(text->has_value());
  const auto good = nlohmann::json::parse(**text);
  const std::vector<std::pair<nlohmann::json::json_pointer, nlohmann::json>> damages = {
      {nlohmann::json::json_pointer("/config_version"), 0},
      {nlohmann::json::json_pointer("/config_version"), "7"},
      {nlohmann::json::json_pointer("/communications/native/port"), 70000},
      {nlohmann::json::json_pointer("/communications/native/enabled"), "yes"},
      {nlohmann::json::json_pointer("/communications/web/mode"), "disabled"},
      {nlohmann::json::json_pointer("/metering/wiring"), "star"},
      {nlohmann::json::json_pointer("/metering/nominal_frequency"), 55},
      {nlohmann::json::json_pointer("/time_zone"), ""},
      {nlohmann::json::json_pointer("/recorders"), nlohmann::json::array({{{"name", "r"}}})},
      {nlohmann::json::json_pointer("/pending_confirm"), {{"deadline", 1}, {"previous_version", 1}}},
  };
  for (const auto& [where, value] : damages) {
    auto damaged = good;
    damaged[where] = value;
    std::ofstream(directory / k_state_file_name) << damaged.dump();
    const auto loaded = load_meter_state(directory);
    INFO(where.to_string());
    CHECK_FALSE(loaded);
  }
  std::filesystem::remove_all(directory);
}
