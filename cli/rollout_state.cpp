#include "cli/rollout_state.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cli/inventory.hpp"
#include "libsec/private_file.hpp"

namespace cli {

namespace {

// Shared with whoever watches a rollout (CI artifacts, dashboards), like a --report.
constexpr int k_state_file_mode = 0644;
// SHA-256, lowercase hex.
constexpr std::size_t k_sha256_hex_length = 64;
// A rollout's meters: a few minutes each, never years; a bound for the parser.
constexpr std::int64_t k_max_duration_ms = 366LL * 24 * 3600 * 1000;

nlohmann::json text_or_null(const std::string& text) { return text.empty() ? nlohmann::json() : nlohmann::json(text); }

bool lowercase_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Reads one member that is a string or null; an absent member is empty.
proto::Result<std::string, std::string> optional_text(const nlohmann::json& object, const char* key,
                                                      const std::string& where) {
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return std::string();
  if (!found->is_string()) return proto::unexpected(where + "." + key + " is not a string");
  return found->get<std::string>();
}

proto::Result<UpgradeRecord, std::string> parse_record(const nlohmann::json& value, const std::string& where) {
  if (!value.is_object()) return proto::unexpected(where + " is not an object");
  UpgradeRecord record;
  const auto outcome = value.find("outcome");
  if (outcome == value.end() || !outcome->is_string()) return proto::unexpected(where + ".outcome is missing");
  const auto parsed = parse_upgrade_outcome(outcome->get<std::string>());
  if (!parsed) {
    return proto::unexpected(where + ".outcome '" + outcome->get<std::string>() +
                             "' is not upgraded, skipped, failed, not_started or dry_run");
  }
  record.outcome = *parsed;
  const std::pair<const char*, std::string*> texts[] = {
      {"before", &record.before}, {"after", &record.after},   {"reason", &record.reason},
      {"backup", &record.backup}, {"meter", &record.meter}, {"serial_number", &record.serial_number}};
  for (const auto& [key, target] : texts) {
    auto text = optional_text(value, key, where);
    if (!text) return proto::unexpected(text.error());
    *target = std::move(*text);
  }
  if (const auto duration = value.find("duration_ms"); duration != value.end() && !duration->is_null()) {
    if (!duration->is_number_integer() || duration->get<std::int64_t>() < 0 ||
        duration->get<std::int64_t>() > k_max_duration_ms) {
      return proto::unexpected(where + ".duration_ms is not a number of milliseconds");
    }
    record.duration_ms = duration->get<std::int64_t>();
  }
  return record;
}

CommandError usage(std::string message) { return {exit_usage, std::move(message)}; }

}  // namespace

std::string format_rollout_state(const RolloutState& state) {
  nlohmann::json meters = nlohmann::json::object();
  for (const auto& [name, record] : state.meters) {
    auto entry = record_to_json(record);
    // Where the time went belongs to the run's report, not to what a resume needs.
    entry.erase("stages");
    meters[name] = std::move(entry);
  }
  const nlohmann::json document = {{"format_version", k_rollout_state_format_version},
                                   {"package_sha256", state.package_sha256},
                                   {"inventory", state.inventory},
                                   {"meters", meters},
                                   {"stopped", state.stopped},
                                   {"stop_reason", text_or_null(state.stop_reason)}};
  return document.dump(2) + "\n";
}

proto::Result<RolloutState, std::string> parse_rollout_state(std::string_view text, std::string_view file) {
  const std::string name(file);
  if (text.size() > k_max_rollout_state_bytes) {
    return proto::unexpected(name + " is larger than " + std::to_string(k_max_rollout_state_bytes) +
                             " bytes: not a rollout state file");
  }
  const auto document = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return proto::unexpected(name + " is not a JSON object: not a rollout state file");
  }
  const auto version = document.find("format_version");
  if (version == document.end() || !version->is_number_integer()) {
    return proto::unexpected(name + " has no format_version: not a rollout state file");
  }
  if (version->get<std::int64_t>() != k_rollout_state_format_version) {
    return proto::unexpected(name + " has format_version " + version->dump() + "; this meterctl reads " +
                             std::to_string(k_rollout_state_format_version));
  }
  RolloutState state;
  const auto package = document.find("package_sha256");
  if (package == document.end() || !package->is_string() ||
      package->get<std::string>().size() != k_sha256_hex_length || !lowercase_hex(package->get<std::string>())) {
    return proto::unexpected(name + ": package_sha256 is not the SHA-256 of a package (64 lowercase hex digits)");
  }
  state.package_sha256 = package->get<std::string>();
  auto inventory = optional_text(document, "inventory", name);
  if (!inventory) return proto::unexpected(inventory.error());
  state.inventory = std::move(*inventory);
  const auto meters = document.find("meters");
  if (meters == document.end() || !meters->is_object()) return proto::unexpected(name + ": meters is not an object");
  if (meters->size() > k_max_inventory_meters) {
    return proto::unexpected(name + ": more than " + std::to_string(k_max_inventory_meters) + " meters");
  }
  for (const auto& [meter, value] : meters->items()) {
    if (!valid_meter_name(meter)) return proto::unexpected(name + ": '" + meter + "' is not a meter name");
    auto record = parse_record(value, name + ": meters." + meter);
    if (!record) return proto::unexpected(record.error());
    state.meters.emplace(meter, std::move(*record));
  }
  if (const auto stopped = document.find("stopped"); stopped != document.end() && !stopped->is_null()) {
    if (!stopped->is_boolean()) return proto::unexpected(name + ": stopped is not true or false");
    state.stopped = stopped->get<bool>();
  }
  auto reason = optional_text(document, "stop_reason", name);
  if (!reason) return proto::unexpected(reason.error());
  state.stop_reason = std::move(*reason);
  return state;
}

std::filesystem::path default_state_file(const std::filesystem::path& inventory) {
  return inventory.string() + ".rollout.json";
}

proto::Result<std::optional<RolloutState>, std::string> load_rollout_state(const std::filesystem::path& file) {
  auto text = sec::read_file_if_exists(file, k_max_rollout_state_bytes);
  if (!text) return proto::unexpected(text.error());
  if (!*text) return std::optional<RolloutState>();
  auto state = parse_rollout_state(**text, file.string());
  if (!state) return proto::unexpected(state.error());
  return std::optional<RolloutState>(std::move(*state));
}

proto::Result<proto::Ok, std::string> save_rollout_state(const std::filesystem::path& file, const RolloutState& state) {
  return sec::write_file_atomically(file, format_rollout_state(state), k_state_file_mode);
}

bool settled(const RolloutState& state, const std::string& meter) {
  const auto found = state.meters.find(meter);
  if (found == state.meters.end()) return false;
  return found->second.outcome == UpgradeOutcome::upgraded || found->second.outcome == UpgradeOutcome::skipped;
}

proto::Result<RolloutState, CommandError> start_rollout_state(const std::optional<RolloutState>& existing,
                                                              bool resume, const std::filesystem::path& state_file,
                                                              const std::string& package_sha256,
                                                              const std::string& inventory,
                                                              const std::vector<std::string>& selected) {
  const auto file = state_file.string();
  if (!existing) {
    if (resume) {
      return proto::unexpected(
          usage("--resume: there is no state file " + file + " to resume; run without --resume to start the rollout"));
    }
    RolloutState state;
    state.package_sha256 = package_sha256;
    state.inventory = inventory;
    for (const auto& name : selected) state.meters[name] = UpgradeRecord{};
    return state;
  }
  const bool same_package = existing->package_sha256 == package_sha256;
  if (!resume) {
    if (same_package) {
      return proto::unexpected(usage("a rollout of this package has a state file, " + file +
                                     "; --resume to continue it (or remove the file to start over)"));
    }
    return proto::unexpected(usage(file + " holds the rollout of another package (sha256 " +
                                   existing->package_sha256 +
                                   "); remove it, or give this rollout its own --state-file"));
  }
  if (!same_package) {
    return proto::unexpected(CommandError{
        exit_data, "--resume: " + file + " holds the rollout of another package (sha256 " + existing->package_sha256 +
                       ", this one is " + package_sha256 + "); give that package, or remove the file to start over"});
  }
  RolloutState state = *existing;
  state.stopped = false;
  state.stop_reason.clear();
  if (state.inventory.empty()) state.inventory = inventory;
  for (const auto& name : selected) state.meters.try_emplace(name);
  return state;
}

}  // namespace cli
