#include "cli/meter_config.hpp"

#include <charconv>
#include <cstdlib>

#include "libproto/model/yaml_document.hpp"

namespace cli {

using proto::model::YamlMap;

std::filesystem::path config_file_path() {
  if (const char* explicit_path = std::getenv("METERCTL_CONFIG"); explicit_path && *explicit_path) {
    return explicit_path;
  }
  if (const char* config_home = std::getenv("XDG_CONFIG_HOME"); config_home && *config_home) {
    return std::filesystem::path(config_home) / "meterctl" / "config.yaml";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".config" / "meterctl" / "config.yaml";
}

std::optional<std::pair<std::string, std::optional<std::uint16_t>>> parse_host_port(const std::string& text) {
  std::string host;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return std::nullopt;
      port_text = text.substr(close + 2);
    }
  } else {
    const auto colon = text.find(':');
    if (colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
      host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
    } else {
      host = text;  // a bare IPv6 address has several colons and no port
    }
  }
  if (host.empty()) return std::nullopt;
  if (port_text.empty()) return std::pair{host, std::optional<std::uint16_t>{}};
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return std::pair{host, std::optional<std::uint16_t>(static_cast<std::uint16_t>(port))};
}

namespace {

struct NamedMeter {
  std::string host;
  std::map<std::string, std::uint16_t> ports;
  std::optional<int> unit_id;
};

struct ConfigFile {
  std::string default_meter;
  std::map<std::string, NamedMeter> meters;
};

proto::Result<ConfigFile, CommandError> load_config() {
  ConfigFile config;
  const auto path = config_file_path();
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) return config;
  auto root = proto::model::load_yaml_file(path);
  if (!root) return proto::unexpected(CommandError{exit_config, root.error().to_string()});
  if (root->IsNull()) return config;
  try {
    YamlMap map(*root, path.string(), "meterctl configuration");
    map.allow_only({"default_meter", "meters"});
    config.default_meter = map.string_or("default_meter", "");
    if (map.has("meters")) {
      YamlMap meters(map.required("meters"), path.string(), "meters");
      for (const auto& entry : meters.node()) {
        const auto name = entry.first.Scalar();
        YamlMap meter(entry.second, path.string(), "meter '" + name + "'");
        meter.allow_only({"host", "ports", "unit_id"});
        NamedMeter named;
        named.host = meter.string("host");
        if (meter.has("ports")) {
          YamlMap ports(meter.required("ports"), path.string(), "ports of meter '" + name + "'");
          for (const auto& port : ports.node()) {
            named.ports[port.first.Scalar()] = static_cast<std::uint16_t>(ports.integer(port.first.Scalar(), 1, 65535));
          }
        }
        if (meter.has("unit_id")) named.unit_id = static_cast<int>(meter.integer("unit_id", 0, 255));
        config.meters[name] = std::move(named);
      }
    }
    if (!config.default_meter.empty() && !config.meters.count(config.default_meter)) {
      map.fail(map.required("default_meter"), "default_meter '" + config.default_meter + "' is not under meters:");
    }
  } catch (const proto::model::YamlFieldError& e) {
    return proto::unexpected(CommandError{exit_config, e.error.to_string()});
  }
  return config;
}

}  // namespace

proto::Result<MeterEndpoint, CommandError> resolve_meter(const std::string& meter_option, const std::string& protocol,
                                                         std::uint16_t default_port) {
  auto config = load_config();
  if (!config) return proto::unexpected(config.error());
  std::string wanted = meter_option;
  if (wanted.empty()) {
    if (const char* from_environment = std::getenv("METERCTL_METER"); from_environment && *from_environment) {
      wanted = from_environment;
    }
  }
  if (wanted.empty()) wanted = config->default_meter;
  if (wanted.empty()) {
    return proto::unexpected(CommandError{
        exit_usage, "no meter given: use --meter HOST[:PORT], set METERCTL_METER, or name a default_meter in " +
                        config_file_path().string()});
  }
  if (const auto named = config->meters.find(wanted); named != config->meters.end()) {
    MeterEndpoint endpoint{wanted, named->second.host, default_port, named->second.unit_id};
    if (const auto port = named->second.ports.find(protocol); port != named->second.ports.end()) {
      endpoint.port = port->second;
    }
    return endpoint;
  }
  const auto parsed = parse_host_port(wanted);
  if (!parsed) {
    return proto::unexpected(CommandError{exit_usage, "--meter '" + wanted +
                                                          "' is neither HOST[:PORT] nor a meter named in " +
                                                          config_file_path().string()});
  }
  return MeterEndpoint{"", parsed->first, parsed->second.value_or(default_port), std::nullopt};
}

}  // namespace cli
