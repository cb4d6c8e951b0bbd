#include "libproto/model/device_model.hpp"

#include <algorithm>
#include <cctype>

#include "libproto/model/embedded_file.hpp"

namespace proto::model::embedded_models {
std::span<const EmbeddedFile> embedded_files();
}

namespace proto::model {

namespace {

constexpr std::string_view k_api_version = "meterctl/v1";
constexpr std::string_view k_kind = "DeviceModel";
// Bounds that keep a model file a description, not a data dump.
constexpr std::size_t k_max_feature_sets = 16;
constexpr std::size_t k_max_firmware_releases = 64;
constexpr int k_max_limit_value = 100000;
// Names end up in Modbus device identification objects, which must fit one PDU together
// (Modbus Application Protocol v1.1b3, 6.21); keep each comfortably short.
constexpr std::size_t k_max_name_length = 64;

constexpr std::array<std::string_view, k_feature_count> k_feature_names = {
#define PROTO_FEATURE_NAME(id) #id,
    PROTO_FEATURES(PROTO_FEATURE_NAME)
#undef PROTO_FEATURE_NAME
};
constexpr std::array<std::string_view, k_limit_count> k_limit_names = {
#define PROTO_LIMIT_NAME(id) #id,
    PROTO_LIMITS(PROTO_LIMIT_NAME)
#undef PROTO_LIMIT_NAME
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

template <std::size_t N>
std::string join(const std::array<std::string_view, N>& names) {
  std::string out;
  for (const auto name : names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

std::vector<Feature> read_features(const YamlMap& map, std::string_view key) {
  std::vector<Feature> features;
  const auto node = map.optional(key);
  if (!node.IsDefined() || node.IsNull()) return features;
  if (!node.IsSequence()) map.fail(node, std::string(key) + " must be a list of feature names");
  for (const auto& item : node) {
    const auto name = scalar_string(item, map.file(), key);
    const auto feature = parse_feature(name);
    if (!feature) map.fail(item, "unknown feature '" + name + "'; known features: " + join(k_feature_names));
    features.push_back(*feature);
  }
  return features;
}

Limits read_limits(const YamlMap& parent) {
  Limits limits{};
  const auto node = parent.optional("limits");
  if (!node.IsDefined() || node.IsNull()) return limits;
  YamlMap map(node, parent.file(), "limits");
  for (const auto& entry : node) {
    const auto name = scalar_string(entry.first, parent.file(), "limit name");
    const auto limit = parse_limit(name);
    if (!limit) map.fail(entry.first, "unknown limit '" + name + "'; known limits: " + join(k_limit_names));
    limits[static_cast<std::size_t>(*limit)] = static_cast<int>(map.integer(name, 0, k_max_limit_value));
  }
  return limits;
}

std::vector<std::string> read_string_list(const YamlMap& map, std::string_view key) {
  std::vector<std::string> values;
  const auto node = map.optional(key);
  if (!node.IsDefined() || node.IsNull()) return values;
  if (!node.IsSequence()) map.fail(node, std::string(key) + " must be a list");
  for (const auto& item : node) values.push_back(scalar_string(item, map.file(), key));
  return values;
}

// The services a downgrade can switch off: those a meter has a switch for (seed 003).
std::vector<std::string> read_service_list(const YamlMap& map, std::string_view key) {
  constexpr std::array<std::string_view, 4> k_services = {"ssh", "sftp", "telnet", "ftp"};
  auto names = read_string_list(map, key);
  const YAML::Node list = map.optional(key);
  std::size_t index = 0;
  for (const auto& name : names) {
    if (std::find(k_services.begin(), k_services.end(), name) == k_services.end()) {
      map.fail(list[index], "unknown service '" + name + "' in " + std::string(key) +
                                             "; known services: " + join(k_services));
    }
    ++index;
  }
  return names;
}

std::optional<std::string> optional_string(const YamlMap& map, std::string_view key) {
  if (!map.has(key)) return std::nullopt;
  return map.string(key);
}

void require_one_of(const YamlMap& map, std::string_view key, std::initializer_list<std::string_view> allowed) {
  if (!map.has(key)) return;
  const auto value = map.string(key);
  for (const auto candidate : allowed) {
    if (value == candidate) return;
  }
  std::string list;
  for (const auto candidate : allowed) list += (list.empty() ? "" : ", ") + std::string(candidate);
  map.fail(map.optional(key), std::string(key) + " is '" + value + "'; expected one of: " + list);
}

UpgradeEffects read_upgrade_effects(const YamlMap& release) {
  UpgradeEffects effects;
  const auto node = release.optional("on_upgrade");
  if (!node.IsDefined() || node.IsNull()) return effects;
  YamlMap map(node, release.file(), "on_upgrade");
  map.allow_only({"security_mode", "passwords", "web_server", "plain_native_port"});
  if (map.has("security_mode")) {
    YamlMap modes(map.required("security_mode"), release.file(), "on_upgrade.security_mode");
    modes.allow_only({"standard", "advanced", "legacy"});
    for (const auto& entry : modes.node()) {
      const auto from = entry.first.Scalar();
      const auto to = modes.string(from);
      if (to != "legacy" && to != "standard" && to != "advanced") {
        modes.fail(entry.second, "security mode '" + to + "' is not one of legacy, standard, advanced");
      }
      effects.security_mode[from] = to;
    }
  }
  require_one_of(map, "passwords", {"hashed"});
  require_one_of(map, "web_server", {"enabled", "disabled"});
  require_one_of(map, "plain_native_port", {"enabled", "disabled"});
  effects.passwords = optional_string(map, "passwords");
  effects.web_server = optional_string(map, "web_server");
  effects.plain_native_port = optional_string(map, "plain_native_port");
  return effects;
}

std::optional<DowngradeEffects> read_downgrade_effects(const YamlMap& release) {
  const auto node = release.optional("on_downgrade");
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  YamlMap map(node, release.file(), "on_downgrade");
  map.allow_only({"security_mode", "passwords_reset_to", "services_removed", "services_disabled", "web_read",
                  "web_config"});
  require_one_of(map, "security_mode", {"kept"});
  require_one_of(map, "web_read", {"enabled", "disabled"});
  require_one_of(map, "web_config", {"enabled", "disabled"});
  DowngradeEffects effects;
  effects.security_mode = optional_string(map, "security_mode");
  effects.passwords_reset_to = optional_string(map, "passwords_reset_to");
  effects.services_removed = read_service_list(map, "services_removed");
  effects.services_disabled = read_service_list(map, "services_disabled");
  effects.web_read = optional_string(map, "web_read");
  effects.web_config = optional_string(map, "web_config");
  return effects;
}

FirmwareRelease read_release(const YAML::Node& node, std::string_view file) {
  YamlMap map(node, file, "firmware entry");
  map.allow_only({"version", "released", "brings", "brings_when_shipped", "removes", "limits", "rollback_floor",
                  "on_upgrade", "on_downgrade"});
  FirmwareRelease release;
  const auto version_text = map.string("version");
  const auto version = Version::parse(version_text);
  if (!version) {
    map.fail(map.required("version"), "firmware version '" + version_text + "' is not X.Y.Z or VXXX.YYY.ZZZ");
  }
  release.version = *version;
  release.released = map.string_or("released", "");
  release.brings = read_features(map, "brings");
  release.brings_when_shipped = read_features(map, "brings_when_shipped");
  release.removes = read_features(map, "removes");
  release.limits = read_limits(map);
  release.rollback_floor = map.boolean_or("rollback_floor", false);
  release.on_upgrade = read_upgrade_effects(map);
  release.on_downgrade = read_downgrade_effects(map);
  if (release.rollback_floor && release.on_downgrade) {
    map.fail(map.required("on_downgrade"),
             "a version with rollback_floor: true cannot be downgraded, so on_downgrade makes no sense here");
  }
  return release;
}

DeviceModel read_model(const YAML::Node& root, std::string_view file) {
  YamlMap map(root, file, "device model");
  map.allow_only({"apiVersion", "kind", "name", "vendor", "vendor_url", "product_name", "product_code",
                  "default_feature_set", "feature_sets", "firmware"});
  if (map.string("apiVersion") != k_api_version) {
    map.fail(map.required("apiVersion"), "apiVersion must be " + std::string(k_api_version));
  }
  if (map.string("kind") != k_kind) map.fail(map.required("kind"), "kind must be " + std::string(k_kind));

  DeviceModel model;
  model.name = map.string("name");
  model.vendor = map.string("vendor");
  model.vendor_url = map.string_or("vendor_url", "");
  model.product_name = map.string("product_name");
  model.product_code = map.string_or("product_code", "");
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"name", &model.name},
                                   {"vendor", &model.vendor},
                                   {"vendor_url", &model.vendor_url},
                                   {"product_name", &model.product_name},
                                   {"product_code", &model.product_code}}) {
    if (value->size() > k_max_name_length || (std::string_view(key) == "name" && value->empty())) {
      map.fail(map.optional(key), std::string(key) + " must have 1 to " + std::to_string(k_max_name_length) +
                                      " characters (it is served in Modbus device identification)");
    }
  }

  const auto sets = map.required("feature_sets");
  if (!sets.IsSequence() || sets.size() == 0 || sets.size() > k_max_feature_sets) {
    map.fail(sets, "feature_sets must be a list of 1 to " + std::to_string(k_max_feature_sets) + " entries");
  }
  for (const auto& item : sets) {
    YamlMap set_map(item, file, "feature set");
    set_map.allow_only({"name", "limits"});
    FeatureSet set{set_map.string("name"), read_limits(set_map)};
    if (set.name.empty() || set.name.size() > k_max_name_length) {
      set_map.fail(set_map.required("name"), "a feature set name must have 1 to " +
                                                 std::to_string(k_max_name_length) + " characters");
    }
    if (model.find_feature_set(set.name)) set_map.fail(item, "feature set '" + set.name + "' is listed twice");
    model.feature_sets.push_back(std::move(set));
  }
  model.default_feature_set = map.string("default_feature_set");
  if (!model.find_feature_set(model.default_feature_set)) {
    map.fail(map.required("default_feature_set"),
             "default_feature_set '" + model.default_feature_set + "' is not one of the feature_sets");
  }

  const auto releases = map.required("firmware");
  if (!releases.IsSequence() || releases.size() == 0 || releases.size() > k_max_firmware_releases) {
    map.fail(releases, "firmware must be a list of 1 to " + std::to_string(k_max_firmware_releases) + " releases");
  }
  for (const auto& item : releases) {
    auto release = read_release(item, file);
    if (!model.firmware.empty() && release.version <= model.firmware.back().version) {
      map.fail(item, "firmware " + release.version.to_string() + " must come after " +
                         model.firmware.back().version.to_string() + ": list releases in ascending order, once each");
    }
    model.firmware.push_back(std::move(release));
  }
  return model;
}

}  // namespace

std::string_view to_string(Feature feature) { return k_feature_names[static_cast<std::size_t>(feature)]; }

std::optional<Feature> parse_feature(std::string_view name) {
  for (std::size_t i = 0; i < k_feature_names.size(); ++i) {
    if (k_feature_names[i] == name) return static_cast<Feature>(i);
  }
  return std::nullopt;
}

std::string_view to_string(Limit limit) { return k_limit_names[static_cast<std::size_t>(limit)]; }

std::optional<Limit> parse_limit(std::string_view name) {
  for (std::size_t i = 0; i < k_limit_names.size(); ++i) {
    if (k_limit_names[i] == name) return static_cast<Limit>(i);
  }
  return std::nullopt;
}

const FirmwareRelease* DeviceModel::find_firmware(const Version& version) const {
  for (const auto& release : firmware) {
    if (release.version == version) return &release;
  }
  return nullptr;
}

const FeatureSet* DeviceModel::find_feature_set(std::string_view wanted) const {
  for (const auto& set : feature_sets) {
    if (equals_ignoring_case(set.name, wanted)) return &set;
  }
  return nullptr;
}

Result<Capabilities, std::string> DeviceModel::capabilities(std::string_view feature_set_name,
                                                            const Version& firmware_version,
                                                            std::optional<Version> shipped) const {
  const auto* set = find_feature_set(feature_set_name);
  if (!set) {
    std::string names;
    for (const auto& candidate : feature_sets) names += (names.empty() ? "" : ", ") + candidate.name;
    return unexpected("model " + name + " has no feature set '" + std::string(feature_set_name) +
                      "'; choose one of: " + names);
  }
  if (!find_firmware(firmware_version)) {
    std::string versions;
    for (const auto& release : firmware) versions += (versions.empty() ? "" : ", ") + release.version.to_string();
    return unexpected("model " + name + " has no firmware " + firmware_version.to_string() +
                      "; known versions: " + versions);
  }
  const Version shipped_version = shipped.value_or(firmware_version);
  Capabilities caps;
  caps.model = name;
  caps.feature_set = set->name;
  caps.firmware = firmware_version;
  caps.shipped_firmware = shipped_version;
  for (const auto& release : firmware) {
    if (release.version > firmware_version) break;
    for (const auto feature : release.removes) caps.features.erase(feature);
    caps.features.insert(release.brings.begin(), release.brings.end());
    if (shipped_version >= release.version) {
      caps.features.insert(release.brings_when_shipped.begin(), release.brings_when_shipped.end());
    }
    for (std::size_t i = 0; i < k_limit_count; ++i) {
      if (release.limits[i]) caps.limits[i] = release.limits[i];
    }
  }
  // A feature set narrows the firmware's limits (the 4.6.0 Insert Outage Records rule).
  for (std::size_t i = 0; i < k_limit_count; ++i) {
    if (set->limits[i]) caps.limits[i] = set->limits[i];
  }
  return caps;
}

Result<DeviceModel, YamlError> load_device_model(std::string_view yaml_text, std::string_view file_name) {
  auto root = parse_yaml(yaml_text, file_name);
  if (!root) return unexpected(root.error());
  try {
    return read_model(*root, file_name);
  } catch (const YamlFieldError& e) {
    return unexpected(e.error);
  } catch (const YAML::Exception& e) {
    return unexpected(YamlError{std::string(file_name), e.mark.line + 1, e.mark.column + 1, e.msg});
  }
}

Result<DeviceModel, YamlError> load_device_model_file(const std::filesystem::path& path) {
  auto root = load_yaml_file(path);
  if (!root) return unexpected(root.error());
  try {
    return read_model(*root, path.string());
  } catch (const YamlFieldError& e) {
    return unexpected(e.error);
  } catch (const YAML::Exception& e) {
    return unexpected(YamlError{path.string(), e.mark.line + 1, e.mark.column + 1, e.msg});
  }
}

std::vector<std::string> embedded_model_names() {
  std::vector<std::string> names;
  for (const auto& file : embedded_models::embedded_files()) {
    auto name = std::string(file.name);
    names.push_back(name.substr(0, name.rfind('.')));
  }
  return names;
}

Result<DeviceModel, YamlError> find_device_model(std::string_view name_or_path) {
  for (const auto& file : embedded_models::embedded_files()) {
    const auto stem = file.name.substr(0, file.name.rfind('.'));
    if (equals_ignoring_case(stem, name_or_path)) {
      return load_device_model(file.contents, "embedded:" + std::string(file.name));
    }
  }
  if (name_or_path.find('/') != std::string_view::npos || name_or_path.ends_with(".yaml")) {
    return load_device_model_file(std::filesystem::path(name_or_path));
  }
  std::string names;
  for (const auto& known : embedded_model_names()) names += (names.empty() ? "" : ", ") + known;
  return unexpected(YamlError{std::string(name_or_path), 0, 0,
                              "no such model; built-in models are " + names + ", or give the path of a model file"});
}

}  // namespace proto::model
