#include "libsec/meter_profile.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "libproto/model/measurement.hpp"
#include "libproto/model/register_map.hpp"
#include "libproto/model/version.hpp"
#include "libproto/model/yaml_document.hpp"
#include "libsec/security_document_sections.hpp"

namespace sec {

using proto::unexpected;
using proto::model::YamlError;
using proto::model::YamlFieldError;
using proto::model::YamlMap;

namespace {

// TCP and UDP port numbers are 16 bits (RFC 793, 3.1); port 0 means "any" and cannot be
// listened on by a meter.
constexpr std::int64_t k_min_port = 1;
constexpr std::int64_t k_max_port = 65535;
// Modbus over Serial Line v1.02, 2.2: unicast addresses are 1 to 247.
constexpr std::int64_t k_min_unit_id = 1;
constexpr std::int64_t k_max_unit_id = 247;
// Device model, feature set and recorder names: as short as device_model.cpp keeps names.
constexpr std::size_t k_max_name_length = 64;
// metadata text is a label or a paragraph, never a document of its own.
constexpr std::size_t k_max_text_length = 4096;
// Linux PATH_MAX: no path longer than this can be opened.
constexpr std::size_t k_max_path_length = 4096;
// The nominal voltage shares its range with the PT primary rating (register_map.hpp).
constexpr double k_max_nominal_voltage = 1000000;
// A recorder logs at least once a day.
constexpr std::int64_t k_max_recorder_interval_s = 24 * 3600;
// IANA tz database, theory.html, "Timezone identifiers": components of ASCII letters,
// digits, '.', '-', '_' and '+'; real identifiers stay under 40 characters.
constexpr std::size_t k_max_time_zone_length = 64;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string mark_of(const YAML::Node& node, std::string_view file) {
  const auto mark = node.Mark();
  if (mark.line < 0) return std::string(file);
  return std::string(file) + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// A key given with no value is a value forgotten, never "keep the meter's": say so.
YAML::Node value_of(const YamlMap& map, std::string_view key, const std::string& path) {
  auto node = map.optional(key);
  if (node.IsNull()) map.fail(node, path + " has no value; give one or remove the key");
  return node;
}

std::string path_of(const std::string& context, std::string_view key) {
  return context.empty() ? std::string(key) : context + "." + std::string(key);
}

std::optional<bool> read_flag(const YamlMap& map, const std::string& context, std::string_view key) {
  if (!map.has(key)) return std::nullopt;
  value_of(map, key, path_of(context, key));
  return map.boolean_or(key, false);
}

std::optional<std::int64_t> read_integer(const YamlMap& map, const std::string& context, std::string_view key,
                                         std::int64_t min, std::int64_t max) {
  if (!map.has(key)) return std::nullopt;
  value_of(map, key, path_of(context, key));
  return map.integer(key, min, max);
}

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
  });
}

// Text that must be one line: names, paths, versions.
std::optional<std::string> read_word(const YamlMap& map, const std::string& context, std::string_view key,
                                     std::size_t max_length) {
  if (!map.has(key)) return std::nullopt;
  const auto path = path_of(context, key);
  const auto node = value_of(map, key, path);
  auto text = proto::model::scalar_string(node, map.file(), path);
  if (text.empty() || text.size() > max_length) {
    map.fail(node, path + " must have 1 to " + std::to_string(max_length) + " characters");
  }
  if (has_control_character(text)) map.fail(node, path + " must be one line without control characters");
  return text;
}

std::optional<std::string> read_text(const YamlMap& map, const std::string& context, std::string_view key) {
  if (!map.has(key)) return std::nullopt;
  const auto path = path_of(context, key);
  const auto node = value_of(map, key, path);
  auto text = proto::model::scalar_string(node, map.file(), path);
  if (text.size() > k_max_text_length) {
    map.fail(node, path + " has " + std::to_string(text.size()) + " characters; keep it within " +
                       std::to_string(k_max_text_length));
  }
  return text;
}

template <typename Enum>
std::optional<Enum> read_choice(const YamlMap& map, const std::string& context, std::string_view key,
                                std::optional<Enum> (*parse)(std::string_view), std::string_view choices) {
  if (!map.has(key)) return std::nullopt;
  const auto path = path_of(context, key);
  const auto node = value_of(map, key, path);
  const auto text = proto::model::scalar_string(node, map.file(), path);
  const auto value = parse(text);
  if (!value) map.fail(node, path + " is '" + text + "'; use " + std::string(choices));
  return value;
}

const proto::model::ConfigSettingInfo& setting(proto::model::ConfigSetting which) { return proto::model::info(which); }

std::optional<std::int64_t> read_setting(const YamlMap& map, const std::string& context, std::string_view key,
                                         proto::model::ConfigSetting which) {
  const auto& info = setting(which);
  return read_integer(map, context, key, info.min, info.max);
}

bool is_name_character(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
}

bool valid_time_zone(std::string_view zone) {
  if (zone == "UTC") return true;
  if (zone.size() > k_max_time_zone_length) return false;
  std::size_t components = 0;
  std::size_t start = 0;
  while (start <= zone.size()) {
    const auto end = std::min(zone.find('/', start), zone.size());
    const auto component = zone.substr(start, end - start);
    if (component.empty() || std::isalpha(static_cast<unsigned char>(component.front())) == 0) return false;
    for (const char c : component) {
      if (!is_name_character(c) && c != '+') return false;
    }
    ++components;
    start = end + 1;
  }
  return components >= 2;
}

PortSetting read_port(const YamlMap& map, const std::string& context) {
  PortSetting port;
  port.enabled = read_flag(map, context, "enabled");
  if (const auto number = read_integer(map, context, "port", k_min_port, k_max_port)) {
    port.port = static_cast<std::uint16_t>(*number);
  }
  return port;
}

void read_identity(const YamlMap& root, MeterProfile& profile) {
  const YamlMap meter(root.optional("meter"), root.file(), "meter");
  meter.allow_only({"model", "feature_set", "min_firmware"});
  profile.identity.model = read_word(meter, "meter", "model", k_max_name_length);
  profile.identity.feature_set = read_word(meter, "meter", "feature_set", k_max_name_length);
  if (const auto text = read_word(meter, "meter", "min_firmware", k_max_name_length)) {
    const auto version = proto::model::Version::parse(*text);
    if (!version) {
      meter.fail(meter.optional("min_firmware"),
                 "meter.min_firmware is '" + *text + "'; write a firmware version as X.Y.Z (4.6.0) or V004.006.000");
    }
    profile.identity.min_firmware = version->to_string();
  }
}

void read_communications(const YamlMap& root, MeterProfile& profile) {
  const auto file = root.file();
  const YamlMap communications(root.optional("communications"), file, "communications");
  communications.allow_only({"modbus_tcp", "native", "secure_native", "web"});
  auto& out = profile.communications;
  if (communications.has("modbus_tcp")) {
    const YamlMap modbus(communications.optional("modbus_tcp"), file, "communications.modbus_tcp");
    modbus.allow_only({"enabled", "port", "access", "unit_id"});
    out.modbus_tcp = read_port(modbus, "communications.modbus_tcp");
    profile.security.modbus_access = read_choice<ModbusAccess>(modbus, "communications.modbus_tcp", "access",
                                                               parse_modbus_access, "none, read-only or read-write");
    if (const auto unit = read_integer(modbus, "communications.modbus_tcp", "unit_id", k_min_unit_id, k_max_unit_id)) {
      out.modbus_unit_id = static_cast<std::uint8_t>(*unit);
    }
  }
  for (const auto& [key, target] :
       {std::pair<std::string_view, PortSetting*>{"native", &out.native}, {"secure_native", &out.secure_native}}) {
    if (!communications.has(key)) continue;
    const auto context = "communications." + std::string(key);
    const YamlMap map(communications.optional(key), file, context);
    map.allow_only({"enabled", "port"});
    *target = read_port(map, context);
  }
  if (communications.has("web")) {
    const YamlMap web(communications.optional("web"), file, "communications.web");
    web.allow_only({"mode", "http_port", "https_port"});
    out.web_mode =
        read_choice<WebMode>(web, "communications.web", "mode", parse_web_mode, "https-redirect, https or disabled");
    if (out.web_mode) profile.security.web_server = *out.web_mode != WebMode::disabled;
    if (const auto port = read_integer(web, "communications.web", "http_port", k_min_port, k_max_port)) {
      out.http_port = static_cast<std::uint16_t>(*port);
    }
    if (const auto port = read_integer(web, "communications.web", "https_port", k_min_port, k_max_port)) {
      out.https_port = static_cast<std::uint16_t>(*port);
    }
  }
}

void read_metering(const YamlMap& root, MeterProfile& profile) {
  using proto::model::ConfigSetting;
  const auto file = root.file();
  const YamlMap metering(root.optional("metering"), file, "metering");
  metering.allow_only({"wiring", "pt", "ct", "nominal_voltage", "nominal_frequency", "demand"});
  auto& out = profile.metering;
  out.wiring = read_choice<Wiring>(metering, "metering", "wiring", parse_wiring, "wye or delta");
  if (metering.has("pt")) {
    const YamlMap pt(metering.optional("pt"), file, "metering.pt");
    pt.allow_only({"primary", "secondary"});
    out.pt_primary = read_setting(pt, "metering.pt", "primary", ConfigSetting::pt_primary);
    out.pt_secondary = read_setting(pt, "metering.pt", "secondary", ConfigSetting::pt_secondary);
  }
  if (metering.has("ct")) {
    const YamlMap ct(metering.optional("ct"), file, "metering.ct");
    ct.allow_only({"primary", "secondary"});
    out.ct_primary = read_setting(ct, "metering.ct", "primary", ConfigSetting::ct_primary);
    out.ct_secondary = read_setting(ct, "metering.ct", "secondary", ConfigSetting::ct_secondary);
  }
  if (metering.has("nominal_voltage")) {
    value_of(metering, "nominal_voltage", "metering.nominal_voltage");
    out.nominal_voltage = metering.number("nominal_voltage", 1, k_max_nominal_voltage);
  }
  if (metering.has("nominal_frequency")) {
    const auto node = value_of(metering, "nominal_frequency", "metering.nominal_frequency");
    const auto hertz = metering.number("nominal_frequency", 50, 60);
    // Power systems run at 50 Hz or 60 Hz (IEC 60196); a meter is set to one of them.
    if (hertz != 50 && hertz != 60) {
      metering.fail(node, "metering.nominal_frequency is " + node.Scalar() + "; use 50 or 60");
    }
    out.nominal_frequency = hertz;
  }
  if (metering.has("demand")) {
    const YamlMap demand(metering.optional("demand"), file, "metering.demand");
    demand.allow_only({"interval_minutes", "subintervals"});
    out.demand_interval_minutes =
        read_setting(demand, "metering.demand", "interval_minutes", ConfigSetting::demand_interval_minutes);
    out.demand_subintervals =
        read_setting(demand, "metering.demand", "subintervals", ConfigSetting::demand_subintervals);
  }
}

void read_clock(const YamlMap& root, MeterProfile& profile) {
  const YamlMap clock(root.optional("clock"), root.file(), "clock");
  clock.allow_only({"time_zone", "time_sync"});
  profile.clock.time_zone = read_word(clock, "clock", "time_zone", k_max_time_zone_length);
  if (profile.clock.time_zone && !valid_time_zone(*profile.clock.time_zone)) {
    clock.fail(clock.optional("time_zone"), "clock.time_zone is '" + *profile.clock.time_zone +
                                                "'; use an IANA zone name such as Europe/Paris, or UTC");
  }
  profile.security.time_sync = read_flag(clock, "clock", "time_sync");
}

void read_events(const YamlMap& root, MeterProfile& profile) {
  const auto file = root.file();
  const YamlMap events(root.optional("events"), file, "events");
  events.allow_only({"priorities"});
  if (!events.has("priorities")) return;
  const auto node = events.optional("priorities");
  const YamlMap priorities(node, file, "events.priorities");
  for (const auto& entry : node) {
    const auto key = proto::model::scalar_string(entry.first, file, "events.priorities key");
    const auto type = parse_security_event_type(key);
    if (!type) {
      std::vector<std::string> known;
      for (std::size_t i = 0; i < k_security_event_type_count; ++i) {
        known.emplace_back(to_string(static_cast<SecurityEventType>(i)));
      }
      priorities.fail(entry.first, "unknown event type '" + key + "' in events.priorities; known: " + join(known));
    }
    for (const auto& [earlier, priority] : profile.security.priorities) {
      if (earlier == *type) priorities.fail(entry.first, "events.priorities lists '" + key + "' twice");
    }
    if (entry.second.IsNull()) {
      priorities.fail(entry.first, "events.priorities." + key + " has no value; give 0 to 255");
    }
    // The bands of security_events.hpp: 0 (not logged) to 255 (high alarm), one byte.
    const auto value = proto::model::scalar_number(entry.second, file, "events.priorities." + key, 0, 255);
    if (value != std::floor(value)) {
      priorities.fail(entry.second, "events.priorities." + key + " must be a whole number");
    }
    profile.security.priorities.emplace_back(*type, static_cast<std::uint8_t>(value));
  }
}

std::vector<std::string> read_sources(const YamlMap& entry, const std::string& context) {
  const auto path = context + ".sources";
  const auto node = value_of(entry, "sources", path);
  if (!node.IsSequence() || node.size() == 0) {
    entry.fail(node, path + " must be a list of 1 to " + std::to_string(k_max_recorder_sources) +
                         " measurement point names, such as [active_energy_delivered]");
  }
  if (node.size() > k_max_recorder_sources) {
    entry.fail(node, path + " lists " + std::to_string(node.size()) + " sources; a recorder logs at most " +
                         std::to_string(k_max_recorder_sources));
  }
  std::vector<std::string> sources;
  for (const auto& item : node) {
    auto name = proto::model::scalar_string(item, entry.file(), path);
    if (!proto::model::find_point(name)) {
      entry.fail(item,
                 "unknown measurement point '" + name + "' in " + path + "; `meterctl read --list` shows the names");
    }
    if (std::find(sources.begin(), sources.end(), name) != sources.end()) {
      entry.fail(item, path + " lists '" + name + "' twice");
    }
    sources.push_back(std::move(name));
  }
  return sources;
}

void read_recorders(const YamlMap& root, MeterProfile& profile) {
  const auto file = root.file();
  const auto node = value_of(root, "recorders", "recorders");
  if (!node.IsSequence()) {
    root.fail(node, "recorders must be a list of {name, sources, interval_s} entries ([] for none)");
  }
  if (node.size() > k_max_recorders) {
    root.fail(node, "recorders lists " + std::to_string(node.size()) + " recorders; a profile may name at most " +
                        std::to_string(k_max_recorders));
  }
  profile.recorders_listed = true;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YamlMap entry(node[i], file, "recorders[" + std::to_string(i) + "]");
    entry.allow_only({"name", "sources", "interval_s", "triggered", "insert_outage_records"});
    ProfileRecorder recorder;
    const auto name_node = entry.required("name");
    recorder.name = proto::model::scalar_string(name_node, file, "recorders[" + std::to_string(i) + "].name");
    if (recorder.name.empty() || recorder.name.size() > k_max_name_length ||
        !std::all_of(recorder.name.begin(), recorder.name.end(), is_name_character)) {
      entry.fail(name_node,
                 "a recorder name has 1 to " + std::to_string(k_max_name_length) + " letters, digits, '-', '_' or '.'");
    }
    for (const auto& earlier : profile.recorders) {
      if (earlier.name == recorder.name) entry.fail(name_node, "recorder '" + recorder.name + "' is listed twice");
    }
    const auto context = "recorders[" + recorder.name + "]";
    // From here on, messages name the recorder rather than its position.
    const YamlMap named(node[i], file, context);
    recorder.location = mark_of(node[i], file);
    if (named.has("sources")) recorder.sources = read_sources(named, context);
    if (const auto interval = read_integer(named, context, "interval_s", 1, k_max_recorder_interval_s)) {
      recorder.interval_s = static_cast<std::uint32_t>(*interval);
    }
    recorder.triggered = read_flag(named, context, "triggered");
    recorder.insert_outage_records = read_flag(named, context, "insert_outage_records");
    profile.recorders.push_back(std::move(recorder));
  }
}

// Named lists are keyed by their items' names so that a path survives reordering.
bool is_named_list(const std::string& path) { return path == "security.users" || path == "recorders"; }

// Records where each key sits and refuses a key given twice in one mapping (yaml-cpp
// keeps both, and the readers would silently take the first). Runs after the readers, so
// the shape is known and the depth bounded by the format.
void record_locations(const YAML::Node& map, const std::string& path, std::string_view file,
                      std::map<std::string, std::string>& locations) {
  std::set<std::string> seen;
  for (const auto& entry : map) {
    const auto& key = entry.first.Scalar();
    if (!seen.insert(key).second) {
      proto::model::fail_at(entry.first, file,
                            "'" + key + "' is given twice in " + (path.empty() ? "the profile" : path) + "; keep one");
    }
    const auto child = path.empty() ? key : path + "." + key;
    locations[child] = mark_of(entry.first, file);
    if (entry.second.IsMap()) {
      record_locations(entry.second, child, file, locations);
    } else if (entry.second.IsSequence() && is_named_list(child)) {
      for (const auto& item : entry.second) {
        const auto item_path = child + "[" + item["name"].Scalar() + "]";
        locations[item_path] = mark_of(item, file);
        record_locations(item, item_path, file, locations);
      }
    }
  }
}

MeterProfile read_profile(const YAML::Node& root_node, std::string_view file) {
  const YamlMap root(root_node, file, "meter profile");
  root.allow_only({"apiVersion", "kind", "metadata", "extends", "meter", "communications", "security", "metering",
                   "clock", "events", "recorders", "simulation"});
  if (const auto api = root.string("apiVersion"); api != k_profile_api_version) {
    root.fail(root.required("apiVersion"),
              "apiVersion is '" + api + "'; this version reads '" + std::string(k_profile_api_version) + "'");
  }
  if (const auto kind = root.string("kind"); kind != k_profile_kind) {
    std::string hint;
    if (kind == k_security_document_kind) {
      hint =
          " (a SecurityConfiguration document goes to `meterctl security apply`; in a profile, its sections "
          "go under security:)";
    }
    root.fail(root.required("kind"),
              "kind is '" + kind + "'; a meter profile has kind: " + std::string(k_profile_kind) + hint);
  }
  MeterProfile profile;
  if (root.has("metadata")) {
    const YamlMap metadata(value_of(root, "metadata", "metadata"), file, "metadata");
    metadata.allow_only({"name", "description"});
    profile.name = read_text(metadata, "metadata", "name");
    profile.description = read_text(metadata, "metadata", "description");
  }
  profile.extends = read_word(root, "", "extends", k_max_path_length);
  if (root.has("meter")) read_identity(root, profile);
  if (root.has("communications")) read_communications(root, profile);
  if (root.has("security")) {
    const YamlMap security(root.optional("security"), file, "security");
    detail::check_security_keys(security, detail::SecurityKeys::profile);
    detail::read_security_sections(security, detail::SecurityKeys::profile, profile.security);
    const auto& users = profile.security.users;
    for (std::size_t i = 0; i < users.size(); ++i) {
      const auto& path = users[i].password_file;
      if (path && (path->empty() || path->size() > k_max_path_length || has_control_character(*path))) {
        proto::model::fail_at(security.optional("users")[i]["password_file"], file,
                              "security.users[" + users[i].name + "].password_file must be a path of 1 to " +
                                  std::to_string(k_max_path_length) + " characters on one line");
      }
    }
  }
  if (root.has("metering")) read_metering(root, profile);
  if (root.has("clock")) read_clock(root, profile);
  if (root.has("events")) read_events(root, profile);
  if (root.has("recorders")) read_recorders(root, profile);
  if (root.has("simulation")) {
    const YamlMap simulation(root.optional("simulation"), file, "simulation");
    simulation.allow_only({"scenario"});
    profile.scenario = read_word(simulation, "simulation", "scenario", k_max_name_length);
    if (profile.scenario && !std::all_of(profile.scenario->begin(), profile.scenario->end(), is_name_character)) {
      simulation.fail(simulation.optional("scenario"),
                      "simulation.scenario is '" + *profile.scenario +
                          "'; name a built-in scenario (profiles/scenarios/), such as steady-state");
    }
  }
  record_locations(root_node, "", file, profile.locations);
  return profile;
}

// ---- writing ----

bool is_reserved_word(std::string_view text) {
  // Words YAML 1.1 or 1.2 readers take for null or a boolean: quoted so that no reader,
  // ours or another, takes a name for anything but text.
  static constexpr std::array<std::string_view, 9> k_words = {"null", "~",  "true", "false", "yes",
                                                              "no",   "on", "off",  "y"};
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return lower == "n" || std::find(k_words.begin(), k_words.end(), lower) != k_words.end();
}

bool plain_safe(std::string_view text) {
  if (text.empty() || is_reserved_word(text) || text.starts_with("...")) return false;
  const auto first = static_cast<unsigned char>(text.front());
  if (std::isalnum(first) == 0 && first != '_' && first != '.' && first != '/') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' || c == '/' || c == '+';
  });
}

std::string yaml_scalar(std::string_view text) {
  if (plain_safe(text)) return std::string(text);
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto rest = text.substr(i);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += k_hex[c >> 4];
      out += k_hex[c & 0xf];
    } else if (rest.starts_with("\xC2\x85")) {
      // NEL, LS, PS and the BOM are line breaks or stream marks to some YAML readers.
      out += "\\u0085";
      ++i;
    } else if (rest.starts_with("\xE2\x80\xA8") || rest.starts_with("\xE2\x80\xA9") ||
               rest.starts_with("\xEF\xBB\xBF")) {
      out += rest.starts_with("\xE2\x80\xA8") ? "\\u2028" : rest.starts_with("\xE2\x80\xA9") ? "\\u2029" : "\\uFEFF";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

const char* yes_no(bool value) { return value ? "true" : "false"; }

std::string number_text(double value) {
  // Shortest text that reads back to the same double, without an exponent.
  std::array<char, 400> buffer{};
  const auto [end, error] =
      std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed);
  if (error != std::errc()) return std::to_string(value);
  return std::string(buffer.data(), end);
}

std::string permissions_text(PermissionSet permissions) {
  if (permissions == PermissionSet::all()) return "[all]";
  std::string text;
  for (const auto name : permissions.names()) text += (text.empty() ? "" : ", ") + std::string(name);
  return "[" + text + "]";
}

std::string list_text(const std::vector<std::string>& items, bool yaml) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + (yaml ? yaml_scalar(item) : item);
  return "[" + text + "]";
}

// One key: value per setting, in the order of the format. Both the writer and
// flatten_profile walk the profile through this, so they cannot disagree.
struct Setting {
  std::string path;         // dotted, as in MeterProfile::locations
  std::string yaml_value;   // as written in the document
  std::string plain_value;  // as shown by flatten_profile
};

template <typename T>
std::string integer_text(T value) {
  return std::to_string(static_cast<std::int64_t>(value));
}

struct Collector {
  std::vector<Setting> settings;

  void text(const std::string& path, const std::optional<std::string>& value) {
    if (value) settings.push_back({path, yaml_scalar(*value), *value});
  }
  void flag(const std::string& path, const std::optional<bool>& value) {
    if (value) settings.push_back({path, yes_no(*value), yes_no(*value)});
  }
  template <typename T>
  void integer(const std::string& path, const std::optional<T>& value) {
    if (value) settings.push_back({path, integer_text(*value), integer_text(*value)});
  }
  void seconds(const std::string& path, const std::optional<std::chrono::seconds>& value) {
    if (value) integer(path, std::optional<std::int64_t>(value->count()));
  }
  void number(const std::string& path, const std::optional<double>& value) {
    if (value) settings.push_back({path, number_text(*value), number_text(*value)});
  }
  template <typename Enum>
  void choice(const std::string& path, const std::optional<Enum>& value) {
    if (value) settings.push_back({path, std::string(to_string(*value)), std::string(to_string(*value))});
  }
  void raw(const std::string& path, std::string yaml, std::string plain) {
    settings.push_back({path, std::move(yaml), std::move(plain)});
  }
};

std::optional<WebMode> effective_web_mode(const MeterProfile& profile) {
  if (profile.communications.web_mode) return profile.communications.web_mode;
  if (profile.security.web_server == false) return WebMode::disabled;
  return std::nullopt;
}

void collect_port(Collector& out, const std::string& path, const PortSetting& port) {
  out.flag(path + ".enabled", port.enabled);
  out.integer(path + ".port", port.port);
}

void collect_lockout(Collector& out, const std::string& path, const DocumentLockout& lockout) {
  out.integer(path + ".attempts", lockout.attempts);
  out.seconds(path + ".window_s", lockout.window);
  out.seconds(path + ".duration_s", lockout.duration);
}

std::vector<Setting> collect(const MeterProfile& profile) {
  Collector out;
  const auto& security = profile.security;
  out.text("metadata.name", profile.name);
  out.text("metadata.description", profile.description);
  out.text("extends", profile.extends);
  out.text("meter.model", profile.identity.model);
  out.text("meter.feature_set", profile.identity.feature_set);
  out.text("meter.min_firmware", profile.identity.min_firmware);
  const auto& communications = profile.communications;
  collect_port(out, "communications.modbus_tcp", communications.modbus_tcp);
  out.choice("communications.modbus_tcp.access", security.modbus_access);
  out.integer("communications.modbus_tcp.unit_id", communications.modbus_unit_id);
  collect_port(out, "communications.native", communications.native);
  collect_port(out, "communications.secure_native", communications.secure_native);
  out.choice("communications.web.mode", effective_web_mode(profile));
  out.integer("communications.web.http_port", communications.http_port);
  out.integer("communications.web.https_port", communications.https_port);
  out.choice("security.mode", security.mode);
  out.choice("security.policy.complexity", security.complexity);
  out.integer("security.policy.min_length", security.min_length);
  collect_lockout(out, "security.lockout.native", security.native_lockout);
  collect_lockout(out, "security.lockout.web", security.web_lockout);
  out.seconds("security.session_timeout_s", security.session_timeout);
  out.flag("security.options.web_server_programming", security.web_server_programming);
  out.flag("security.options.front_panel_programming", security.front_panel_programming);
  out.flag("security.options.revenue_lock", security.revenue_lock);
  out.flag("security.options.services.ssh", security.ssh);
  out.flag("security.options.services.sftp", security.sftp);
  out.flag("security.options.services.telnet", security.telnet);
  out.flag("security.options.services.ftp", security.ftp);
  out.integer("security.password_hashing.log2_n", security.hash_log2_n);
  out.integer("security.password_hashing.r", security.hash_r);
  out.integer("security.password_hashing.p", security.hash_p);
  out.flag("security.password_hashing.fleet_allowed", security.fleet_allowed);
  if (security.users_listed && security.users.empty()) out.raw("security.users", "[]", "[]");
  for (const auto& user : security.users) {
    const auto path = "security.users[" + user.name + "]";
    const auto before = out.settings.size();
    if (user.permissions) {
      out.raw(path + ".permissions", permissions_text(*user.permissions), permissions_text(*user.permissions));
    }
    out.text(path + ".password_file", user.password_file);
    out.text(path + ".password_hash", user.password_hash);
    if (out.settings.size() == before) out.raw(path, "", "(listed)");
  }
  const auto& metering = profile.metering;
  out.choice("metering.wiring", metering.wiring);
  out.integer("metering.pt.primary", metering.pt_primary);
  out.integer("metering.pt.secondary", metering.pt_secondary);
  out.integer("metering.ct.primary", metering.ct_primary);
  out.integer("metering.ct.secondary", metering.ct_secondary);
  out.number("metering.nominal_voltage", metering.nominal_voltage);
  out.number("metering.nominal_frequency", metering.nominal_frequency);
  out.integer("metering.demand.interval_minutes", metering.demand_interval_minutes);
  out.integer("metering.demand.subintervals", metering.demand_subintervals);
  out.text("clock.time_zone", profile.clock.time_zone);
  out.flag("clock.time_sync", security.time_sync);
  for (const auto& [type, priority] : security.priorities) {
    out.integer("events.priorities." + std::string(to_string(type)), std::optional<int>(priority));
  }
  if (profile.recorders_listed && profile.recorders.empty()) out.raw("recorders", "[]", "[]");
  for (const auto& recorder : profile.recorders) {
    const auto path = "recorders[" + recorder.name + "]";
    const auto before = out.settings.size();
    if (!recorder.sources.empty()) {
      out.raw(path + ".sources", list_text(recorder.sources, true), list_text(recorder.sources, false));
    }
    out.integer(path + ".interval_s", recorder.interval_s);
    out.flag(path + ".triggered", recorder.triggered);
    out.flag(path + ".insert_outage_records", recorder.insert_outage_records);
    if (out.settings.size() == before) out.raw(path, "", "(listed)");
  }
  out.text("simulation.scenario", profile.scenario);
  return out.settings;
}

// The writer: settings grouped by their dotted paths. A group whose members are all
// scalars and fit on a line becomes a flow map; anything else a block.
constexpr std::size_t k_flow_line_width = 100;

class Writer {
 public:
  explicit Writer(std::ostringstream& out) : out_(out) {}

  void write_group(const std::vector<Setting>& settings, std::size_t& index, const std::string& prefix, int indent) {
    while (index < settings.size() && settings[index].path.starts_with(prefix)) {
      const auto rest = std::string_view(settings[index].path).substr(prefix.size());
      const auto [key, nested] = split(rest);
      if (key.find('[') != std::string_view::npos) {
        write_named_list(settings, index, prefix + std::string(key.substr(0, key.find('['))), indent);
        continue;
      }
      if (!nested) {
        write_scalar(indent, key, settings[index].yaml_value);
        ++index;
        continue;
      }
      const auto group = prefix + std::string(key) + ".";
      const auto end = group_end(settings, index, group);
      // Top-level sections stay blocks, so a profile reads as an outline of its sections.
      const auto flow =
          indent == 0 ? std::nullopt : flow_map(settings, index, end, group, indent + static_cast<int>(key.size()) + 2);
      if (flow) {
        write_scalar(indent, key, *flow);
        index = end;
      } else {
        line(indent) << key << ":\n";
        write_group(settings, index, group, indent + 2);
      }
    }
  }

 private:
  static std::pair<std::string_view, bool> split(std::string_view rest) {
    // A named item's key is "users[name]"; its name may hold dots, so split after ']'.
    const auto open = rest.find('[');
    const auto first_dot = rest.find('.');
    const auto from = open != std::string_view::npos && open < first_dot ? rest.find(']', open) : 0;
    const auto dot = rest.find('.', from);
    if (dot == std::string_view::npos) return {rest, false};
    return {rest.substr(0, dot), true};
  }

  static std::size_t group_end(const std::vector<Setting>& settings, std::size_t index, const std::string& group) {
    while (index < settings.size() && settings[index].path.starts_with(group)) ++index;
    return index;
  }

  static std::optional<std::string> flow_map(const std::vector<Setting>& settings, std::size_t begin, std::size_t end,
                                             const std::string& group, int indent) {
    std::string text;
    for (auto i = begin; i < end; ++i) {
      const auto key = std::string_view(settings[i].path).substr(group.size());
      if (key.find('.') != std::string_view::npos || key.find('[') != std::string_view::npos) return std::nullopt;
      text += (text.empty() ? "" : ", ") + std::string(key) + ": " + settings[i].yaml_value;
    }
    // Groups with many keys read better as a block, one key a line.
    if (end - begin > 4 || text.size() + static_cast<std::size_t>(indent) + 2 > k_flow_line_width) {
      return std::nullopt;
    }
    return "{" + text + "}";
  }

  void write_named_list(const std::vector<Setting>& settings, std::size_t& index, const std::string& list_path,
                        int indent) {
    const auto dot = list_path.rfind('.');
    line(indent) << list_path.substr(dot == std::string::npos ? 0 : dot + 1) << ":\n";
    while (index < settings.size() && settings[index].path.starts_with(list_path + "[")) {
      // "list[name]" or "list[name].field": field names hold no dot, item names may.
      const auto& path = settings[index].path;
      const auto item = path.back() == ']' ? path : path.substr(0, path.rfind('.'));
      const auto name = item.substr(list_path.size() + 1, item.size() - list_path.size() - 2);
      line(indent + 2) << "- name: " << yaml_scalar(name) << "\n";
      while (index < settings.size() &&
             (settings[index].path == item || settings[index].path.starts_with(item + "."))) {
        if (settings[index].path != item) {
          write_scalar(indent + 4, std::string_view(settings[index].path).substr(item.size() + 1),
                       settings[index].yaml_value);
        }
        ++index;
      }
    }
  }

  void write_scalar(int indent, std::string_view key, const std::string& value) {
    if (value.size() > 2 && value.front() == '[' &&
        value.size() + key.size() + static_cast<std::size_t>(indent) + 2 > k_flow_line_width) {
      // A long list, one item a line; items are already quoted where needed.
      line(indent) << key << ":\n";
      std::string_view items(value);
      items = items.substr(1, items.size() - 2);
      std::size_t start = 0;
      while (start < items.size()) {
        auto end = next_separator(items, start);
        line(indent + 2) << "- " << items.substr(start, end - start) << "\n";
        start = end + 2;
      }
      return;
    }
    line(indent) << key << ": " << value << "\n";
  }

  // ", " outside double quotes.
  static std::size_t next_separator(std::string_view items, std::size_t start) {
    bool in_quotes = false;
    for (auto i = start; i < items.size(); ++i) {
      if (in_quotes && items[i] == '\\') {
        ++i;
      } else if (items[i] == '"') {
        in_quotes = !in_quotes;
      } else if (!in_quotes && items.substr(i).starts_with(", ")) {
        return i;
      }
    }
    return items.size();
  }

  std::ostringstream& line(int indent) {
    out_ << std::string(static_cast<std::size_t>(indent), ' ');
    return out_;
  }

  std::ostringstream& out_;
};

template <typename T>
void take(std::optional<T>& target, const std::optional<T>& value) {
  if (value) target = value;
}

void take_port(PortSetting& target, const PortSetting& site) {
  take(target.enabled, site.enabled);
  take(target.port, site.port);
}

void take_lockout(DocumentLockout& target, const DocumentLockout& site) {
  take(target.attempts, site.attempts);
  take(target.window, site.window);
  take(target.duration, site.duration);
}

}  // namespace

std::string_view to_string(WebMode mode) {
  switch (mode) {
    case WebMode::https_redirect:
      return "https-redirect";
    case WebMode::https:
      return "https";
    case WebMode::disabled:
      return "disabled";
  }
  return "https-redirect";
}

std::optional<WebMode> parse_web_mode(std::string_view text) {
  for (const auto mode : {WebMode::https_redirect, WebMode::https, WebMode::disabled}) {
    if (to_string(mode) == text) return mode;
  }
  return std::nullopt;
}

std::string_view to_string(Wiring wiring) { return wiring == Wiring::delta ? "delta" : "wye"; }

std::optional<Wiring> parse_wiring(std::string_view text) {
  if (text == "wye") return Wiring::wye;
  if (text == "delta") return Wiring::delta;
  return std::nullopt;
}

std::string MeterProfile::location_of(std::string_view path) const {
  std::string current(path);
  while (!current.empty()) {
    if (const auto found = locations.find(current); found != locations.end()) return found->second;
    // The parent of "a.b[c].d" is "a.b[c]", of "a.b[c]" is "a.b", of "a" nothing.
    // Item names may hold dots but field names never do: "a[x.y]" drops its whole
    // "[x.y]", "a[x.y].f" its ".f".
    if (current.back() == ']' && current.rfind('[') != std::string::npos) {
      current.resize(current.rfind('['));
    } else if (const auto dot = current.rfind('.'); dot != std::string::npos) {
      current.resize(dot);
    } else {
      current.clear();
    }
  }
  return "";
}

bool same_settings(const MeterProfile& a, const MeterProfile& b) {
  const auto strip = [](MeterProfile profile) {
    profile.locations.clear();
    for (auto& user : profile.security.users) user.location.clear();
    for (auto& recorder : profile.recorders) recorder.location.clear();
    return profile;
  };
  return strip(a) == strip(b);
}

proto::Result<MeterProfile, std::string> parse_meter_profile(std::string_view yaml_text, std::string_view file_name) {
  auto node = proto::model::parse_yaml(yaml_text, file_name);
  if (!node) return unexpected(node.error().to_string());
  try {
    return read_profile(*node, file_name);
  } catch (const YamlFieldError& failure) {
    return unexpected(failure.error.to_string());
  } catch (const YAML::Exception& failure) {
    return unexpected(
        YamlError{std::string(file_name), failure.mark.line + 1, failure.mark.column + 1, failure.msg}.to_string());
  }
}

MeterProfile overlay(const MeterProfile& base, const MeterProfile& site) {
  MeterProfile result = base;
  result.extends.reset();
  take(result.name, site.name);
  take(result.description, site.description);
  take(result.identity.model, site.identity.model);
  take(result.identity.feature_set, site.identity.feature_set);
  take(result.identity.min_firmware, site.identity.min_firmware);

  auto& communications = result.communications;
  take_port(communications.modbus_tcp, site.communications.modbus_tcp);
  take(communications.modbus_unit_id, site.communications.modbus_unit_id);
  take_port(communications.native, site.communications.native);
  take_port(communications.secure_native, site.communications.secure_native);
  take(communications.web_mode, site.communications.web_mode);
  take(communications.http_port, site.communications.http_port);
  take(communications.https_port, site.communications.https_port);

  auto& security = result.security;
  const auto& other = site.security;
  take(security.mode, other.mode);
  take(security.complexity, other.complexity);
  take(security.min_length, other.min_length);
  take_lockout(security.native_lockout, other.native_lockout);
  take_lockout(security.web_lockout, other.web_lockout);
  take(security.session_timeout, other.session_timeout);
  take(security.web_server, other.web_server);
  take(security.web_server_programming, other.web_server_programming);
  take(security.front_panel_programming, other.front_panel_programming);
  take(security.revenue_lock, other.revenue_lock);
  take(security.time_sync, other.time_sync);
  take(security.modbus_access, other.modbus_access);
  take(security.ssh, other.ssh);
  take(security.sftp, other.sftp);
  take(security.telnet, other.telnet);
  take(security.ftp, other.ftp);
  take(security.hash_log2_n, other.hash_log2_n);
  take(security.hash_r, other.hash_r);
  take(security.hash_p, other.hash_p);
  take(security.fleet_allowed, other.fleet_allowed);
  for (const auto& priority : other.priorities) {
    auto found = std::find_if(security.priorities.begin(), security.priorities.end(),
                              [&](const auto& entry) { return entry.first == priority.first; });
    if (found != security.priorities.end()) {
      found->second = priority.second;
    } else {
      security.priorities.push_back(priority);
    }
  }
  security.users_listed = security.users_listed || other.users_listed;
  for (const auto& user : other.users) {
    auto found = std::find_if(security.users.begin(), security.users.end(),
                              [&](const DocumentUser& each) { return each.name == user.name; });
    if (found == security.users.end()) {
      security.users.push_back(user);
      continue;
    }
    take(found->permissions, user.permissions);
    // The password is one setting however it is given: a site's file replaces a base's
    // hash, never joins it.
    if (user.password_file || user.password_hash) {
      found->password_file = user.password_file;
      found->password_hash = user.password_hash;
    }
    found->location = user.location;
  }

  auto& metering = result.metering;
  take(metering.wiring, site.metering.wiring);
  take(metering.pt_primary, site.metering.pt_primary);
  take(metering.pt_secondary, site.metering.pt_secondary);
  take(metering.ct_primary, site.metering.ct_primary);
  take(metering.ct_secondary, site.metering.ct_secondary);
  take(metering.nominal_voltage, site.metering.nominal_voltage);
  take(metering.nominal_frequency, site.metering.nominal_frequency);
  take(metering.demand_interval_minutes, site.metering.demand_interval_minutes);
  take(metering.demand_subintervals, site.metering.demand_subintervals);
  take(result.clock.time_zone, site.clock.time_zone);

  result.recorders_listed = result.recorders_listed || site.recorders_listed;
  for (const auto& recorder : site.recorders) {
    auto found = std::find_if(result.recorders.begin(), result.recorders.end(),
                              [&](const ProfileRecorder& each) { return each.name == recorder.name; });
    if (found == result.recorders.end()) {
      result.recorders.push_back(recorder);
      continue;
    }
    if (!recorder.sources.empty()) found->sources = recorder.sources;
    take(found->interval_s, recorder.interval_s);
    take(found->triggered, recorder.triggered);
    take(found->insert_outage_records, recorder.insert_outage_records);
    found->location = recorder.location;
  }
  take(result.scenario, site.scenario);
  for (const auto& [path, location] : site.locations) {
    if (path != "extends") result.locations[path] = location;
  }
  result.locations.erase("extends");
  return result;
}

std::string format_meter_profile(const MeterProfile& profile, std::string_view header_comment) {
  std::ostringstream out;
  std::size_t start = 0;
  while (start < header_comment.size()) {
    auto end = header_comment.find('\n', start);
    if (end == std::string_view::npos) end = header_comment.size();
    const auto text = header_comment.substr(start, end - start);
    out << (text.starts_with("#") ? "" : text.empty() ? "#" : "# ") << text << "\n";
    start = end + 1;
  }
  out << "apiVersion: " << k_profile_api_version << "\n"
      << "kind: " << k_profile_kind << "\n";
  const auto settings = collect(profile);
  std::size_t index = 0;
  Writer writer(out);
  writer.write_group(settings, index, "", 0);
  return out.str();
}

std::map<std::string, std::string> flatten_profile(const MeterProfile& profile) {
  std::map<std::string, std::string> flat;
  constexpr std::string_view k_hash_key = ".password_hash";
  for (auto& setting : collect(profile)) {
    auto path = std::move(setting.path);
    // The header promises "...password": what diff masks, however the password is given.
    if (path.starts_with("security.users[") && path.ends_with(k_hash_key)) path.resize(path.size() - 5);
    flat[std::move(path)] = std::move(setting.plain_value);
  }
  return flat;
}

std::vector<ProfileChange> diff_profiles(const MeterProfile& before, const MeterProfile& after) {
  const auto old_values = flatten_profile(before);
  const auto new_values = flatten_profile(after);
  const auto is_password = [](const std::string& path) { return path.ends_with("].password"); };
  std::vector<ProfileChange> changes;
  auto old_it = old_values.begin();
  auto new_it = new_values.begin();
  while (old_it != old_values.end() || new_it != new_values.end()) {
    if (new_it == new_values.end() || (old_it != old_values.end() && old_it->first < new_it->first)) {
      changes.push_back({old_it->first, is_password(old_it->first) ? "(set)" : old_it->second, std::nullopt});
      ++old_it;
    } else if (old_it == old_values.end() || new_it->first < old_it->first) {
      changes.push_back({new_it->first, std::nullopt, is_password(new_it->first) ? "(set)" : new_it->second});
      ++new_it;
    } else {
      if (old_it->second != new_it->second) {
        if (is_password(old_it->first)) {
          changes.push_back({old_it->first, "(set)", "(changed)"});
        } else {
          changes.push_back({old_it->first, old_it->second, new_it->second});
        }
      }
      ++old_it;
      ++new_it;
    }
  }
  return changes;
}

std::string to_string(const ProfileChange& change) {
  if (!change.before) return "+ " + change.path + ": " + change.after.value_or("");
  if (!change.after) return "- " + change.path + ": " + *change.before;
  return "~ " + change.path + ": " + *change.before + " -> " + *change.after;
}

}  // namespace sec
