#include "firmware/config_profile.hpp"

#include <algorithm>
#include <filesystem>

#include "firmware/scenario_catalog.hpp"
#include "libproto/model/measurement.hpp"

namespace meterd {

using proto::model::ConfigSetting;

namespace {

std::int64_t setting_of(const MeterConfiguration& configuration, ConfigSetting which) {
  return configuration.settings[static_cast<std::size_t>(which)];
}

void set_setting(MeterConfiguration& configuration, ConfigSetting which, std::optional<std::int64_t> value) {
  if (value) configuration.settings[static_cast<std::size_t>(which)] = *value;
}

sec::PortSetting port_setting(const std::optional<std::uint16_t>& port) {
  sec::PortSetting setting;
  setting.enabled = port.has_value();
  // Port 0 is one the kernel has not picked yet: unknown until it is open.
  if (port && *port != 0) setting.port = *port;
  return setting;
}

void overlay_service(ServiceSetting& service, const sec::PortSetting& profile) {
  if (profile.enabled) service.enabled = *profile.enabled;
  if (profile.port) service.port = *profile.port;
}

// The communications of the meter once `profile` is applied, the rest left alone.
MeterConfiguration with_profile_communications(MeterConfiguration configuration, const sec::MeterProfile& profile) {
  overlay_service(configuration.communications.modbus_tcp, profile.communications.modbus_tcp);
  overlay_service(configuration.communications.native, profile.communications.native);
  overlay_service(configuration.communications.secure_native, profile.communications.secure_native);
  if (profile.communications.web_mode) {
    if (*profile.communications.web_mode == sec::WebMode::disabled) {
      configuration.security.options.web_server = false;
    } else {
      configuration.security.options.web_server = true;
      configuration.communications.web_mode = *profile.communications.web_mode;
    }
  } else if (profile.security.web_server) {
    configuration.security.options.web_server = *profile.security.web_server;
  }
  if (profile.communications.http_port) configuration.communications.http_port = *profile.communications.http_port;
  if (profile.communications.https_port) configuration.communications.https_port = *profile.communications.https_port;
  return configuration;
}

const char* path_of(Listener which) {
  switch (which) {
    case Listener::modbus_tcp: return "communications.modbus_tcp";
    case Listener::native: return "communications.native";
    case Listener::secure_native: return "communications.secure_native";
  }
  return "communications";
}

const sec::PortSetting& profile_port(const sec::MeterProfile& profile, Listener which) {
  switch (which) {
    case Listener::modbus_tcp: return profile.communications.modbus_tcp;
    case Listener::native: return profile.communications.native;
    case Listener::secure_native: break;
  }
  return profile.communications.secure_native;
}

}  // namespace

bool is_known_time_zone(const std::string& name) {
  if (name == "UTC") return true;
  // Area/Location names only: nothing that could walk out of the zoneinfo tree.
  if (name.empty() || name.size() > k_max_time_zone_length || name.front() == '/' ||
      name.find("..") != std::string::npos) {
    return false;
  }
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+';
  });
  std::error_code error;
  return plain && std::filesystem::is_regular_file(std::filesystem::path("/usr/share/zoneinfo") / name, error);
}

ListenerPorts wanted_ports(const MeterConfiguration& configuration, const ConfigRuntime& runtime) {
  ListenerPorts wanted;
  const auto listening = runtime.listening();
  const auto service_of = [&](Listener which) -> const ServiceSetting& {
    switch (which) {
      case Listener::modbus_tcp: return configuration.communications.modbus_tcp;
      case Listener::native: return configuration.communications.native;
      case Listener::secure_native: break;
    }
    return configuration.communications.secure_native;
  };
  for (const auto which : k_listeners) {
    const auto& service = service_of(which);
    if (!service.enabled || runtime.kept_closed(which)) continue;
    if (service.port) {
      wanted[which] = *service.port;
    } else if (const auto fallback = runtime.fallback_port(which); fallback != 0) {
      wanted[which] = fallback;
    } else {
      // Left to the kernel at start: whichever port it gave stays.
      wanted[which] = listening[which].value_or(0);
    }
  }
  return wanted;
}

sec::MeterProfile configuration_profile(const Meter& meter, const MeterConfiguration& configuration,
                                        const ListenerPorts& ports, PasswordHashes hashes) {
  sec::MeterProfile profile;
  const auto& state = meter.state();
  profile.identity.model = state.model;
  profile.identity.feature_set = state.feature_set;
  profile.identity.min_firmware = state.firmware.to_string();

  auto& communications = profile.communications;
  communications.modbus_tcp = port_setting(ports.modbus_tcp);
  communications.native = port_setting(ports.native);
  communications.secure_native = port_setting(ports.secure_native);
  communications.modbus_unit_id = configuration.modbus_unit_id;
  const auto& config = configuration.security;
  communications.web_mode = config.options.web_server ? configuration.communications.web_mode : sec::WebMode::disabled;
  communications.http_port = configuration.communications.http_port;
  communications.https_port = configuration.communications.https_port;

  // The fields of format_security_document (security export), every one set.
  auto& security = profile.security;
  security.mode = config.mode;
  security.complexity = config.policy.complexity;
  security.min_length = config.policy.min_length;
  security.native_lockout = {config.native_lockout.attempts, config.native_lockout.window, config.native_lockout.duration};
  security.web_lockout = {config.web_lockout.attempts, config.web_lockout.window, config.web_lockout.duration};
  security.session_timeout = config.session_timeout;
  security.web_server = config.options.web_server;
  security.web_server_programming = config.options.web_server_programming;
  security.front_panel_programming = config.options.front_panel_programming;
  security.revenue_lock = config.options.revenue_lock;
  security.time_sync = setting_of(configuration, ConfigSetting::time_sync_enabled) != 0;
  security.modbus_access = configuration.modbus_access;
  security.ssh = config.options.services.ssh;
  security.sftp = config.options.services.sftp;
  security.telnet = config.options.services.telnet;
  security.ftp = config.options.services.ftp;
  security.hash_log2_n = config.hashing.params.log2_n;
  security.hash_r = config.hashing.params.r;
  security.hash_p = config.hashing.params.p;
  security.fleet_allowed = config.hashing.fleet_allowed;
  for (std::size_t i = 0; i < sec::k_security_event_type_count; ++i) {
    const auto type = static_cast<sec::SecurityEventType>(i);
    security.priorities.emplace_back(type, config.priorities.of(type));
  }
  security.users_listed = true;
  for (const auto& user : config.users) {
    sec::DocumentUser entry;
    entry.name = user.name;
    entry.permissions = user.permissions;
    if (hashes == PasswordHashes::included) entry.password_hash = user.password_hash;
    security.users.push_back(std::move(entry));
  }

  auto base = meter.scenario_for(configuration);
  const auto supply = with_metering_overrides(base ? *base : meter.base_scenario(), configuration.metering);
  auto& metering = profile.metering;
  metering.wiring = supply.wiring == simulation::Wiring::delta ? sec::Wiring::delta : sec::Wiring::wye;
  metering.pt_primary = setting_of(configuration, ConfigSetting::pt_primary);
  metering.pt_secondary = setting_of(configuration, ConfigSetting::pt_secondary);
  metering.ct_primary = setting_of(configuration, ConfigSetting::ct_primary);
  metering.ct_secondary = setting_of(configuration, ConfigSetting::ct_secondary);
  metering.nominal_voltage = profile_nominal_voltage(supply);
  metering.nominal_frequency = supply.nominal.frequency_hz;
  metering.demand_interval_minutes = setting_of(configuration, ConfigSetting::demand_interval_minutes);
  metering.demand_subintervals = setting_of(configuration, ConfigSetting::demand_subintervals);

  profile.clock.time_zone = configuration.time_zone;
  profile.recorders_listed = true;
  for (const auto& recorder : configuration.recorders) {
    sec::ProfileRecorder entry;
    entry.name = recorder.name;
    entry.sources = recorder.sources;
    entry.interval_s = recorder.interval_s;
    entry.triggered = recorder.triggered;
    entry.insert_outage_records = recorder.insert_outage_records;
    profile.recorders.push_back(std::move(entry));
  }
  profile.scenario = base ? base->name : meter.base_scenario().name;
  return profile;
}

std::vector<sec::ProfileProblem> check_profile_for_meter(const sec::MeterProfile& profile, const Meter& meter,
                                                         const ConfigRuntime& runtime) {
  auto problems = sec::check_profile(profile, meter.model(), meter.capabilities());
  const auto problem = [&](const std::string& path, std::string message) {
    problems.push_back({profile.location_of(path), std::move(message)});
  };
  if (profile.extends) {
    problem("extends", "the meter takes a resolved profile; meterctl resolves extends before it sends one");
  }
  if (profile.scenario && *profile.scenario != meter.base_scenario().name && !is_builtin_scenario(*profile.scenario)) {
    std::string names;
    for (const auto& name : builtin_scenario_names()) names += (names.empty() ? "" : ", ") + name;
    problem("simulation.scenario", "no built-in scenario '" + *profile.scenario + "'; the built-in scenarios are " + names);
  }
  for (const auto& recorder : profile.recorders) {
    for (const auto& source : recorder.sources) {
      if (!proto::model::find_point(source)) {
        problems.push_back({recorder.location, "recorder '" + recorder.name + "' logs '" + source +
                                                   "', which is no measurement point of this meter "
                                                   "(meterctl read --list names them)"});
      }
    }
  }
  if (profile.clock.time_zone && !is_known_time_zone(*profile.clock.time_zone)) {
    problem("clock.time_zone", "time zone '" + *profile.clock.time_zone +
                                   "' is not UTC and not an IANA name this meter knows (Area/Location, e.g. Europe/Paris)");
  }

  const auto after = with_profile_communications(meter.configuration(), profile);
  const auto ports = wanted_ports(after, runtime);
  for (const auto which : k_listeners) {
    const auto& asked = profile_port(profile, which);
    // A firmware without Secure ION keeps the TLS port closed too; check_profile names that.
    const bool offered = which != Listener::secure_native ||
                         meter.capabilities().has(proto::model::Feature::secure_native);
    if (asked.enabled == true && offered && runtime.kept_closed(which)) {
      problem(std::string(path_of(which)) + ".enabled",
              std::string(path_of(which)) + " is enabled, but meterd was started with the option that keeps it closed "
                                            "(--no-native or --no-secure); the command line wins");
    }
  }
  if (!ports.native && !ports.secure_native) {
    problem("communications",
            "neither communications.native nor communications.secure_native would listen: the meter could no longer "
            "be managed. Keep one of them enabled");
  }
  std::vector<std::pair<std::string, std::uint16_t>> used;
  for (const auto which : k_listeners) {
    if (ports[which] && *ports[which] != 0) used.emplace_back(std::string(path_of(which)) + ".port", *ports[which]);
  }
  if (after.security.options.web_server) {
    used.emplace_back("communications.web.http_port", after.communications.http_port);
    used.emplace_back("communications.web.https_port", after.communications.https_port);
  }
  for (std::size_t i = 0; i < used.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (used[i].second != used[j].second) continue;
      // Reported where the profile sets the port, when it sets only one of the two.
      const bool first_is_set = profile.locations.count(used[j].first) && !profile.locations.count(used[i].first);
      const auto& reported = first_is_set ? used[j] : used[i];
      const auto& other = first_is_set ? used[i] : used[j];
      problem(reported.first, "port " + std::to_string(reported.second) + " is taken by " + other.first +
                                  " of this meter; give each service its own port");
    }
  }
  const auto others = runtime.ports_of_other_meters();
  for (const auto& [path, port] : used) {
    if (std::find(others.begin(), others.end(), port) != others.end()) {
      problem(path, "port " + std::to_string(port) + " belongs to another meter of this meterd");
    }
  }
  return problems;
}

proto::Result<MeterConfiguration, std::string> target_configuration(const sec::MeterProfile& profile, const Meter& meter,
                                                                    const ResolvedPasswords& passwords) {
  auto target = with_profile_communications(meter.configuration(), profile);
  const sec::MeterSecuritySettings settings{target.modbus_access,
                                            setting_of(target, ConfigSetting::time_sync_enabled) != 0};
  auto security = profile.security;
  // web_server is settled above from communications.web.mode.
  security.web_server = target.security.options.web_server;
  auto applied = sec::apply_security_document(target.security, settings, security, passwords, meter.security_limits());
  if (!applied) return proto::unexpected(applied.error());
  target.security = std::move(applied->config);
  target.modbus_access = applied->settings.modbus_access;
  target.settings[static_cast<std::size_t>(ConfigSetting::time_sync_enabled)] = applied->settings.time_sync ? 1 : 0;
  if (profile.communications.modbus_unit_id) target.modbus_unit_id = *profile.communications.modbus_unit_id;

  const auto& metering = profile.metering;
  if (metering.wiring) target.metering.wiring = metering.wiring;
  if (metering.nominal_voltage) target.metering.nominal_voltage = metering.nominal_voltage;
  if (metering.nominal_frequency) target.metering.nominal_frequency = metering.nominal_frequency;
  set_setting(target, ConfigSetting::pt_primary, metering.pt_primary);
  set_setting(target, ConfigSetting::pt_secondary, metering.pt_secondary);
  set_setting(target, ConfigSetting::ct_primary, metering.ct_primary);
  set_setting(target, ConfigSetting::ct_secondary, metering.ct_secondary);
  set_setting(target, ConfigSetting::demand_interval_minutes, metering.demand_interval_minutes);
  set_setting(target, ConfigSetting::demand_subintervals, metering.demand_subintervals);

  if (profile.clock.time_zone) target.time_zone = *profile.clock.time_zone;
  if (profile.recorders_listed) {
    std::vector<RecorderSettings> recorders;
    for (const auto& entry : profile.recorders) {
      const auto existing = std::find_if(target.recorders.begin(), target.recorders.end(),
                                         [&](const RecorderSettings& recorder) { return recorder.name == entry.name; });
      RecorderSettings recorder;
      if (existing != target.recorders.end()) recorder = *existing;
      recorder.name = entry.name;
      if (!entry.sources.empty()) recorder.sources = entry.sources;
      if (recorder.sources.empty()) {
        return proto::unexpected(entry.location + ": recorder '" + entry.name + "' is new; list its sources");
      }
      if (entry.interval_s) recorder.interval_s = *entry.interval_s;
      if (entry.triggered) recorder.triggered = *entry.triggered;
      if (entry.insert_outage_records) recorder.insert_outage_records = *entry.insert_outage_records;
      recorders.push_back(std::move(recorder));
    }
    target.recorders = std::move(recorders);
  }
  // Naming the scenario that runs already is no change, even when it came from a file.
  if (profile.scenario && *profile.scenario != meter.base_scenario().name) target.scenario = *profile.scenario;
  if (auto checked = meter.check_configuration(target); !checked) return proto::unexpected(checked.error());
  return target;
}

}  // namespace meterd
