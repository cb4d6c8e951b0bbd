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

MeterConfiguration MeterState::configuration() const {
  return {modbus_access, modbus_unit_id, settings, security, communications, metering, time_zone, recorders, scenario};
}

void MeterState::set_configuration(MeterConfiguration configuration) {
  modbus_access = configuration.modbus_access;
  modbus_unit_id = configuration.modbus_unit_id;
  settings = configuration.settings;
  security = std::move(configuration.security);
  communications = configuration.communications;
  metering = configuration.metering;
  time_zone = std::move(configuration.time_zone);
  recorders = std::move(configuration.recorders);
  scenario = std::move(configuration.scenario);
}

namespace {

std::string state_error(const std::filesystem::path& file, const std::string& what) {
  return file.string() + ": " + what +
         "; the file was written by meterd and should not be edited. Restore it from a backup or move it away "
         "to start this meter afresh";
}

// The state file spells these itself rather than borrowing the profile's words, so the
// file format does not change when the profile format does.
std::string_view web_mode_name(sec::WebMode mode) { return mode == sec::WebMode::https ? "https" : "https-redirect"; }
std::string_view wiring_name(sec::Wiring wiring) { return wiring == sec::Wiring::delta ? "delta" : "wye"; }

// A schema violation inside a field, caught once by parse_meter_state.
struct FieldError {
  std::string what;
};

const json& member(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) throw FieldError{std::string(key) + " is missing"};
  return object.at(key);
}

std::uint64_t whole_number(const json& value, const std::string& name, std::uint64_t min, std::uint64_t max) {
  // Integers must be stored as integers: converting 1e300 to int is undefined behaviour.
  if (!value.is_number_unsigned() || value.get<std::uint64_t>() < min || value.get<std::uint64_t>() > max) {
    throw FieldError{name + " is not a whole number from " + std::to_string(min) + " to " + std::to_string(max)};
  }
  return value.get<std::uint64_t>();
}

bool flag(const json& value, const std::string& name) {
  if (!value.is_boolean()) throw FieldError{name + " is not true or false"};
  return value.get<bool>();
}

std::string text(const json& value, const std::string& name, std::size_t max_length) {
  if (!value.is_string() || value.get<std::string>().empty() || value.get<std::string>().size() > max_length) {
    throw FieldError{name + " is not text of 1 to " + std::to_string(max_length) + " characters"};
  }
  return value.get<std::string>();
}

double number(const json& value, const std::string& name, double min, double max) {
  if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < min ||
      value.get<double>() > max) {
    throw FieldError{name + " is not a number from " + std::to_string(min) + " to " + std::to_string(max)};
  }
  return value.get<double>();
}

json service_to_json(const ServiceSetting& service) {
  json object = {{"enabled", service.enabled}};
  if (service.port) object["port"] = *service.port;
  return object;
}

ServiceSetting service_from_json(const json& object, const std::string& name) {
  if (!object.is_object()) throw FieldError{name + " is not an object"};
  ServiceSetting service;
  service.enabled = flag(member(object, "enabled"), name + ".enabled");
  if (object.contains("port")) service.port = static_cast<std::uint16_t>(whole_number(object.at("port"), name + ".port", 1, 65535));
  return service;
}

json communications_to_json(const CommunicationsSettings& communications) {
  return {{"modbus_tcp", service_to_json(communications.modbus_tcp)},
          {"native", service_to_json(communications.native)},
          {"secure_native", service_to_json(communications.secure_native)},
          {"web",
           {{"mode", std::string(web_mode_name(communications.web_mode))},
            {"http_port", communications.http_port},
            {"https_port", communications.https_port}}}};
}

CommunicationsSettings communications_from_json(const json& object) {
  if (!object.is_object()) throw FieldError{"communications is not an object"};
  CommunicationsSettings communications;
  communications.modbus_tcp = service_from_json(member(object, "modbus_tcp"), "communications.modbus_tcp");
  communications.native = service_from_json(member(object, "native"), "communications.native");
  communications.secure_native = service_from_json(member(object, "secure_native"), "communications.secure_native");
  const auto& web = member(object, "web");
  const auto mode = text(member(web, "mode"), "communications.web.mode", 32);
  if (mode != "https" && mode != "https-redirect") throw FieldError{"communications.web.mode is not https or https-redirect"};
  communications.web_mode = mode == "https" ? sec::WebMode::https : sec::WebMode::https_redirect;
  communications.http_port = static_cast<std::uint16_t>(whole_number(member(web, "http_port"), "communications.web.http_port", 1, 65535));
  communications.https_port =
      static_cast<std::uint16_t>(whole_number(member(web, "https_port"), "communications.web.https_port", 1, 65535));
  return communications;
}

json metering_to_json(const MeteringOverrides& metering) {
  json object = json::object();
  if (metering.wiring) object["wiring"] = std::string(wiring_name(*metering.wiring));
  if (metering.nominal_voltage) object["nominal_voltage"] = *metering.nominal_voltage;
  if (metering.nominal_frequency) object["nominal_frequency"] = *metering.nominal_frequency;
  return object;
}

MeteringOverrides metering_from_json(const json& object) {
  if (!object.is_object()) throw FieldError{"metering is not an object"};
  MeteringOverrides metering;
  if (object.contains("wiring")) {
    const auto wiring = text(object.at("wiring"), "metering.wiring", 16);
    if (wiring != "wye" && wiring != "delta") throw FieldError{"metering.wiring is not wye or delta"};
    metering.wiring = wiring == "delta" ? sec::Wiring::delta : sec::Wiring::wye;
  }
  // The bounds of meter-profile(5): a PT primary at most, and the two power-system frequencies.
  if (object.contains("nominal_voltage")) {
    metering.nominal_voltage = number(object.at("nominal_voltage"), "metering.nominal_voltage", 1.0, 1'000'000.0);
  }
  if (object.contains("nominal_frequency")) {
    const auto frequency = number(object.at("nominal_frequency"), "metering.nominal_frequency", 50.0, 60.0);
    if (frequency != 50.0 && frequency != 60.0) throw FieldError{"metering.nominal_frequency is not 50 or 60"};
    metering.nominal_frequency = frequency;
  }
  return metering;
}

json recorders_to_json(const std::vector<RecorderSettings>& recorders) {
  json list = json::array();
  for (const auto& recorder : recorders) {
    list.push_back({{"name", recorder.name},
                    {"sources", recorder.sources},
                    {"interval_s", recorder.interval_s},
                    {"triggered", recorder.triggered},
                    {"insert_outage_records", recorder.insert_outage_records}});
  }
  return list;
}

std::vector<RecorderSettings> recorders_from_json(const json& list) {
  if (!list.is_array() || list.size() > sec::k_max_recorders) {
    throw FieldError{"recorders is not a list of at most " + std::to_string(sec::k_max_recorders)};
  }
  std::vector<RecorderSettings> recorders;
  for (const auto& item : list) {
    RecorderSettings recorder;
    recorder.name = text(member(item, "name"), "recorders[].name", 64);
    const auto where = "recorders[" + recorder.name + "]";
    const auto& sources = member(item, "sources");
    if (!sources.is_array() || sources.size() > sec::k_max_recorder_sources) {
      throw FieldError{where + ".sources is not a list of at most " + std::to_string(sec::k_max_recorder_sources)};
    }
    for (const auto& source : sources) recorder.sources.push_back(text(source, where + ".sources[]", 64));
    recorder.interval_s = static_cast<std::uint32_t>(
        whole_number(member(item, "interval_s"), where + ".interval_s", 1, k_max_recorder_interval_s));
    recorder.triggered = flag(member(item, "triggered"), where + ".triggered");
    recorder.insert_outage_records = flag(member(item, "insert_outage_records"), where + ".insert_outage_records");
    recorders.push_back(std::move(recorder));
  }
  return recorders;
}

}  // namespace

json configuration_to_json(const MeterConfiguration& configuration) {
  json settings = json::object();
  for (const auto& setting : k_config_settings) {
    settings[std::string(setting.name)] = configuration.settings[static_cast<std::size_t>(setting.setting)];
  }
  json document = {
      {"modbus",
       {{"access", std::string(sec::to_string(configuration.modbus_access))}, {"unit_id", configuration.modbus_unit_id}}},
      {"settings", settings},
      {"security", sec::to_json(configuration.security)},
      {"communications", communications_to_json(configuration.communications)},
      {"metering", metering_to_json(configuration.metering)},
      {"time_zone", configuration.time_zone},
      {"recorders", recorders_to_json(configuration.recorders)},
  };
  if (configuration.scenario) document["scenario"] = *configuration.scenario;
  return document;
}

namespace {

struct ParsedConfiguration {
  MeterConfiguration configuration;
  bool security_missing = false;
  std::vector<std::pair<std::string, std::string>> clear_passwords;
};

// The configuration fields of a state document (or of a pending confirm's `previous`).
// Fields added after the first format are optional, so older state files still load.
proto::Result<ParsedConfiguration, std::string> configuration_from_json(const json& document) {
  ParsedConfiguration parsed;
  auto& configuration = parsed.configuration;
  const auto& modbus = member(document, "modbus");
  const auto access = sec::parse_modbus_access(member(modbus, "access").get<std::string>());
  const auto& unit_id = member(modbus, "unit_id");
  if (!unit_id.is_number_integer()) return proto::unexpected(std::string("an integer field holds something else"));
  if (!access || unit_id.get<int>() < 1 || unit_id.get<int>() > 247) {
    return proto::unexpected(std::string("bad modbus settings"));
  }
  configuration.modbus_access = *access;
  configuration.modbus_unit_id = static_cast<std::uint8_t>(unit_id.get<int>());
  configuration.settings = default_settings();
  const auto& settings = member(document, "settings");
  if (!settings.is_object()) return proto::unexpected(std::string("settings is not an object"));
  for (const auto& setting : k_config_settings) {
    if (!settings.contains(setting.name)) continue;  // a setting added by a newer meterd keeps its default
    if (!settings.at(std::string(setting.name)).is_number_integer()) {
      return proto::unexpected("setting " + std::string(setting.name) + " is not an integer");
    }
    const auto value = settings.at(std::string(setting.name)).get<std::int64_t>();
    if (value < setting.min || value > setting.max) {
      return proto::unexpected("setting " + std::string(setting.name) + " out of range");
    }
    configuration.settings[static_cast<std::size_t>(setting.setting)] = value;
  }
  const simulation::DemandSettings demand{
      static_cast<int>(configuration.settings[static_cast<std::size_t>(ConfigSetting::demand_interval_minutes)]),
      static_cast<int>(configuration.settings[static_cast<std::size_t>(ConfigSetting::demand_subintervals)])};
  if (auto problem = simulation::demand_settings_error(demand)) return proto::unexpected("settings: " + *problem);
  if (!document.contains("security")) {
    parsed.security_missing = true;
  } else {
    auto security = sec::security_config_from_json(document.at("security"));
    if (!security) return proto::unexpected(security.error());
    configuration.security = std::move(security->config);
    parsed.clear_passwords = std::move(security->clear_passwords);
  }
  if (document.contains("communications")) {
    configuration.communications = communications_from_json(document.at("communications"));
  }
  if (document.contains("metering")) configuration.metering = metering_from_json(document.at("metering"));
  if (document.contains("time_zone")) {
    configuration.time_zone = text(document.at("time_zone"), "time_zone", k_max_time_zone_length);
  }
  if (document.contains("recorders")) configuration.recorders = recorders_from_json(document.at("recorders"));
  if (document.contains("scenario")) {
    configuration.scenario = text(document.at("scenario"), "scenario", simulation::k_max_scenario_name_length);
  }
  return parsed;
}

}  // namespace

proto::Result<MeterConfiguration, std::string> parse_meter_configuration(const json& document) {
  if (!document.is_object()) return proto::unexpected(std::string("the configuration is not an object"));
  try {
    auto parsed = configuration_from_json(document);
    if (!parsed) return proto::unexpected(parsed.error());
    if (parsed->security_missing) return proto::unexpected(std::string("security is missing"));
    if (!parsed->clear_passwords.empty()) {
      return proto::unexpected("security.users[" + parsed->clear_passwords.front().first +
                               "] holds a clear-text password; a configuration carries password hashes only");
    }
    return std::move(parsed->configuration);
  } catch (const FieldError& error) {
    return proto::unexpected(error.what);
  } catch (const json::exception& e) {
    return proto::unexpected(std::string("missing or mistyped field (") + e.what() + ")");
  }
}

proto::Result<MeterState, std::string> parse_meter_state(std::string_view text, const std::filesystem::path& file) {
  const json document = json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return proto::unexpected(state_error(file, "not valid JSON"));
  try {
    if (!document.at("format_version").is_number_integer()) {
      return proto::unexpected(state_error(file, "an integer field holds something else"));
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
    auto configuration = configuration_from_json(document);
    if (!configuration) return proto::unexpected(state_error(file, configuration.error()));
    state.set_configuration(std::move(configuration->configuration));
    state.security_missing = configuration->security_missing;
    state.clear_passwords = std::move(configuration->clear_passwords);
    if (document.contains("config_version")) {
      state.config_version = whole_number(document.at("config_version"), "config_version", 1, UINT64_MAX);
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
    if (document.contains("pending_confirm") && !document.at("pending_confirm").is_null()) {
      const auto& pending = document.at("pending_confirm");
      PendingConfirm record;
      // Up to the year 2106, as far as a 32-bit unsigned Unix time goes.
      record.deadline = static_cast<std::int64_t>(whole_number(member(pending, "deadline"), "pending_confirm.deadline",
                                                               0, 4'294'967'295ULL));
      record.previous_version =
          whole_number(member(pending, "previous_version"), "pending_confirm.previous_version", 1, UINT64_MAX);
      const auto& previous_json = member(pending, "previous");
      auto previous = configuration_from_json(previous_json);
      if (!previous) return proto::unexpected(state_error(file, "pending_confirm.previous: " + previous.error()));
      if (previous->security_missing || !previous->clear_passwords.empty()) {
        return proto::unexpected(state_error(file, "pending_confirm.previous has no hashed security configuration"));
      }
      record.previous = std::move(previous->configuration);
      state.pending_confirm = std::move(record);
    }
    return state;
  } catch (const FieldError& error) {
    return proto::unexpected(state_error(file, error.what));
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
  json document = configuration_to_json(state.configuration());
  document["format_version"] = k_state_format_version;
  document["serial_number"] = state.serial_number;
  document["model"] = state.model;
  document["feature_set"] = state.feature_set;
  document["firmware"] = state.firmware.to_string();
  document["shipped_firmware"] = state.shipped_firmware.to_string();
  document["energy"] = simulation::to_json(state.energy);
  document["clock_offset_s"] = state.clock_offset_s;
  document["config_version"] = state.config_version;
  if (state.pending_confirm) {
    document["pending_confirm"] = {{"deadline", state.pending_confirm->deadline},
                                   {"previous_version", state.pending_confirm->previous_version},
                                   {"previous", configuration_to_json(state.pending_confirm->previous)}};
  }
  return sec::write_private_file_atomically(directory / k_state_file_name, document.dump(2) + "\n");
}

}  // namespace meterd
