#pragma once
// A fleet inventory (apiVersion meterctl/v1, kind Inventory; meterctl-config(1)): the
// meters `meterctl config plan|apply|drift --inventory` works on, each with its address,
// port, TLS choice, credentials, tags, profile and per-meter overrides. This file reads
// the inventory, picks meters by tag or name, and splits a fleet into stable shards so
// that N CI jobs share it without talking to each other. Pure: no network, no file read,
// no environment read except through the lookup handed in.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/rollout_plan.hpp"
#include "libproto/result.hpp"
#include "libsec/meter_profile.hpp"

namespace cli {

inline constexpr std::string_view k_inventory_api_version = "meterctl/v1";
inline constexpr std::string_view k_inventory_kind = "Inventory";
// A meter name is a file-name-safe word: it names the meter in reports, log lines and
// CI artifacts.
inline constexpr std::size_t k_max_meter_name_length = 64;
// An RFC 1035 host name is at most 253 characters; an address literal is shorter.
inline constexpr std::size_t k_max_address_length = 253;
// More meters than any utility runs from one inventory; a bound for a fuzzed document.
inline constexpr std::size_t k_max_inventory_meters = 100000;
// Tags are labels, not data.
inline constexpr std::size_t k_max_tags = 64;
// GitLab's `parallel:` stops at 200 jobs and a Kubernetes indexed Job at 100000
// completions; shards beyond that would be empty.
inline constexpr unsigned k_max_shards = 100000;

// The native protocol ports meterctl uses when the inventory names none: the vendor's ION
// port in clear, meterd's TLS port (as `meterctl --meter HOST` does).
inline constexpr std::uint16_t k_inventory_plain_port = 7700;
inline constexpr std::uint16_t k_inventory_secure_port = 7443;

// How meterctl logs in on a meter. A meter's `credentials` replace those of `defaults` as
// a whole, so a password_env of one never meets a password_file of the other.
struct InventoryCredentials {
  std::string user;                                    // empty: the factory account
  std::optional<std::filesystem::path> password_file;  // resolved against the inventory's directory
  std::optional<std::string> password_env;             // name of an environment variable
  std::string location;                                // "file:line:col" of the mapping
  friend bool operator==(const InventoryCredentials&, const InventoryCredentials&) = default;
};

struct InventoryMeter {
  std::string name;
  std::string address;
  std::uint16_t port = k_inventory_secure_port;
  bool tls = true;
  std::map<std::string, std::string> tags;  // defaults' tags, then the meter's (which win)
  InventoryCredentials credentials;
  std::optional<std::filesystem::path> profile;  // resolved against the inventory's directory
  // The profile keys this meter sets on top of its profile (meter_profile.hpp: overlay).
  // Password files its users name are resolved against the inventory's directory.
  std::optional<sec::MeterProfile> overrides;
  std::string location;  // "file:line:col" of the list item
};

// The inventory's `rollout` section: how `upgrade apply --inventory` goes over its meters
// when --waves and --max-failures are not given (meterctl-upgrade(1)).
struct InventoryRollout {
  std::optional<std::vector<Portion>> waves;  // [1, "5%", "100%"]
  std::optional<Portion> max_failures;        // 2, or "5%"
  std::string location;                       // "file:line:col" of the section
};

struct Inventory {
  std::vector<InventoryMeter> meters;  // in the file's order, names unique
  std::optional<InventoryRollout> rollout;
};

// Reads an inventory. `file` names it in errors and is the base of relative paths
// (profile, password_file, overrides' password files). Errors are "file:line:col: what
// is wrong and what to do"; unknown keys are errors.
proto::Result<Inventory, std::string> parse_inventory(std::string_view yaml_text, const std::filesystem::path& file);

// Whether `name` may name a meter: 1..64 characters of [A-Za-z0-9._-].
bool valid_meter_name(std::string_view name);

// --select KEY=VALUE: `name` matches the meter's name, any other key the tag of that name.
// VALUE is a shell pattern (fnmatch(3): *, ?, [...]), so `name=feeder-*` and
// `site=north*` both work; a plain value matches itself.
struct Selector {
  std::string key;
  std::string pattern;
  friend bool operator==(const Selector&, const Selector&) = default;
};
proto::Result<Selector, std::string> parse_selector(std::string_view text);
// Every selector must match; a meter without the tag does not match it.
bool matches(const InventoryMeter& meter, const std::vector<Selector>& selectors);

// Shard K of N, 1 <= K <= N.
struct Shard {
  unsigned index = 1;  // K, one-based
  unsigned count = 1;  // N
  friend bool operator==(const Shard&, const Shard&) = default;
};
std::string to_string(const Shard& shard);  // "K/N"
proto::Result<Shard, std::string> parse_shard(std::string_view text);

// FNV-1a, 64 bits (draft-eastlake-fnv, section 2: offset basis 0xcbf29ce484222325, prime
// 0x100000001b3). A meter's shard depends on its name alone, so it stays in its shard
// whatever the order of the inventory and whatever meters are added or removed.
std::uint64_t fnv1a_64(std::string_view text);
bool in_shard(std::string_view meter_name, const Shard& shard);

using EnvironmentLookup = std::function<std::optional<std::string>(std::string_view name)>;
// The process environment (getenv); an empty variable reads as unset.
EnvironmentLookup process_environment();

// The shard this run works on, written down once:
//   --shard K/N  >  CI_NODE_INDEX/CI_NODE_TOTAL (GitLab `parallel:`, one-based)
//                >  JOB_COMPLETION_INDEX (Kubernetes indexed Job, zero-based) with --shard-count N
// nullopt: the whole inventory. Errors name the option or variable at fault.
proto::Result<std::optional<Shard>, std::string> resolve_shard(const std::optional<std::string>& shard_option,
                                                               std::optional<unsigned> shard_count,
                                                               const EnvironmentLookup& environment);

// The meters that match every selector and fall in `shard`, in the inventory's order.
std::vector<InventoryMeter> select_meters(const Inventory& inventory, const std::vector<Selector>& selectors,
                                          const std::optional<Shard>& shard);

}  // namespace cli
