#pragma once
// The name of a meter in the known-meters file: "host:port", with IPv6 addresses in
// brackets ("[fd00::7]:7443"), like the non-default-port entries of OpenSSH's known_hosts.
//
// One meter has one spelling, so a pin is found however the operator typed the address:
// host names are lower-cased (DNS names are case-insensitive, RFC 4343) and IPv6 addresses
// are written in RFC 5952 form. Names are not resolved: a pin belongs to the name used,
// as in SSH, so "meter-7:7443" and "10.0.0.7:7443" are two entries.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libproto/result.hpp"

namespace sec {

// RFC 1035 section 2.3.4: at most 253 characters of name, 63 per label.
inline constexpr std::size_t k_max_host_name_length = 253;
inline constexpr std::size_t k_max_host_label_length = 63;

// The canonical "host:port" of a host (a DNS name, an IPv4 address, or an IPv6 address
// with or without brackets) and a port (1-65535).
proto::Result<std::string, std::string> canonical_meter_address(std::string_view host, std::uint16_t port);

// The canonical form of "host:port" text; the port must be written without leading zeros.
proto::Result<std::string, std::string> canonical_meter_address(std::string_view host_and_port);

// Whether `host` is an IPv4 or IPv6 address (IPv6 with or without brackets), not a name.
bool is_ip_address(std::string_view host);

// `text` in double quotes, for error messages that show what the user gave.
std::string quoted(std::string_view text);

}  // namespace sec
