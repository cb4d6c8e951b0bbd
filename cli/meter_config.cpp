#include "cli/meter_config.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>

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

proto::Result<MeterConfig, CommandError> load_config() {
  const auto path = config_file_path();
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) return MeterConfig{};
  std::ifstream in(path, std::ios::binary);
  if (!in) return proto::unexpected(CommandError{exit_config, "cannot read " + path.string()});
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_meter_config(text, path.string());
}

}  // namespace

proto::Result<MeterConfig, CommandError> parse_meter_config(std::string_view text, const std::string& file) {
  MeterConfig config;
  auto root = proto::model::parse_yaml(text, file);
  if (!root) return proto::unexpected(CommandError{exit_config, root.error().to_string()});
  if (root->IsNull()) return config;
  try {
    YamlMap map(*root, file, "meterctl configuration");
    map.allow_only({"default_meter", "meters"});
    config.default_meter = map.string_or("default_meter", "");
    if (map.has("meters")) {
      YamlMap meters(map.required("meters"), file, "meters");
      for (const auto& entry : meters.node()) {
        const auto name = proto::model::scalar_string(entry.first, file, "meter name");
        YamlMap meter(entry.second, file, "meter '" + name + "'");
        meter.allow_only({"host", "ports", "unit_id", "user", "password_file", "tls"});
        NamedMeter named;
        named.host = meter.string("host");
        if (meter.has("ports")) {
          YamlMap ports(meter.required("ports"), file, "ports of meter '" + name + "'");
          for (const auto& port : ports.node()) {
            const auto protocol = proto::model::scalar_string(port.first, file, "protocol name");
            named.ports[protocol] = static_cast<std::uint16_t>(ports.integer(protocol, 1, 65535));
          }
        }
        if (meter.has("unit_id")) named.unit_id = static_cast<int>(meter.integer("unit_id", 0, 255));
        named.user = meter.string_or("user", "");
        named.password_file = meter.string_or("password_file", "");
        if (meter.has("tls")) named.tls = meter.boolean_or("tls", true);
        config.meters[name] = std::move(named);
      }
    }
    if (!config.default_meter.empty() && !config.meters.count(config.default_meter)) {
      map.fail(map.required("default_meter"), "default_meter '" + config.default_meter + "' is not under meters:");
    }
  } catch (const proto::model::YamlFieldError& e) {
    return proto::unexpected(CommandError{exit_config, e.error.to_string()});
  } catch (const YAML::Exception& e) {
    return proto::unexpected(CommandError{exit_config, file + ": " + e.msg});
  }
  return config;
}

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
    MeterEndpoint endpoint{wanted, named->second.host, default_port, false, named->second.unit_id,
                           named->second.user, named->second.password_file, named->second.tls};
    if (const auto port = named->second.ports.find(protocol); port != named->second.ports.end()) {
      endpoint.port = port->second;
      endpoint.port_given = true;
    }
    return endpoint;
  }
  const auto parsed = parse_host_port(wanted);
  if (!parsed) {
    return proto::unexpected(CommandError{exit_usage, "--meter '" + wanted +
                                                          "' is neither HOST[:PORT] nor a meter named in " +
                                                          config_file_path().string()});
  }
  return MeterEndpoint{"", parsed->first, parsed->second.value_or(default_port), parsed->second.has_value(),
                       std::nullopt, "", "", std::nullopt};
}

}  // namespace cli
