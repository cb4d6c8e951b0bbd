// Parses a rollout state file (meterctl-upgrade(1), STATE FILE): anything must end in a
// state or an error naming the file, and an accepted state must survive formatting and
// parsing again unchanged.
#include <cstdlib>
#include <string_view>

#include "cli/rollout_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto state = cli::parse_rollout_state(text, "inventory.yaml.rollout.json");
  if (!state) {
    if (!state.error().starts_with("inventory.yaml.rollout.json")) std::abort();
    return 0;
  }
  const auto again = cli::parse_rollout_state(cli::format_rollout_state(*state), "again");
  if (!again || !(*again == *state)) std::abort();
  for (const auto& [name, record] : state->meters) {
    if (cli::settled(*state, name) !=
        (record.outcome == cli::UpgradeOutcome::upgraded || record.outcome == cli::UpgradeOutcome::skipped)) {
      std::abort();
    }
  }
  return 0;
}
