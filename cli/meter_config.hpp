#pragma once
// Which meter a command talks to. Precedence, written down once:
//   --meter HOST[:PORT] or --meter NAME  >  $METERCTL_METER  >  default_meter in the config file.
// Named meters live in $XDG_CONFIG_HOME/meterctl/config.yaml (or $METERCTL_CONFIG) and carry
// one port per protocol:
//   default_meter: lab
//   meters:
//     lab: {host: 127.0.0.1, ports: {modbus: 5020}, unit_id: 1}

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "cli/exit_codes.hpp"
#include "libproto/result.hpp"

namespace cli {

struct MeterEndpoint {
  std::string name;  // the named meter, or empty
  std::string host;
  std::uint16_t port = 0;
  bool port_given = false;  // from HOST:PORT or the named meter's ports
  std::optional<int> unit_id;
  std::string user;
  std::string password_file;
  std::optional<bool> tls;
};

struct NamedMeter {
  std::string host;
  std::map<std::string, std::uint16_t> ports;  // protocol -> port: modbus, native, secure
  std::optional<int> unit_id;
  std::string user;           // for the native protocol
  std::string password_file;  // never the password itself
  std::optional<bool> tls;    // native protocol over TLS (default) or plain
};

struct MeterConfig {
  std::string default_meter;
  std::map<std::string, NamedMeter> meters;
};

std::filesystem::path config_file_path();

// Parses the text of a configuration file; `file` names it in errors (file:line:col).
proto::Result<MeterConfig, CommandError> parse_meter_config(std::string_view text, const std::string& file);

// `protocol` picks the port of a named meter ("modbus"); `default_port` applies to HOST without :PORT.
proto::Result<MeterEndpoint, CommandError> resolve_meter(const std::string& meter_option, const std::string& protocol,
                                                         std::uint16_t default_port);

// Parses HOST, HOST:PORT, [V6]:PORT.
std::optional<std::pair<std::string, std::optional<std::uint16_t>>> parse_host_port(const std::string& text);

}  // namespace cli
