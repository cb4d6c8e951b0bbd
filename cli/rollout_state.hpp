#pragma once
// The state file of a fleet rollout (meterctl-upgrade(1), STATE FILE): which package is
// being rolled out and what happened to each meter, written atomically after every meter
// so that `--resume` picks the rollout up where it stopped (a failure threshold, a
// killed meterctl, a lost CI runner) without touching the meters already done.

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/exit_codes.hpp"
#include "cli/upgrade_record.hpp"
#include "libproto/result.hpp"

namespace cli {

inline constexpr int k_rollout_state_format_version = 1;
// A record is a few hundred bytes and an inventory holds at most 100,000 meters.
inline constexpr std::size_t k_max_rollout_state_bytes = 64 * 1024 * 1024;

struct RolloutState {
  std::string package_sha256;  // lowercase hex of the whole package file
  std::string inventory;       // the inventory's path, as given
  std::map<std::string, UpgradeRecord> meters;  // by inventory name
  bool stopped = false;
  std::string stop_reason;
  friend bool operator==(const RolloutState&, const RolloutState&) = default;
};

// {"format_version": 1, "package_sha256", "inventory", "meters": {NAME: {"outcome",
// "before", "after", "reason", "backup", "duration_ms", "meter", "serial_number"}},
// "stopped", "stop_reason"}. Strings left empty are null.
std::string format_rollout_state(const RolloutState& state);
// Checks every member's type and value; `file` names the file in errors. Members this
// version does not know are ignored.
proto::Result<RolloutState, std::string> parse_rollout_state(std::string_view text, std::string_view file);

// The default state file of an inventory: FILE.rollout.json beside it.
std::filesystem::path default_state_file(const std::filesystem::path& inventory);

// Reads the state file; nullopt when there is none.
proto::Result<std::optional<RolloutState>, std::string> load_rollout_state(const std::filesystem::path& file);
// Replaces the file atomically (written beside it, then renamed): a rollout killed at any
// moment leaves the previous state or the new one, never half of one.
proto::Result<proto::Ok, std::string> save_rollout_state(const std::filesystem::path& file, const RolloutState& state);

// Whether a meter needs no further run: it was upgraded or skipped (already on the target).
// Failed, not started, dry-run and unrecorded meters are tried.
bool settled(const RolloutState& state, const std::string& meter);

// The state a run starts from, given the state file found (if any):
//   - no file: a new rollout, every selected meter not_started; with --resume, an error
//     (usage) since there is nothing to resume;
//   - a file without --resume: an error (usage) whether it is this package's (use
//     --resume) or another's (remove it or give another --state-file);
//   - a file with --resume: it must name the same package (else exit_data); selected
//     meters it lacks are added as not_started; stopped is cleared.
proto::Result<RolloutState, CommandError> start_rollout_state(const std::optional<RolloutState>& existing,
                                                              bool resume, const std::filesystem::path& state_file,
                                                              const std::string& package_sha256,
                                                              const std::string& inventory,
                                                              const std::vector<std::string>& selected);

}  // namespace cli
