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

#include <nlohmann/json_fwd.hpp>

#include "firmware/simulation/engine.hpp"
#include "libproto/model/register_map.hpp"
#include "libproto/model/version.hpp"
#include "libproto/result.hpp"
#include "libsec/meter_profile.hpp"
#include "libsec/modbus_access.hpp"
#include "libsec/security_config.hpp"

namespace meterd {

inline constexpr int k_state_format_version = 1;
inline constexpr const char* k_state_file_name = "meter-state.json";
// Held (flock) by the running meterd; holds its pid for the message another one prints.
inline constexpr const char* k_lock_file_name = "meterd.lock";
// A state file is a few kilobytes; refuse anything that is clearly not one.
inline constexpr std::size_t k_max_state_file_bytes = 1024 * 1024;
// The web server's ports when no profile has set them (HTTP and HTTPS, IANA).
inline constexpr std::uint16_t k_default_http_port = 80;
inline constexpr std::uint16_t k_default_https_port = 443;
inline constexpr std::string_view k_default_time_zone = "UTC";
// IANA zone names are short ("America/Argentina/ComodRivadavia" is among the longest).
inline constexpr std::size_t k_max_time_zone_length = 64;
// A recorder logs on a period of 1 s to a day (meter-profile(5)); 15 minutes when unset.
inline constexpr std::uint32_t k_max_recorder_interval_s = 86'400;
inline constexpr std::uint32_t k_default_recorder_interval_s = 900;

// A listening service as configuration leaves it: on or off, and the port a profile set
// (unset: the command line's port, else the built-in default).
struct ServiceSetting {
  bool enabled = true;
  std::optional<std::uint16_t> port;
  friend bool operator==(const ServiceSetting&, const ServiceSetting&) = default;
};

struct CommunicationsSettings {
  ServiceSetting modbus_tcp;
  ServiceSetting native;
  ServiceSetting secure_native;
  // https_redirect or https; a web server that is off is SecurityOptions::web_server = false.
  sec::WebMode web_mode = sec::WebMode::https_redirect;
  std::uint16_t http_port = k_default_http_port;
  std::uint16_t https_port = k_default_https_port;
  friend bool operator==(const CommunicationsSettings&, const CommunicationsSettings&) = default;
};

// What a profile may say about the supply; unset values are the scenario's.
struct MeteringOverrides {
  std::optional<sec::Wiring> wiring;
  std::optional<double> nominal_voltage;  // line-to-neutral (wye) or line-to-line (delta) volts
  std::optional<double> nominal_frequency;
  friend bool operator==(const MeteringOverrides&, const MeteringOverrides&) = default;
};

// A data recorder's configuration (the meter keeps no records yet).
struct RecorderSettings {
  std::string name;
  std::vector<std::string> sources;  // measurement point names
  std::uint32_t interval_s = k_default_recorder_interval_s;
  bool triggered = false;
  bool insert_outage_records = false;
  friend bool operator==(const RecorderSettings&, const RecorderSettings&) = default;
};

// Everything a configuration change can touch: what a pending confirm keeps so that it
// can put the meter back, and what config.apply replaces in one save.
struct MeterConfiguration {
  sec::ModbusAccess modbus_access = sec::k_default_modbus_access;
  std::uint8_t modbus_unit_id = 1;
  std::array<std::int64_t, proto::model::k_config_setting_count> settings{};
  sec::SecurityConfig security;
  CommunicationsSettings communications;
  MeteringOverrides metering;
  std::string time_zone = std::string(k_default_time_zone);
  std::vector<RecorderSettings> recorders;
  std::optional<std::string> scenario;  // a built-in scenario a profile chose
  friend bool operator==(const MeterConfiguration&, const MeterConfiguration&) = default;
};

// An apply with confirm_timeout_s: unless confirmed by `deadline`, `previous` comes back.
struct PendingConfirm {
  std::int64_t deadline = 0;  // wall-clock Unix seconds, not the (settable) meter clock
  std::uint64_t previous_version = 0;
  MeterConfiguration previous;
};

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
  // Bumped by every configuration change, whatever its path; 1 for a new meter and for a
  // state written before the counter existed.
  std::uint64_t config_version = 1;
  CommunicationsSettings communications;
  MeteringOverrides metering;
  std::string time_zone = std::string(k_default_time_zone);
  std::vector<RecorderSettings> recorders;
  std::optional<std::string> scenario;
  std::optional<PendingConfirm> pending_confirm;
  // Load-time facts, not stored: a state from before security was kept (the meter
  // starts from the factory configuration), and clear-text passwords of a store from
  // before hashing, which the meter hashes and saves at once.
  bool security_missing = false;
  std::vector<std::pair<std::string, std::string>> clear_passwords;

  std::int64_t setting(proto::model::ConfigSetting which) const { return settings[static_cast<std::size_t>(which)]; }
  void set(proto::model::ConfigSetting which, std::int64_t value) { settings[static_cast<std::size_t>(which)] = value; }

  MeterConfiguration configuration() const;
  void set_configuration(MeterConfiguration configuration);
};

std::array<std::int64_t, proto::model::k_config_setting_count> default_settings();
std::string new_serial_number();

// Parses the text of a state file; `file` names it in errors.
proto::Result<MeterState, std::string> parse_meter_state(std::string_view text, const std::filesystem::path& file);
// nullopt when the directory holds no state yet; an error when the state is unreadable.
proto::Result<std::optional<MeterState>, std::string> load_meter_state(const std::filesystem::path& directory);
proto::Result<proto::Ok, std::string> save_meter_state(const std::filesystem::path& directory, const MeterState& state);

// A configuration as meter-state.json stores it: password hashes, never a clear password.
// A backup carries it in this form too (meter-native-protocol(7), backup.get).
nlohmann::json configuration_to_json(const MeterConfiguration& configuration);
// The inverse, for a configuration that comes from elsewhere than this meter's state file
// (a backup): the checks the state file gets, and a missing security section or a
// clear-text password refused, since only a meter's own old store may hold one.
proto::Result<MeterConfiguration, std::string> parse_meter_configuration(const nlohmann::json& document);

}  // namespace meterd
