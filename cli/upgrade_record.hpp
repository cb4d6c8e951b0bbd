#pragma once
// What `meterctl upgrade apply` did to one meter: the record printed for a single meter,
// kept per meter in a rollout's state file, and listed in a fleet report
// (meterctl-upgrade(1), JSON OUTPUT). Pure.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cli {

enum class UpgradeOutcome {
  upgraded,     // the meter runs the package's version, committed
  skipped,      // it already ran that version; nothing was written
  failed,       // refused, unreachable, fell back, or no verdict in time
  not_started,  // a rollout stopped before this meter (or it is still to come)
  dry_run,      // every check passed; --dry-run wrote nothing
};
std::string_view to_string(UpgradeOutcome outcome);  // "upgraded", "skipped", ...
std::optional<UpgradeOutcome> parse_upgrade_outcome(std::string_view text);

struct UpgradeRecord {
  UpgradeOutcome outcome = UpgradeOutcome::not_started;
  std::string meter;          // host:port as meterctl reached it; empty before contact
  std::string serial_number;  // empty before contact
  std::string before;         // the version it ran before; empty before contact
  std::string after;          // the version it runs now (before, unless upgraded)
  std::string backup;         // the backup file taken, if any
  std::string reason;         // why it failed or was skipped; empty on success
  std::int64_t duration_ms = 0;
  // Milliseconds spent in each stage reached, in order: "check", "backup", "transfer",
  // "verify", "activate", "health" (where the time of an upgrade goes, for benchmarks).
  std::vector<std::pair<std::string, std::int64_t>> stage_ms;
  int exit_code = 0;  // failed: the status a single-meter run exits with
  friend bool operator==(const UpgradeRecord&, const UpgradeRecord&) = default;
};

// {"meter","serial_number","before","after","outcome","backup","duration_ms","reason",
// "stages": {"transfer_ms": ..., ...}};
// empty strings are null. The exit code is not part of it.
nlohmann::json record_to_json(const UpgradeRecord& record);

// One line: "upgraded 4.0.0 -> 4.6.0", "skipped: already runs 4.6.0", "failed: <reason>",
// "not started", "dry run: every check passed (4.0.0 -> 4.6.0)".
std::string describe(const UpgradeRecord& record);

}  // namespace cli
