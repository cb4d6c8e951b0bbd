#pragma once
// The Modbus register map, generated from the point table and gated on the meter's
// capabilities. Register numbers are one-based as the vendor publishes them; the PDU
// address is the register number minus one.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/codec/register_values.hpp"
#include "libproto/model/device_model.hpp"
#include "libproto/model/measurement.hpp"

namespace proto::model {

// Settings a Modbus client with Read Write access may change (FC6/FC16).
#define PROTO_CONFIG_SETTINGS(X)                                                                 \
  X(demand_interval_minutes, "demand_interval_minutes", "min", 1, 60, 15, "Demand window length") \
  X(demand_subintervals, "demand_subintervals", "", 1, 60, 15, "Demand window updates per interval") \
  X(pt_primary, "pt_primary", "V", 1, 1000000, 230, "Voltage transformer primary rating")        \
  X(pt_secondary, "pt_secondary", "V", 1, 690, 230, "Voltage transformer secondary rating")      \
  X(ct_primary, "ct_primary", "A", 1, 32000, 100, "Current transformer primary rating")          \
  X(ct_secondary, "ct_secondary", "A", 1, 10, 5, "Current transformer secondary rating")         \
  X(time_sync_enabled, "time_sync_enabled", "", 0, 1, 1, "Time synchronisation allowed (1) or refused (0)")

enum class ConfigSetting {
#define PROTO_SETTING_ENUM(id, name, unit, min, max, fallback, description) id,
  PROTO_CONFIG_SETTINGS(PROTO_SETTING_ENUM)
#undef PROTO_SETTING_ENUM
};

struct ConfigSettingInfo {
  ConfigSetting setting;
  std::string_view name;
  std::string_view unit;
  std::int64_t min;
  std::int64_t max;
  std::int64_t default_value;
  std::string_view description;
};

inline constexpr ConfigSettingInfo k_config_settings[] = {
#define PROTO_SETTING_INFO(id, name, unit, min, max, fallback, description) \
  {ConfigSetting::id, name, unit, min, max, fallback, description},
    PROTO_CONFIG_SETTINGS(PROTO_SETTING_INFO)
#undef PROTO_SETTING_INFO
};
inline constexpr std::size_t k_config_setting_count = std::size(k_config_settings);

const ConfigSettingInfo& info(ConfigSetting setting);
// The setting with this name, or null.
inline const ConfigSettingInfo* find_config_setting(std::string_view name) {
  for (const auto& setting : k_config_settings) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

enum class RegisterSource {
  measurement,       // a point of the point table
  unix_time,         // meter clock, seconds since 1970-01-01 UTC
  peak_demand_time,  // when the peak demand was reached (Unix time)
  config,            // a configuration setting
  reserved,          // a hole inside a block; reads as "not available" (NaN)
};

enum class RegisterAccess { read_only, read_write };

struct RegisterEntry {
  std::string name;
  std::uint16_t register_number = 0;  // one-based, as the vendor writes it
  codec::ValueType type = codec::ValueType::float32;
  std::uint16_t count = 2;    // registers occupied
  double scale = 1.0;         // register value = point value x scale (energies in Wh for int64)
  std::string unit;
  RegisterAccess access = RegisterAccess::read_only;
  RegisterSource source = RegisterSource::measurement;
  Point point = Point::current_a;
  ConfigSetting setting = ConfigSetting::demand_interval_minutes;
  std::string description;
  std::string block;  // which block of the map this row belongs to
  std::optional<Feature> requires_feature;  // left out of meters without it

  std::uint16_t address() const { return static_cast<std::uint16_t>(register_number - 1); }
  std::string_view function() const { return "holding"; }  // FC3; FC4 serves the same registers
};

struct RegisterBlock {
  std::string name;
  std::uint16_t first_register = 0;
  std::string origin;  // where the layout comes from
};

class RegisterMap {
 public:
  // The map of a meter with these capabilities (rows gated on features are left out).
  static RegisterMap for_capabilities(const Capabilities& capabilities);
  // Every row the firmware can serve, for documentation.
  static RegisterMap complete();

  const std::vector<RegisterEntry>& entries() const { return entries_; }  // ascending by address
  const std::vector<RegisterBlock>& blocks() const { return blocks_; }
  const RegisterEntry* find(std::string_view name) const;
  const RegisterEntry* find_by_register(std::uint16_t register_number) const;  // exact start

 private:
  std::vector<RegisterEntry> entries_;
  std::vector<RegisterBlock> blocks_;
};

}  // namespace proto::model
