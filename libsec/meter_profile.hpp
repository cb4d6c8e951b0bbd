#pragma once
// A meter profile: the whole configuration of a meter as one YAML document (apiVersion
// meterctl/v1, kind MeterProfile; meter-profile(5)), kept in Git and brought onto meters
// with `meterctl config plan|apply`. It lives in libsec because it is the meter's
// configuration baseline (NERC CIP-010-2 R1): its security section is the security
// document of security_document.hpp, and drift from it is what `config drift` reports.
//
// Every section and every key is optional. A key left out keeps the meter's value; a
// profile only manages what it names. `security.users` and `recorders`, when present,
// are complete lists of named items: an item not listed is removed from the meter.
//
// Modbus access, time synchronisation, the web server switch and event priorities are
// security options in the security document; a profile sets them in their topical
// sections (communications.modbus_tcp.access, clock.time_sync, communications.web.mode,
// events.priorities) and refuses them under security.options, so each has one place.
//
// Parsing here reads one document and never touches a file: `extends` and password
// files are resolved by profile_loader.hpp, which reads the files.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/result.hpp"
#include "libsec/security_document.hpp"

namespace sec {

inline constexpr std::string_view k_profile_api_version = "meterctl/v1";
inline constexpr std::string_view k_profile_kind = "MeterProfile";
// An ION data recorder logs at most this many sources (seed 001: 50 from 4.6.0); no model
// allows more, so a longer list is refused while reading, before any model is known.
inline constexpr std::size_t k_max_recorder_sources = 50;
// Data recorders a profile may name; the vendor's Advanced meters stop well below this.
inline constexpr std::size_t k_max_recorders = 64;
// A chain of `extends` deeper than this is a cycle or a mistake.
inline constexpr int k_max_extends_depth = 8;

// What the meter must be for the profile to apply; checked, never applied.
struct ProfileIdentity {
  std::optional<std::string> model;         // device model name, case-insensitive
  std::optional<std::string> feature_set;   // e.g. Advanced
  std::optional<std::string> min_firmware;  // X.Y.Z; the meter must run this or later
  friend bool operator==(const ProfileIdentity&, const ProfileIdentity&) = default;
};

struct PortSetting {
  std::optional<bool> enabled;
  std::optional<std::uint16_t> port;  // 1..65535
  friend bool operator==(const PortSetting&, const PortSetting&) = default;
};

// Seed 004, "Web server": HTTPS with HTTP redirect (the factory setting), HTTPS only, or off.
enum class WebMode { https_redirect, https, disabled };
std::string_view to_string(WebMode mode);  // "https-redirect", "https", "disabled"
std::optional<WebMode> parse_web_mode(std::string_view text);

struct ProfileCommunications {
  PortSetting modbus_tcp;
  std::optional<std::uint8_t> modbus_unit_id;  // 1..247
  // Modbus access lives in security (it is a security option); see the header comment.
  PortSetting native;         // plain TCP native protocol
  PortSetting secure_native;  // TLS native protocol ("Secure ION", from 4.0.0)
  std::optional<WebMode> web_mode;
  std::optional<std::uint16_t> http_port;
  std::optional<std::uint16_t> https_port;
  friend bool operator==(const ProfileCommunications&, const ProfileCommunications&) = default;
};

enum class Wiring { wye, delta };
std::string_view to_string(Wiring wiring);  // "wye", "delta"
std::optional<Wiring> parse_wiring(std::string_view text);

struct ProfileMetering {
  std::optional<Wiring> wiring;
  std::optional<std::int64_t> pt_primary, pt_secondary, ct_primary, ct_secondary;
  std::optional<double> nominal_voltage;    // line-to-neutral volts (wye) or line-to-line (delta)
  std::optional<double> nominal_frequency;  // 50 or 60
  std::optional<std::int64_t> demand_interval_minutes, demand_subintervals;
  friend bool operator==(const ProfileMetering&, const ProfileMetering&) = default;
};

struct ProfileClock {
  std::optional<std::string> time_zone;  // IANA name such as Europe/Paris, or UTC
  // time_sync lives in security (a security option); see the header comment.
  friend bool operator==(const ProfileClock&, const ProfileClock&) = default;
};

// A data recorder: which measurement points it logs and how often.
struct ProfileRecorder {
  std::string name;
  std::vector<std::string> sources;  // measurement point names (meterctl read --list)
  std::optional<std::uint32_t> interval_s;
  std::optional<bool> triggered;               // logs on a trigger rather than a period
  std::optional<bool> insert_outage_records;   // writes a record at each power outage
  std::string location;                        // file:line:col of the entry
  friend bool operator==(const ProfileRecorder&, const ProfileRecorder&) = default;
};

struct MeterProfile {
  std::optional<std::string> name;         // metadata.name
  std::optional<std::string> description;  // metadata.description
  std::optional<std::string> extends;      // as written; resolved by the loader
  ProfileIdentity identity;
  ProfileCommunications communications;
  SecurityDocument security;  // incl. modbus_access, time_sync, web_server, priorities
  ProfileMetering metering;
  ProfileClock clock;
  bool recorders_listed = false;
  std::vector<ProfileRecorder> recorders;
  std::optional<std::string> scenario;  // simulation.scenario: a built-in scenario name
  // Where each key came from: dotted path -> "file:line:col". Paths are those of the
  // YAML ("communications.modbus_tcp.port", "security.users[alice].permissions",
  // "recorders[main].sources"); a merged profile keeps the location of the winning key.
  std::map<std::string, std::string> locations;

  // The location of `path` or of its nearest parent that has one, else "".
  std::string location_of(std::string_view path) const;
  friend bool operator==(const MeterProfile&, const MeterProfile&) = default;
};

// Equal in every setting, whatever the locations (`locations` and each user's and
// recorder's `location`): what a round trip through format_meter_profile keeps.
bool same_settings(const MeterProfile& a, const MeterProfile& b);

// Reads one profile document (no `extends` resolution, no file access). Errors are
// "file:line:col: what is wrong and what to do".
proto::Result<MeterProfile, std::string> parse_meter_profile(std::string_view yaml_text, std::string_view file_name);

// `site` over `base`: every key `site` sets wins; named lists (users, recorders) merge by
// name, an item of `site` replacing the one of `base` with that name key by key. The
// result has no `extends`.
MeterProfile overlay(const MeterProfile& base, const MeterProfile& site);

// The profile as a YAML document that parse_meter_profile reads back to an equal profile
// (locations aside). Passwords are never written: users carry password_file or
// password_hash only as the profile has them. `header_comment` lines go first.
std::string format_meter_profile(const MeterProfile& profile, std::string_view header_comment = {});

// One line per key the profile sets: dotted path (as in `locations`) -> the value as
// text ("502", "read-only", "[read, time-sync]"). A user's password_hash is listed under
// "security.users[NAME].password" as the hash itself; callers showing values mask it.
std::map<std::string, std::string> flatten_profile(const MeterProfile& profile);

// A difference between two profiles, one per flattened key. `before` is empty for a
// key added, `after` for a key removed. Password values are never shown: a password
// change reads before "(set)", after "(changed)".
struct ProfileChange {
  std::string path;
  std::optional<std::string> before;
  std::optional<std::string> after;
  friend bool operator==(const ProfileChange&, const ProfileChange&) = default;
};
// Sorted by path. Comparing two full profiles of the meter (before and after an apply)
// gives exactly what the apply changes.
std::vector<ProfileChange> diff_profiles(const MeterProfile& before, const MeterProfile& after);
// "~ path: before -> after", "+ path: after", "- path: before".
std::string to_string(const ProfileChange& change);

}  // namespace sec
