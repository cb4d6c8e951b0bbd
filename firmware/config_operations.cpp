#include "firmware/config_operations.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "firmware/config_profile.hpp"
#include "firmware/log.hpp"
#include "firmware/meter_clock.hpp"
#include "firmware/native_replies.hpp"
#include "firmware/password_resolution.hpp"
#include "libsec/meter_profile.hpp"

namespace meterd {

namespace native = proto::codec::native;
using native::ErrorCode;
using nlohmann::json;
using sec::SecurityEventType;

namespace {

constexpr std::string_view k_operations[] = {"config.get", "config.plan", "config.apply", "config.confirm",
                                             "config.rollback"};

NativeReply invalid(std::uint32_t id, std::string message) {
  return error_reply(id, ErrorCode::invalid_argument, std::move(message));
}

std::int64_t wall_seconds() { return static_cast<std::int64_t>(std::floor(MeterClock::wall_now())); }

}  // namespace

json changes_json(const std::vector<sec::ProfileChange>& changes) {
  json list = json::array();
  for (const auto& change : changes) {
    json entry = {{"path", change.path}};
    if (change.before) entry["before"] = *change.before;
    if (change.after) entry["after"] = *change.after;
    list.push_back(std::move(entry));
  }
  return list;
}

// One problem per line, within the protocol's limit on error text (a longer message is
// refused by the client's decoder): whole lines while they fit, then how many are left.
std::string problems_text(const std::vector<sec::ProfileProblem>& problems) {
  const std::size_t limit = native::k_max_message_length;
  std::string text;
  for (std::size_t i = 0; i < problems.size(); ++i) {
    auto line = problems[i].to_string();
    const auto rest = "\n... and " + std::to_string(problems.size() - i) + " more problems";
    const auto separator = text.empty() ? std::string() : std::string("\n");
    if (text.size() + separator.size() + line.size() + (i + 1 < problems.size() ? rest.size() : 0) > limit) {
      if (text.empty()) {
        // A single line too long: cut it short, at a UTF-8 character boundary.
        std::size_t cut = std::min(line.size(), limit - rest.size());
        while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
        text = line.substr(0, cut);
        if (i + 1 < problems.size()) text += "\n... and " + std::to_string(problems.size() - i - 1) + " more problems";
      } else {
        text += rest;
      }
      return text;
    }
    text += separator + line;
  }
  return text;
}

namespace {

json pending_json(const Meter& meter) {
  const auto& pending = meter.pending_confirm();
  if (!pending) return nullptr;
  return {{"deadline", pending->deadline}, {"previous_version", pending->previous_version}};
}

}  // namespace

proto::Result<proto::Ok, std::pair<ErrorCode, std::string>> switch_configuration(NativeService& service,
                                                                                  MeterConfiguration configuration,
                                                                                  std::optional<PendingConfirm> pending) {
  auto& meter = service.meter();
  auto& runtime = service.config_runtime();
  const auto ports = wanted_ports(configuration, runtime);
  if (auto prepared = runtime.prepare(ports); !prepared) {
    return proto::unexpected(std::pair{ErrorCode::not_available, prepared.error() + "; nothing changed"});
  }
  if (auto applied = meter.apply_configuration(std::move(configuration), std::move(pending)); !applied) {
    runtime.abandon();
    return proto::unexpected(std::pair{ErrorCode::internal_error, applied.error() + "; nothing changed"});
  }
  runtime.commit();
  service.sessions().set_idle_timeout(meter.security().session_timeout);
  return proto::Ok{};
}

namespace {

proto::Result<proto::Ok, std::pair<ErrorCode, std::string>> roll_back(NativeService& service, const std::string& reason,
                                                                       const EventSource& source) {
  auto& meter = service.meter();
  auto& runtime = service.config_runtime();
  const auto& pending = meter.pending_confirm();
  if (!pending) return proto::unexpected(std::pair{ErrorCode::invalid_argument, std::string("no configuration is waiting for a confirm")});
  const auto ports = wanted_ports(pending->previous, runtime);
  if (auto prepared = runtime.prepare(ports); !prepared) {
    return proto::unexpected(std::pair{ErrorCode::not_available, prepared.error() + "; nothing changed"});
  }
  if (auto rolled_back = meter.roll_back_configuration(reason, source); !rolled_back) {
    runtime.abandon();
    return proto::unexpected(std::pair{ErrorCode::internal_error, rolled_back.error() + "; nothing changed"});
  }
  runtime.commit();
  runtime.cancel_confirm_timer();
  service.sessions().set_idle_timeout(meter.security().session_timeout);
  return proto::Ok{};
}

class ConfigOperations {
 public:
  ConfigOperations(NativeService& service, std::uint32_t id, std::string operation, const json& arguments,
                   const Caller& caller)
      : service_(service), meter_(service.meter()), id_(id), operation_(std::move(operation)), arguments_(arguments),
        caller_(caller) {}

  NativeOutcome run();

 private:
  struct Request {
    std::string document;
    std::string source = "profile";
    std::optional<std::uint64_t> expected_version;
    bool force = false;
    std::optional<std::uint64_t> confirm_timeout_s;
  };

  std::optional<Request> read_request(std::string& problem) const;
  NativeOutcome plan_or_apply(bool apply);
  NativeOutcome finish(const Request& request, const sec::MeterProfile& profile, const ResolvedPasswords& passwords,
                       bool apply);

  NativeService& service_;
  Meter& meter_;
  std::uint32_t id_;
  std::string operation_;
  json arguments_;
  Caller caller_;
};

std::optional<ConfigOperations::Request> ConfigOperations::read_request(std::string& problem) const {
  Request request;
  if (!arguments_.is_object() || !arguments_.contains("document") || !arguments_.at("document").is_string()) {
    problem = operation_ + " needs document: the YAML text of a resolved profile";
    return std::nullopt;
  }
  request.document = arguments_.at("document").get<std::string>();
  if (arguments_.contains("source")) {
    if (!arguments_.at("source").is_string()) {
      problem = operation_ + ": source must be text";
      return std::nullopt;
    }
    request.source = arguments_.at("source").get<std::string>();
  }
  if (operation_ != "config.apply") return request;
  if (arguments_.contains("expected_version")) {
    if (!arguments_.at("expected_version").is_number_unsigned()) {
      problem = "config.apply: expected_version must be a whole number (config.plan's config_version)";
      return std::nullopt;
    }
    request.expected_version = arguments_.at("expected_version").get<std::uint64_t>();
  }
  if (arguments_.contains("force")) {
    if (!arguments_.at("force").is_boolean()) {
      problem = "config.apply: force must be true or false";
      return std::nullopt;
    }
    request.force = arguments_.at("force").get<bool>();
  }
  if (!request.expected_version && !request.force) {
    problem = "config.apply needs expected_version (the config_version config.plan reported), or force: true";
    return std::nullopt;
  }
  if (arguments_.contains("confirm_timeout_s") && !arguments_.at("confirm_timeout_s").is_null()) {
    const auto& timeout = arguments_.at("confirm_timeout_s");
    if (!timeout.is_number_unsigned() || timeout.get<std::uint64_t>() < k_min_confirm_timeout_s ||
        timeout.get<std::uint64_t>() > k_max_confirm_timeout_s) {
      problem = "config.apply: confirm_timeout_s must be " + std::to_string(k_min_confirm_timeout_s) + " to " +
                std::to_string(k_max_confirm_timeout_s) + " seconds";
      return std::nullopt;
    }
    request.confirm_timeout_s = timeout.get<std::uint64_t>();
  }
  return request;
}

NativeOutcome ConfigOperations::plan_or_apply(bool apply) {
  std::string problem;
  auto request = read_request(problem);
  if (!request) return invalid(id_, problem);
  auto parsed = sec::parse_meter_profile(request->document, request->source);
  if (!parsed) return invalid(id_, parsed.error());
  const auto problems = check_profile_for_meter(*parsed, meter_, service_.config_runtime());
  if (!problems.empty()) return invalid(id_, problems_text(problems));
  auto passwords = read_sent_passwords(arguments_, parsed->security.users, operation_);
  if (!passwords) return invalid(id_, passwords.error());
  // New passwords meet the rules of the configuration they will live in.
  auto rules = meter_.security();
  if (parsed->security.mode) rules.mode = *parsed->security.mode;
  if (parsed->security.complexity) rules.policy.complexity = *parsed->security.complexity;
  if (parsed->security.min_length) rules.policy.min_length = *parsed->security.min_length;
  auto params = meter_.security().hashing.params;
  if (parsed->security.hash_log2_n) params.log2_n = *parsed->security.hash_log2_n;
  if (parsed->security.hash_r) params.r = *parsed->security.hash_r;
  if (parsed->security.hash_p) params.p = *parsed->security.hash_p;
  auto self = std::make_shared<ConfigOperations>(*this);
  auto profile = std::make_shared<sec::MeterProfile>(std::move(*parsed));
  auto kept = std::make_shared<Request>(std::move(*request));
  return resolve_passwords(meter_, id_, std::move(*passwords), rules, params,
                           [self, profile, kept, apply](const ResolvedPasswords& resolved) {
                             return self->finish(*kept, *profile, resolved, apply);
                           });
}

NativeOutcome ConfigOperations::finish(const Request& request, const sec::MeterProfile& profile,
                                       const ResolvedPasswords& passwords, bool apply) {
  auto& runtime = service_.config_runtime();
  auto target = target_configuration(profile, meter_, passwords);
  if (!target) return invalid(id_, target.error());
  const auto current = meter_.configuration();
  const auto listening = runtime.listening();
  const auto changes = sec::diff_profiles(configuration_profile(meter_, current, listening, PasswordHashes::included),
                                          configuration_profile(meter_, *target, wanted_ports(*target, runtime),
                                                                PasswordHashes::included));
  const auto version = meter_.config_version();
  if (!apply) {
    meter_.record_security_event(SecurityEventType::configuration_access, caller_.source, "config.plan of " + request.source);
    return response_reply(id_, {{"config_version", version}, {"changed", !changes.empty()}, {"changes", changes_json(changes)}});
  }
  // Checked once the passwords are settled: another change may have landed meanwhile.
  if (!request.force && request.expected_version != version) {
    return error_reply(id_, ErrorCode::conflict,
                       "the configuration is at version " + std::to_string(version) + "; this apply expected " +
                           std::to_string(*request.expected_version) +
                           ": it changed since the plan. Plan again, or use --force");
  }
  if (changes.empty()) {
    log::info("config.unchanged", {{"serial", meter_.state().serial_number}, {"source", request.source}});
    return response_reply(id_, {{"changed", false}, {"config_version", version}, {"changes", json::array()}});
  }
  std::optional<PendingConfirm> pending;
  if (request.confirm_timeout_s) {
    // An apply on top of an unconfirmed one keeps the last confirmed configuration as the
    // one to go back to.
    pending = meter_.pending_confirm().value_or(PendingConfirm{0, version, current});
    pending->deadline = wall_seconds() + static_cast<std::int64_t>(*request.confirm_timeout_s);
  } else if (meter_.pending_confirm()) {
    // Without a timeout of its own, an apply leaves a pending confirm (and its deadline) as it was.
    pending = meter_.pending_confirm();
  }
  if (auto switched = switch_configuration(service_, std::move(*target), pending); !switched) {
    return error_reply(id_, switched.error().first, switched.error().second);
  }
  if (pending) service_.config_runtime().arm_confirm_timer(pending->deadline);
  const auto detail = "config.apply of " + request.source + ": version " + std::to_string(version) + " -> " +
                      std::to_string(meter_.config_version()) + ", " + std::to_string(changes.size()) + " changes" +
                      (pending ? ", to be confirmed by " + std::to_string(pending->deadline) : std::string());
  const bool security_changed = current.security != meter_.configuration().security;
  meter_.record_security_event(
      security_changed ? SecurityEventType::security_configuration_change : SecurityEventType::configuration_change,
      caller_.source, detail);
  log::info("config.applied", {{"serial", meter_.state().serial_number},
                               {"source", request.source},
                               {"user", caller_.user},
                               {"from_version", std::to_string(version)},
                               {"version", std::to_string(meter_.config_version())},
                               {"changes", std::to_string(changes.size())},
                               {"confirm_deadline", pending ? std::to_string(pending->deadline) : std::string("none")}});
  json result = {{"changed", true}, {"config_version", meter_.config_version()}, {"changes", changes_json(changes)}};
  if (pending) result["confirm_deadline"] = pending->deadline;
  return response_reply(id_, std::move(result));
}

// The permission (security-config) was checked by NativeService::execute against its table.
NativeOutcome ConfigOperations::run() {
  if (operation_ == "config.get") {
    meter_.record_security_event(SecurityEventType::configuration_access, caller_.source, "config.get");
    const auto profile = configuration_profile(meter_, meter_.configuration(), service_.config_runtime().listening(),
                                               PasswordHashes::left_out);
    const auto header = "Configuration of " + meter_.state().model + " " + meter_.state().serial_number +
                        " at version " + std::to_string(meter_.config_version()) + ". Passwords are never exported.";
    return response_reply(id_, {{"config_version", meter_.config_version()},
                                {"profile", sec::format_meter_profile(profile, header)},
                                {"pending_confirm", pending_json(meter_)}});
  }
  if (operation_ == "config.plan") return plan_or_apply(false);
  if (operation_ == "config.apply") return plan_or_apply(true);
  if (operation_ == "config.confirm") {
    if (!meter_.pending_confirm()) return invalid(id_, "config.confirm: no configuration is waiting for a confirm");
    if (auto cleared = meter_.clear_pending_confirm(); !cleared) {
      return error_reply(id_, ErrorCode::internal_error, cleared.error());
    }
    service_.config_runtime().cancel_confirm_timer();
    meter_.record_security_event(SecurityEventType::configuration_change, caller_.source,
                                 "configuration version " + std::to_string(meter_.config_version()) + " confirmed");
    log::info("config.confirmed", {{"serial", meter_.state().serial_number},
                                   {"user", caller_.user},
                                   {"version", std::to_string(meter_.config_version())}});
    return response_reply(id_, {{"confirmed", true}, {"config_version", meter_.config_version()}});
  }
  if (operation_ == "config.rollback") {
    if (!meter_.pending_confirm()) return invalid(id_, "config.rollback: no configuration is waiting for a confirm");
    if (auto rolled_back = roll_back(service_, "config.rollback by " + (caller_.user.empty() ? std::string("anonymous") : caller_.user),
                                     caller_.source);
        !rolled_back) {
      return error_reply(id_, rolled_back.error().first, rolled_back.error().second);
    }
    return response_reply(id_, {{"rolled_back", true}, {"config_version", meter_.config_version()}});
  }
  return error_reply(id_, ErrorCode::unknown_operation, "no operation '" + operation_ + "'");
}

}  // namespace

bool is_config_operation(std::string_view operation) {
  return std::find(std::begin(k_operations), std::end(k_operations), operation) != std::end(k_operations);
}

NativeOutcome run_config_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                   const json& arguments, const Caller& caller) {
  return ConfigOperations(service, request_id, operation, arguments, caller).run();
}

void expire_pending_confirm(NativeService& service) {
  auto& meter = service.meter();
  const auto& pending = meter.pending_confirm();
  if (!pending) return;
  if (pending->deadline > wall_seconds()) {
    service.config_runtime().arm_confirm_timer(pending->deadline);
    return;
  }
  if (auto rolled_back = roll_back(service, "not confirmed by its deadline", EventSource{}); !rolled_back) {
    log::error("config.rollback_failed", {{"serial", meter.state().serial_number},
                                          {"reason", rolled_back.error().second},
                                          {"retry_s", std::to_string(k_rollback_retry_s)}});
    service.config_runtime().arm_confirm_timer(wall_seconds() + k_rollback_retry_s);
  }
}

}  // namespace meterd
