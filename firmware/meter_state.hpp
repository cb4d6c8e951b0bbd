#pragma once
// What a meter keeps in its state directory between runs: identity, firmware, the
// configuration it was given, and its energy registers. Stored as one JSON document
// replaced atomically, so a kill -9 at any moment leaves the previous or the new state.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "firmware/simulation/engine.hpp"
#include "libproto/model/register_map.hpp"
#include "libproto/model/version.hpp"
#include "libproto/result.hpp"
#include "libsec/modbus_access.hpp"
#include "libsec/security_config.hpp"

namespace meterd {

inline constexpr int k_state_format_version = 1;
inline constexpr const char* k_state_file_name = "meter-state.json";
// Held (flock) by the running meterd; holds its pid for the message another one prints.
inline constexpr const char* k_lock_file_name = "meterd.lock";
// A state file is a few kilobytes; refuse anything that is clearly not one.
inline constexpr std::size_t k_max_state_file_bytes = 1024 * 1024;

struct MeterState {
  std::string serial_number;
  std::string model;
  std::string feature_set;
  proto::model::Version firmware;
  proto::model::Version shipped_firmware;  // the version the meter left the factory with
  sec::ModbusAccess modbus_access = sec::k_default_modbus_access;
  std::uint8_t modbus_unit_id = 1;
  std::array<std::int64_t, proto::model::k_config_setting_count> settings{};
  simulation::EngineState energy;
  double clock_offset_s = 0.0;  // meter clock minus host clock, after a time set
  // Users, hashed passwords, modes and options. Kept in this file so that a security
  // change and the state it goes with are replaced together, or not at all.
  sec::SecurityConfig security;
  // Load-time facts, not stored: a state from before security was kept (the meter
  // starts from the factory configuration), and clear-text passwords of a store from
  // before hashing, which the meter hashes and saves at once.
  bool security_missing = false;
  std::vector<std::pair<std::string, std::string>> clear_passwords;

  std::int64_t setting(proto::model::ConfigSetting which) const { return settings[static_cast<std::size_t>(which)]; }
  void set(proto::model::ConfigSetting which, std::int64_t value) { settings[static_cast<std::size_t>(which)] = value; }
};

std::array<std::int64_t, proto::model::k_config_setting_count> default_settings();
std::string new_serial_number();

// Parses the text of a state file; `file` names it in errors.
proto::Result<MeterState, std::string> parse_meter_state(std::string_view text, const std::filesystem::path& file);
// nullopt when the directory holds no state yet; an error when the state is unreadable.
proto::Result<std::optional<MeterState>, std::string> load_meter_state(const std::filesystem::path& directory);
proto::Result<proto::Ok, std::string> save_meter_state(const std::filesystem::path& directory, const MeterState& state);

}  // namespace meterd
