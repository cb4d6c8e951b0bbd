#pragma once
// Device models: what each meter model and firmware version can do, loaded from the
// YAML files in profiles/models/ (and embedded in the binaries). Firmware behaviour is
// gated on Capabilities, never on model names or version numbers in code.

#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/model/version.hpp"
#include "libproto/model/yaml_document.hpp"
#include "libproto/result.hpp"

namespace proto::model {

// X(id) for every feature a firmware version can bring.
#define PROTO_FEATURES(X)                                                                              \
  X(hashed_password_storage) X(legacy_security) X(standard_security) X(advanced_security) X(no_security) \
  X(modbus_access_none) X(https_web) X(web_server) X(user_lockouts) X(secure_native) X(native_sessions) \
  X(bacnet) X(password_complexity) X(modbus_unix_time) X(modbus_product_code) X(ssh) X(sftp) X(telnet) X(ftp)

enum class Feature {
#define PROTO_FEATURE_ENUM(id) id,
  PROTO_FEATURES(PROTO_FEATURE_ENUM)
#undef PROTO_FEATURE_ENUM
};
inline constexpr std::size_t k_feature_count = 0
#define PROTO_FEATURE_COUNT(id) +1
    PROTO_FEATURES(PROTO_FEATURE_COUNT)
#undef PROTO_FEATURE_COUNT
    ;

std::string_view to_string(Feature feature);
std::optional<Feature> parse_feature(std::string_view name);

#define PROTO_LIMITS(X)                                                                                    \
  X(password_max_length) X(users) X(recorder_linked_sources) X(recorder_linked_sources_with_trigger)      \
  X(recorders_with_insert_outage_records) X(modbus_master_map_modules) X(modbus_master_devices)

enum class Limit {
#define PROTO_LIMIT_ENUM(id) id,
  PROTO_LIMITS(PROTO_LIMIT_ENUM)
#undef PROTO_LIMIT_ENUM
};
inline constexpr std::size_t k_limit_count = 0
#define PROTO_LIMIT_COUNT(id) +1
    PROTO_LIMITS(PROTO_LIMIT_COUNT)
#undef PROTO_LIMIT_COUNT
    ;

std::string_view to_string(Limit limit);
std::optional<Limit> parse_limit(std::string_view name);

using Limits = std::array<std::optional<int>, k_limit_count>;

// What an upgrade to a version does to a meter coming from an older one.
struct UpgradeEffects {
  std::map<std::string, std::string> security_mode;  // old mode -> new mode
  std::optional<std::string> passwords;              // "hashed"
  std::optional<std::string> web_server;             // "disabled"
  std::optional<std::string> plain_native_port;      // "enabled"
};

// What leaving a version for an older one does (only where rollback_floor is false).
struct DowngradeEffects {
  std::optional<std::string> security_mode;       // "kept"
  std::optional<std::string> passwords_reset_to;  // every user's password becomes this
  std::vector<std::string> services_removed;
  std::vector<std::string> services_disabled;
  std::optional<std::string> web_read;
  std::optional<std::string> web_config;
};

struct FirmwareRelease {
  Version version;
  std::string released;  // YYYY-MM
  std::vector<Feature> brings;
  std::vector<Feature> brings_when_shipped;  // only on meters shipped with this version or later
  std::vector<Feature> removes;
  Limits limits{};
  // Once a meter runs this version or later it never accepts an older one.
  bool rollback_floor = false;
  UpgradeEffects on_upgrade;
  std::optional<DowngradeEffects> on_downgrade;
};

struct FeatureSet {
  std::string name;
  Limits limits{};
};

// The resolved view of one meter: model, feature set, running and shipped firmware.
struct Capabilities {
  std::string model;
  std::string feature_set;
  Version firmware;
  Version shipped_firmware;
  std::set<Feature> features;
  Limits limits{};

  bool has(Feature feature) const { return features.count(feature) != 0; }
  std::optional<int> limit(Limit which) const { return limits[static_cast<std::size_t>(which)]; }
};

struct DeviceModel {
  std::string name;
  std::string vendor;
  std::string vendor_url;
  std::string product_name;
  std::string product_code;
  std::string default_feature_set;
  std::vector<FeatureSet> feature_sets;
  std::vector<FirmwareRelease> firmware;  // ascending by version

  const FirmwareRelease& latest_firmware() const { return firmware.back(); }
  const FirmwareRelease* find_firmware(const Version& version) const;
  const FeatureSet* find_feature_set(std::string_view name) const;  // case-insensitive

  // Resolves features and limits; errors name what exists. `shipped` defaults to `firmware`.
  Result<Capabilities, std::string> capabilities(std::string_view feature_set, const Version& firmware_version,
                                                 std::optional<Version> shipped = std::nullopt) const;
};

// Reads and validates a model document; every error carries file:line:column.
Result<DeviceModel, YamlError> load_device_model(std::string_view yaml_text, std::string_view file_name);
Result<DeviceModel, YamlError> load_device_model_file(const std::filesystem::path& path);

// The models compiled into the binaries (profiles/models/*.yaml at build time).
std::vector<std::string> embedded_model_names();
// NAME is an embedded model (case-insensitive) or the path of a model file.
Result<DeviceModel, YamlError> find_device_model(std::string_view name_or_path);

}  // namespace proto::model
