#include "libproto/model/firmware_rules.hpp"

#include <algorithm>

namespace proto::model {

namespace {

// "an ION7400", "a PM8000": the article as the name is read aloud.
std::string with_article(const std::string& name) {
  const bool vowel_sound = !name.empty() && std::string_view("AEIOUaeiou").find(name.front()) != std::string_view::npos;
  return (vowel_sound ? "an " : "a ") + name;
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) text += i + 1 == items.size() ? " and " : ", ";
    text += items[i];
  }
  return text;
}

std::string mode_name(const std::string& mode) {
  return mode == "legacy" ? "Legacy security support" : mode + " security";
}

void describe_upgrade(const FirmwareRelease& release, const Version& shipped, std::vector<std::string>& lines) {
  const auto prefix = "upgrade to " + release.version.to_string() + ": ";
  const auto& effects = release.on_upgrade;
  for (const auto& [from, to] : effects.security_mode) {
    if (from == to) {
      lines.push_back(prefix + "a meter in " + mode_name(from) + " stays in it, its users and passwords kept");
    } else {
      lines.push_back(prefix + "a meter in " + mode_name(from) + " moves to " + mode_name(to) +
                      (to == "legacy" ? ", as User1 with the same password" : ""));
    }
  }
  if (effects.passwords == "hashed") {
    lines.push_back(prefix + "stored passwords are kept as hashes only (any clear-text password is hashed)");
  }
  if (effects.web_server) lines.push_back(prefix + "the web server comes up " + *effects.web_server);
  if (effects.plain_native_port) lines.push_back(prefix + "the plain native port is " + *effects.plain_native_port);
  if (shipped < release.version) {
    for (const auto feature : release.brings_when_shipped) {
      lines.push_back(prefix + std::string(to_string(feature)) + " stays unavailable: it comes only with meters shipped with " +
                      release.version.to_string() + " or later");
    }
  }
  if (release.rollback_floor) {
    lines.push_back(prefix + release.version.to_string() +
                    " is a rollback floor: afterwards the meter accepts no older firmware");
  }
}

void describe_downgrade(const FirmwareRelease& release, std::vector<std::string>& lines) {
  if (!release.on_downgrade) return;
  const auto prefix = "downgrade from " + release.version.to_string() + ": ";
  const auto& effects = *release.on_downgrade;
  if (effects.security_mode == "kept") lines.push_back(prefix + "the security mode is kept");
  if (effects.passwords_reset_to) {
    lines.push_back(prefix + "every user's password is reset to " + *effects.passwords_reset_to);
  }
  if (!effects.services_removed.empty()) {
    lines.push_back(prefix + joined(effects.services_removed) + " are removed (the older firmware has none)");
  }
  if (!effects.services_disabled.empty()) lines.push_back(prefix + joined(effects.services_disabled) + " are disabled");
  if (effects.web_read) lines.push_back(prefix + "web read access is " + *effects.web_read);
  if (effects.web_config) lines.push_back(prefix + "web configuration is " + *effects.web_config);
}

void describe_capability_changes(const DeviceModel& model, const Version& from, const Version& to,
                                 const Version& shipped, std::vector<std::string>& lines) {
  // Feature sets only narrow limits the firmware sets, the same way before and after.
  const auto before = model.capabilities(model.default_feature_set, from, shipped);
  const auto after = model.capabilities(model.default_feature_set, to, shipped);
  if (!before || !after) return;
  std::vector<std::string> gained;
  std::vector<std::string> lost;
  for (std::size_t i = 0; i < k_feature_count; ++i) {
    const auto feature = static_cast<Feature>(i);
    if (after->has(feature) && !before->has(feature)) gained.emplace_back(to_string(feature));
    if (before->has(feature) && !after->has(feature)) lost.emplace_back(to_string(feature));
  }
  if (!gained.empty()) lines.push_back("features gained: " + joined(gained));
  if (!lost.empty()) lines.push_back("features lost: " + joined(lost));
  for (std::size_t i = 0; i < k_limit_count; ++i) {
    const auto which = static_cast<Limit>(i);
    const auto old_value = before->limit(which);
    const auto new_value = after->limit(which);
    if (old_value == new_value) continue;
    const auto text = [](const std::optional<int>& value) { return value ? std::to_string(*value) : std::string("none"); };
    lines.push_back("limit " + std::string(to_string(which)) + ": " + text(old_value) + " -> " + text(new_value));
  }
}

}  // namespace

std::optional<Version> rollback_floor_at(const DeviceModel& model, const Version& version) {
  std::optional<Version> floor;
  for (const auto& release : model.firmware) {
    if (release.rollback_floor && release.version <= version) floor = release.version;
  }
  return floor;
}

std::optional<std::string> check_firmware_change(const DeviceModel& model, const Version& from, const Version& to,
                                                 const std::optional<Version>& floor) {
  if (to == from) return std::nullopt;
  auto reached = rollback_floor_at(model, from);
  const bool kept_floor_higher = floor && (!reached || *floor > *reached);
  if (kept_floor_higher) reached = floor;
  if (!reached) return std::nullopt;
  if (to < *reached && from < *reached) {
    // Only a floor the meter keeps can lie above what it runs (its state came back from
    // before it reached the floor): nothing below that floor runs, upgrade or not.
    return "this meter has run firmware " + reached->to_string() + ", a rollback floor it keeps, so " +
           to.to_string() + " is refused";
  }
  if (to < from) {
    return "this meter runs firmware " + from.to_string() + "; " + with_article(model.name) + " on " +
           reached->to_string() + " or later cannot be downgraded, so " + to.to_string() + " is refused";
  }
  return std::nullopt;
}

std::vector<FirmwareChangeStep> firmware_change_steps(const DeviceModel& model, const Version& from, const Version& to) {
  std::vector<FirmwareChangeStep> steps;
  if (to > from) {
    for (const auto& release : model.firmware) {
      if (release.version > from && release.version <= to) steps.push_back({&release, true});
    }
  } else if (to < from) {
    for (auto it = model.firmware.rbegin(); it != model.firmware.rend(); ++it) {
      if (it->version > to && it->version <= from) steps.push_back({&*it, false});
    }
  }
  return steps;
}

std::vector<std::string> describe_firmware_change(const DeviceModel& model, const Version& from, const Version& to,
                                                  const std::optional<Version>& shipped) {
  std::vector<std::string> lines;
  const auto shipped_version = shipped.value_or(from);
  for (const auto& step : firmware_change_steps(model, from, to)) {
    if (step.upgrade) {
      describe_upgrade(*step.release, shipped_version, lines);
    } else {
      describe_downgrade(*step.release, lines);
    }
  }
  describe_capability_changes(model, from, to, shipped_version, lines);
  return lines;
}

}  // namespace proto::model
