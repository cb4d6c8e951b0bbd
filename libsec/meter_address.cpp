#include "libsec/meter_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace sec {

// Built by appending: GCC 12 warns falsely (-Wrestrict, GCC bug 105329) on "\"" + std::string at -O3.
std::string quoted(std::string_view text) {
  std::string result;
  result.reserve(text.size() + 2);
  result.append("\"").append(text).append("\"");
  return result;
}

namespace {


bool is_ascii_alphanumeric(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view without_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

// inet_pton needs a NUL-terminated string; addresses are short, names are bounded.
bool parse_ipv4(std::string_view text, in_addr& address) {
  if (text.size() > INET_ADDRSTRLEN) return false;
  const std::string copy(text);
  return ::inet_pton(AF_INET, copy.c_str(), &address) == 1;
}

bool parse_ipv6(std::string_view text, in6_addr& address) {
  if (text.size() > INET6_ADDRSTRLEN) return false;
  const std::string copy(text);
  return ::inet_pton(AF_INET6, copy.c_str(), &address) == 1;
}

// RFC 1123 section 2.1 host names. Underscores are accepted as well: they are not valid in
// host names, but site networks use them and the name is only compared, never resolved here.
std::optional<std::string> canonical_host_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_host_name_length) return std::nullopt;
  std::string canonical;
  canonical.reserve(name.size());
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const auto label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > k_max_host_label_length || label.front() == '-' || label.back() == '-') {
        return std::nullopt;
      }
      // An all-numeric last label would make "10.1.2" look like a name when it is an
      // (abbreviated) address; RFC 3696 section 2 rules such top-level labels out.
      if (i == name.size() && std::all_of(label.begin(), label.end(), is_ascii_digit)) return std::nullopt;
      label_start = i + 1;
      if (i < name.size()) canonical.push_back('.');
      continue;
    }
    const char c = name[i];
    if (!is_ascii_alphanumeric(c) && c != '-' && c != '_') return std::nullopt;
    canonical.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return canonical;
}

std::optional<std::string> canonical_host(std::string_view host) {
  in_addr ipv4{};
  if (parse_ipv4(host, ipv4)) {
    std::array<char, INET_ADDRSTRLEN> text{};
    ::inet_ntop(AF_INET, &ipv4, text.data(), text.size());
    return std::string(text.data());
  }
  in6_addr ipv6{};
  if (parse_ipv6(without_brackets(host), ipv6)) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    ::inet_ntop(AF_INET6, &ipv6, text.data(), text.size());
    std::string bracketed = "[";
    bracketed.append(text.data()).append("]");
    return bracketed;
  }
  return canonical_host_name(host);
}

}  // namespace

bool is_ip_address(std::string_view host) {
  in_addr ipv4{};
  in6_addr ipv6{};
  return parse_ipv4(host, ipv4) || parse_ipv6(without_brackets(host), ipv6);
}

proto::Result<std::string, std::string> canonical_meter_address(std::string_view host, std::uint16_t port) {
  if (port == 0) return proto::unexpected(std::string("port 0 is not a meter's port"));
  const auto canonical = canonical_host(host);
  if (!canonical) {
    return proto::unexpected(quoted(host) + " is neither a host name nor an IPv4 or IPv6 address");
  }
  return *canonical + ":" + std::to_string(port);
}

proto::Result<std::string, std::string> canonical_meter_address(std::string_view host_and_port) {
  std::string_view host;
  std::string_view port_text;
  if (host_and_port.starts_with('[')) {
    const auto close = host_and_port.find("]:");
    if (close == std::string_view::npos) {
      return proto::unexpected(quoted(host_and_port) + " is not [IPv6 address]:port");
    }
    host = host_and_port.substr(0, close + 1);
    port_text = host_and_port.substr(close + 2);
  } else {
    const auto colon = host_and_port.rfind(':');
    if (colon == std::string_view::npos) {
      return proto::unexpected(quoted(host_and_port) + " has no port; write host:port");
    }
    host = host_and_port.substr(0, colon);
    port_text = host_and_port.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return proto::unexpected(quoted(host_and_port) + ": write an IPv6 address in brackets, as in [fd00::7]:7443");
    }
  }
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || end != port_text.data() + port_text.size() || port_text.starts_with('0') ||
      port > 65535) {
    return proto::unexpected(quoted(host_and_port) + " has no valid port (1-65535)");
  }
  return canonical_meter_address(host, static_cast<std::uint16_t>(port));
}

}  // namespace sec
