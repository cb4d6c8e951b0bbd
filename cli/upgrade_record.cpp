#include "cli/upgrade_record.hpp"

#include <array>
#include <utility>

namespace cli {

namespace {

constexpr std::array<std::pair<UpgradeOutcome, std::string_view>, 5> k_outcome_names = {{
    {UpgradeOutcome::upgraded, "upgraded"},
    {UpgradeOutcome::skipped, "skipped"},
    {UpgradeOutcome::failed, "failed"},
    {UpgradeOutcome::not_started, "not_started"},
    {UpgradeOutcome::dry_run, "dry_run"},
}};

nlohmann::json text_or_null(const std::string& text) { return text.empty() ? nlohmann::json() : nlohmann::json(text); }

}  // namespace

std::string_view to_string(UpgradeOutcome outcome) {
  for (const auto& [value, name] : k_outcome_names) {
    if (value == outcome) return name;
  }
  return "failed";
}

std::optional<UpgradeOutcome> parse_upgrade_outcome(std::string_view text) {
  for (const auto& [value, name] : k_outcome_names) {
    if (name == text) return value;
  }
  return std::nullopt;
}

nlohmann::json record_to_json(const UpgradeRecord& record) {
  nlohmann::json document = {{"meter", text_or_null(record.meter)},
                             {"serial_number", text_or_null(record.serial_number)},
                             {"before", text_or_null(record.before)},
                             {"after", text_or_null(record.after)},
                             {"outcome", to_string(record.outcome)},
                             {"backup", text_or_null(record.backup)},
                             {"duration_ms", record.duration_ms},
                             {"reason", text_or_null(record.reason)}};
  if (!record.stage_ms.empty()) {
    auto& stages = document["stages"] = nlohmann::json::object();
    for (const auto& [stage, milliseconds] : record.stage_ms) stages[stage + "_ms"] = milliseconds;
  }
  return document;
}

std::string describe(const UpgradeRecord& record) {
  switch (record.outcome) {
    case UpgradeOutcome::upgraded: return "upgraded " + record.before + " -> " + record.after;
    case UpgradeOutcome::skipped: return "skipped: " + record.reason;
    case UpgradeOutcome::failed: return "failed: " + record.reason;
    case UpgradeOutcome::not_started: return record.reason.empty() ? "not started" : "not started: " + record.reason;
    case UpgradeOutcome::dry_run: return "dry run: " + record.reason;
  }
  return "failed: " + record.reason;
}

}  // namespace cli
