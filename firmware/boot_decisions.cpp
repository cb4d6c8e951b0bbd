#include "firmware/boot_decisions.hpp"

#include "firmware/supervisor.hpp"

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstring>

namespace meterd {

namespace {

constexpr std::string_view k_no_supervisor_flag = "--no-supervisor";
constexpr std::string_view k_firmware_flag = "--firmware";

std::string boots(int count) { return std::to_string(count) + (count == 1 ? " boot" : " boots"); }

// Why a trial whose attempts are used up falls back, from what this supervisor saw.
std::string exhausted_reason(const TrialHistory& history, int attempts) {
  if (history.failures.empty()) {
    // The boots happened under an earlier supervisor process (killed, or the host lost
    // power): the counter survived, their outcomes did not.
    return "no health report in " + boots(attempts);
  }
  const auto& last = history.failures.back();
  const bool all_alike = std::all_of(history.failures.begin(), history.failures.end(),
                                     [&](const std::string& failure) { return failure == last; });
  if (all_alike && static_cast<int>(history.failures.size()) >= attempts) return last + " on " + boots(attempts);
  return last + " on the last of " + boots(attempts);
}

BootDecision fall_back_decision(const BootRecord& record, std::string reason, std::int64_t now) {
  BootDecision decision;
  decision.slot = record.active;
  decision.record_to_save = fall_back(record, reason, now);
  decision.fell_back_because = std::move(reason);
  return decision;
}

}  // namespace

std::string describe(const ChildEnd& end) {
  if (!end.signaled) return "exited with status " + std::to_string(end.value);
  std::string text = "killed by signal " + std::to_string(end.value);
  if (const char* name = sigabbrev_np(end.value)) text.append(" (SIG").append(name).append(")");
  return text;
}

int shell_status(const ChildEnd& end) { return end.signaled ? 128 + end.value : end.value; }

BootDecision decide_boot(const BootRecord& record, const TrialHistory& history, std::int64_t now) {
  if (!record.trial) {
    BootDecision decision;
    decision.slot = record.active;
    return decision;
  }
  const auto& trial = *record.trial;
  if (history.fall_back) return fall_back_decision(record, *history.fall_back, now);
  if (trial.attempts >= trial.max_attempts) {
    return fall_back_decision(record, exhausted_reason(history, trial.attempts), now);
  }
  BootDecision decision;
  decision.slot = trial.slot;
  decision.trial = true;
  decision.attempt = trial.attempts + 1;
  decision.max_attempts = trial.max_attempts;
  decision.health_deadline_s = trial.health_deadline_s;
  auto counted = record;
  counted.trial->attempts = decision.attempt;
  decision.record_to_save = std::move(counted);
  return decision;
}

BootRecord commit_trial(BootRecord record, std::int64_t now) {
  const auto trial = *record.trial;
  record.active = trial.slot;
  if (trial.floor_on_commit && (!record.rollback_floor || *record.rollback_floor < *trial.floor_on_commit)) {
    record.rollback_floor = trial.floor_on_commit;
  }
  record.last_outcome = BootOutcome{.committed = true, .slot = trial.slot, .version = trial.to_version, .reason = {},
                                    .at = now};
  record.trial.reset();
  return record;
}

BootRecord fall_back(BootRecord record, std::string reason, std::int64_t now) {
  const auto trial = *record.trial;
  record.last_outcome = BootOutcome{.committed = false, .slot = trial.slot, .version = trial.to_version,
                                    .reason = std::move(reason), .at = now};
  record.trial.reset();
  return record;
}

std::string missed_deadline_reason(std::uint32_t health_deadline_s) {
  return "no health report within " + std::to_string(health_deadline_s) + " s";
}

AfterRun decide_after_run(const FirmwareRun& run) {
  AfterRun after;
  if (run.stopping) {
    // The firmware stopped because we passed the signal on: that is a clean stop, and
    // a reboot it happened to ask for at the same moment is moot.
    const bool stopped_as_asked = run.end.signaled ? (run.end.value == SIGTERM || run.end.value == SIGINT)
                                                   : run.end.value == k_exit_reboot;
    after.exit_status = stopped_as_asked ? 0 : shell_status(run.end);
    return after;
  }
  if (run.trial && !run.healthy) {
    after.step = NextStep::boot_now;
    after.trial_failure = describe(run.end);
    return after;
  }
  if (run.end == ChildEnd::exited(k_exit_reboot)) {
    after.step = NextStep::boot_now;
    return after;
  }
  // A committed firmware that never got healthy fails again the same way (a bad command
  // line, a state directory in use): looping would only hide it. One that stops cleanly
  // was stopped on purpose.
  if (!run.healthy || run.end == ChildEnd::exited(0)) {
    after.exit_status = shell_status(run.end);
    return after;
  }
  after.step = NextStep::boot_after_pause;
  return after;
}

std::vector<std::string> firmware_arguments(std::span<const std::string> supervisor_arguments,
                                            const SlotRecord& slot) {
  std::vector<std::string> arguments;
  const bool replace_firmware = !slot.factory && slot.version;
  for (std::size_t i = 0; i < supervisor_arguments.size(); ++i) {
    const auto& argument = supervisor_arguments[i];
    if (replace_firmware) {
      if (argument == k_firmware_flag) {
        ++i;  // and its value
        continue;
      }
      if (argument.starts_with(std::string(k_firmware_flag) + "=")) continue;
    }
    arguments.push_back(argument);
  }
  if (replace_firmware) {
    arguments.emplace_back(k_firmware_flag);
    arguments.push_back(slot.version->to_string());
  }
  arguments.emplace_back(k_no_supervisor_flag);
  return arguments;
}

BootRecord first_boot_record(std::string executable, std::string installed_at) {
  BootRecord record;
  record.active = Slot::a;
  record.slot(Slot::a) = SlotRecord{.factory = true,
                                    .version = std::nullopt,
                                    .executable = std::move(executable),
                                    .installed_at = std::move(installed_at),
                                    .key_id = {},
                                    .payload_sha256 = {}};
  return record;
}

std::string format_boot_ports(const BootPorts& ports) {
  std::string text;
  for (const auto& port : ports) {
    if (!text.empty()) text += ' ';
    text += port ? std::to_string(*port) : std::string("-");
  }
  return text;
}

std::optional<BootPorts> parse_boot_ports(std::string_view text) {
  BootPorts ports;
  std::size_t field = 0;
  if (text.ends_with(' ')) return std::nullopt;
  while (!text.empty()) {
    const auto blank = text.find(' ');
    const auto word = text.substr(0, blank);
    text = blank == std::string_view::npos ? std::string_view() : text.substr(blank + 1);
    if (field >= ports.size() || word.empty()) return std::nullopt;
    if (word != "-") {
      unsigned value = 0;
      const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
      if (error != std::errc() || end != word.data() + word.size() || value == 0 || value > 65535) return std::nullopt;
      ports[field] = static_cast<std::uint16_t>(value);
    }
    ++field;
  }
  if (field != ports.size()) return std::nullopt;
  return ports;
}

std::string health_report(const BootPorts& ports) {
  return "ports " + format_boot_ports(ports) + "\n" + std::string(k_health_report);
}

std::optional<BootPorts> reported_ports(std::string_view received) {
  constexpr std::string_view prefix = "ports ";
  if (!received.starts_with(prefix)) return std::nullopt;
  const auto end = received.find('\n');
  if (end == std::string_view::npos) return std::nullopt;
  return parse_boot_ports(received.substr(prefix.size(), end - prefix.size()));
}

}  // namespace meterd
