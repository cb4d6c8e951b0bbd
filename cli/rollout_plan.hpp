#pragma once
// How a fleet rollout (`meterctl upgrade apply --inventory`, meterctl-upgrade(1)) is cut
// into waves and when it stops: the --waves list, the --max-failures threshold and the
// arithmetic between them and the number of meters selected. Pure: no I/O.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/result.hpp"

namespace cli {

// A number of meters, or a share of the meters selected: "3", "5%", "0.5%".
struct Portion {
  bool percent = false;
  // percent: hundredths of a percent (5% = 500, 100% = 10000); else a number of meters.
  std::uint64_t amount = 0;
  friend bool operator==(const Portion&, const Portion&) = default;
};

inline constexpr std::uint64_t k_whole_percent = 10000;  // 100%, in hundredths of a percent
// Waves are for canaries and stages, not for one meter at a time: beyond this, a list is
// a mistake (and a bound for a fuzzed inventory).
inline constexpr std::size_t k_max_waves = 100;

// "3", "5%", "12.5%", "0.25%": a whole number of meters, or a percentage of at most 100
// with at most two decimals. `what` names the value in errors ("--waves", "max_failures").
proto::Result<Portion, std::string> parse_portion(std::string_view text, std::string_view what);
std::string to_string(const Portion& portion);  // as parse_portion reads it: "3", "5%", "12.5%"

// The share of `total` a percentage stands for, rounded up (waves: "5%" of 30 meters
// covers 2) or down (the failure threshold: "5%" of 30 meters tolerates 1).
std::size_t portion_of(const Portion& portion, std::size_t total, bool round_up);

// --waves "1,5%,100%": cumulative steps, each a count of meters (at least 1) or a
// percentage above 0. At most k_max_waves.
proto::Result<std::vector<Portion>, std::string> parse_waves(std::string_view text);
std::string to_string(const std::vector<Portion>& waves);  // "1,5%,100%"

// The end of each wave over `total` meters in inventory order: wave k covers meters
// [ends[k-1], ends[k]). Each step says how many meters the waves so far cover: a count
// as it is, a percentage of `total` rounded up; a step that would add no meter adds
// one; a step beyond `total` is `total`, and nothing follows the wave that reaches it.
// The last step must reach `total` (a rollout that leaves meters out is refused rather
// than guessed at; end the list with 100%). No steps: one wave of every meter. Zero
// meters: no wave.
proto::Result<std::vector<std::size_t>, std::string> plan_waves(const std::vector<Portion>& steps, std::size_t total);

// The number of failed meters a rollout tolerates: --max-failures N, or P% of the
// selected meters rounded down.
std::size_t tolerated_failures(const Portion& max_failures, std::size_t selected);

// The rollout stops when the failures EXCEED what is tolerated: with --max-failures 2,
// the third failure stops it, not the second.
inline bool threshold_passed(std::size_t failures, std::size_t tolerated) { return failures > tolerated; }

// "rollout stopped: 3 failures exceed --max-failures 2", with "(2 of 40 meters)" after
// a percentage. `source` names where the threshold came from ("--max-failures",
// "the inventory's rollout.max_failures").
std::string stop_message(std::size_t failures, const Portion& max_failures, std::string_view source,
                         std::size_t tolerated, std::size_t selected);

}  // namespace cli
