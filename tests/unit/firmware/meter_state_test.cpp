#include "firmware/meter_state.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <random>

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

