#include "firmware/meter_state.hpp"

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "libsec/private_file.hpp"

namespace meterd {

using nlohmann::json;
using proto::model::ConfigSetting;
using proto::model::k_config_settings;

std::array<std::int64_t, proto::model::k_config_setting_count> default_settings() {
  std::array<std::int64_t, proto::model::k_config_setting_count> values{};
  for (const auto& setting : k_config_settings) values[static_cast<std::size_t>(setting.setting)] = setting.default_value;
  return values;
}

std::string new_serial_number() {
  std::random_device entropy;
  std::uniform_int_distribution<std::uint64_t> digits(0, 9'999'999'999ULL);
  const auto number = std::to_string(digits(entropy));
  return "VM" + std::string(10 - number.size(), '0') + number;
}

namespace {

std::string state_error(const std::filesystem::path& file, const std::string& what) {
  return file.string() + ": " + what +
         "; the file was written by meterd and should not be edited. Restore it from a backup or move it away "
         "to start this meter afresh";
}

}  // namespace

proto::Result<MeterState, std::string> parse_meter_state(std::string_view text, const std::filesystem::path& file) {
  const json document = json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return proto::unexpected(state_error(file, "not valid JSON"));
  try {
    // Integers must be stored as integers: converting 1e300 to int is undefined behaviour.
    for (const auto* field : {&document.at("format_version"), &document.at("modbus").at("unit_id")}) {
      if (!field->is_number_integer()) return proto::unexpected(state_error(file, "an integer field holds something else"));
    }
    if (document.at("format_version").get<int>() != k_state_format_version) {
      return proto::unexpected(state_error(file, "unknown format_version"));
    }
    MeterState state;
    state.serial_number = document.at("serial_number").get<std::string>();
    state.model = document.at("model").get<std::string>();
    state.feature_set = document.at("feature_set").get<std::string>();
    const auto firmware = proto::model::Version::parse(document.at("firmware").get<std::string>());
    const auto shipped = proto::model::Version::parse(document.at("shipped_firmware").get<std::string>());
    if (!firmware || !shipped) return proto::unexpected(state_error(file, "firmware version is not X.Y.Z"));
    state.firmware = *firmware;
    state.shipped_firmware = *shipped;
    const auto& modbus = document.at("modbus");
    const auto access = sec::parse_modbus_access(modbus.at("access").get<std::string>());
    const auto unit_id = modbus.at("unit_id").get<int>();
    if (!access || unit_id < 1 || unit_id > 247) return proto::unexpected(state_error(file, "bad modbus settings"));
    state.modbus_access = *access;
    state.modbus_unit_id = static_cast<std::uint8_t>(unit_id);
    state.settings = default_settings();
    const auto& settings = document.at("settings");
    if (!settings.is_object()) return proto::unexpected(state_error(file, "settings is not an object"));
    for (const auto& setting : k_config_settings) {
      if (!settings.contains(setting.name)) continue;  // a setting added by a newer meterd keeps its default
      if (!settings.at(std::string(setting.name)).is_number_integer()) {
        return proto::unexpected(state_error(file, "setting " + std::string(setting.name) + " is not an integer"));
      }
      const auto value = settings.at(std::string(setting.name)).get<std::int64_t>();
      if (value < setting.min || value > setting.max) {
        return proto::unexpected(state_error(file, "setting " + std::string(setting.name) + " out of range"));
      }
      state.set(setting.setting, value);
    }
    const simulation::DemandSettings demand{
        static_cast<int>(state.setting(ConfigSetting::demand_interval_minutes)),
        static_cast<int>(state.setting(ConfigSetting::demand_subintervals))};
    if (auto problem = simulation::demand_settings_error(demand)) {
      return proto::unexpected(state_error(file, "settings: " + *problem));
    }
    if (document.contains("clock_offset_s")) {
      const auto& offset = document.at("clock_offset_s");
      // A meter clock set beyond a century from the host is not a clock.
      if (!offset.is_number() || !std::isfinite(offset.get<double>()) || std::fabs(offset.get<double>()) > 3.2e9) {
        return proto::unexpected(state_error(file, "clock_offset_s is not a sensible number of seconds"));
      }
      state.clock_offset_s = offset.get<double>();
    }
    auto energy = simulation::engine_state_from_json(document.at("energy"));
    if (!energy) return proto::unexpected(state_error(file, "energy: " + energy.error()));
    state.energy = *energy;
    if (!document.contains("security")) {
      state.security_missing = true;
    } else {
      auto security = sec::security_config_from_json(document.at("security"));
      if (!security) return proto::unexpected(state_error(file, security.error()));
      state.security = std::move(security->config);
      state.clear_passwords = std::move(security->clear_passwords);
    }
    return state;
  } catch (const json::exception& e) {
    return proto::unexpected(state_error(file, std::string("missing or mistyped field (") + e.what() + ")"));
  }
}

proto::Result<std::optional<MeterState>, std::string> load_meter_state(const std::filesystem::path& directory) {
  const auto file = directory / k_state_file_name;
  auto text = sec::read_file_if_exists(file, k_max_state_file_bytes);
  if (!text) return proto::unexpected(text.error());
  if (!text->has_value()) return std::optional<MeterState>{};
  auto state = parse_meter_state(**text, file);
  if (!state) return proto::unexpected(state.error());
  return std::optional<MeterState>(std::move(*state));
}

proto::Result<proto::Ok, std::string> save_meter_state(const std::filesystem::path& directory, const MeterState& state) {
  json settings = json::object();
  for (const auto& setting : k_config_settings) settings[std::string(setting.name)] = state.setting(setting.setting);
  const json document = {
      {"format_version", k_state_format_version},
      {"serial_number", state.serial_number},
      {"model", state.model},
      {"feature_set", state.feature_set},
      {"firmware", state.firmware.to_string()},
      {"shipped_firmware", state.shipped_firmware.to_string()},
      {"modbus", {{"access", std::string(sec::to_string(state.modbus_access))}, {"unit_id", state.modbus_unit_id}}},
      {"settings", settings},
      {"energy", simulation::to_json(state.energy)},
      {"clock_offset_s", state.clock_offset_s},
      {"security", sec::to_json(state.security)},
  };
  return sec::write_private_file_atomically(directory / k_state_file_name, document.dump(2) + "\n");
}

}  // namespace meterd
