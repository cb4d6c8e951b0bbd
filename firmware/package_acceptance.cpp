#include "firmware/package_acceptance.hpp"

#include <cmath>

#include "libproto/model/firmware_rules.hpp"

namespace meterd {

namespace {

// "an ION7400", "a PM8000": the article as the name is read aloud, letter by letter or not.
std::string with_article(const std::string& name) {
  const bool vowel_sound = !name.empty() && std::string_view("AEIOUaeiou").find(name.front()) != std::string_view::npos;
  return (vowel_sound ? "an " : "a ") + name;
}

std::string known_versions(const proto::model::DeviceModel& model) {
  std::string text;
  for (const auto& release : model.firmware) text += (text.empty() ? "" : ", ") + release.version.to_string();
  return text;
}

}  // namespace

std::optional<std::string> version_refusal(const proto::model::DeviceModel& model, const FirmwareSituation& situation,
                                           const proto::model::Version& to) {
  if (to == situation.running) return "this meter already runs firmware " + to.to_string();
  if (model.find_firmware(to) == nullptr) {
    return model.name + " has no firmware " + to.to_string() + " (known: " + known_versions(model) + ")";
  }
  // The model's floors and the one the boot record keeps, refused below either.
  return proto::model::check_firmware_change(model, situation.running, to, situation.rollback_floor);
}

std::optional<std::string> package_refusal(const sec::FirmwareManifest& manifest,
                                           const proto::model::DeviceModel& model, const FirmwareSituation& situation) {
  if (manifest.model != model.name) {
    return "the package is for " + manifest.model + "; this meter is " + with_article(model.name);
  }
  if (std::chrono::sys_days(situation.today) > std::chrono::sys_days(manifest.expires)) {
    return "the package expired on " + sec::format_date(manifest.expires) + " (the meter's date is " +
           sec::format_date(situation.today) + ")";
  }
  return version_refusal(model, situation, manifest.firmware_version);
}

sec::Date utc_date(double unix_time) {
  const auto seconds = std::chrono::sys_seconds(std::chrono::seconds(static_cast<std::int64_t>(std::floor(unix_time))));
  return sec::Date(std::chrono::floor<std::chrono::days>(seconds));
}

}  // namespace meterd
