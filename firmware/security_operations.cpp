#include "firmware/security_operations.hpp"

#include <map>
#include <memory>

#include "firmware/log.hpp"
#include "firmware/meter_security.hpp"
#include "firmware/native_replies.hpp"
#include "firmware/password_resolution.hpp"
#include "libproto/model/utc_time.hpp"
#include "libsec/security_document.hpp"

namespace meterd {

namespace native = proto::codec::native;
using native::ErrorCode;
using nlohmann::json;
using sec::Permission;
using sec::SecurityEventType;

namespace {

constexpr std::string_view k_operations[] = {
    "security.show",  "security.mode",   "security.policy", "security.lockout", "security.session_timeout",
    "security.options", "security.audit", "security.events", "security.export", "security.apply",
    "users.list",     "users.add",       "users.remove",    "users.passwd",     "users.grant",
    "users.revoke",   "users.unlock",    "users.lockouts",
};

json permissions_json(sec::PermissionSet permissions) {
  json list = json::array();
  for (const auto name : permissions.names()) list.push_back(std::string(name));
  return list;
}

json user_json(const sec::UserAccount& user) {
  return {{"name", user.name}, {"permissions", permissions_json(user.permissions)},
          {"default_credential", user.default_credential}};
}

json lockout_json(const sec::LockoutPolicy& policy) {
  return {{"attempts", policy.attempts}, {"window_s", policy.window.count()}, {"duration_s", policy.duration.count()}};
}

json policy_json(const Meter& meter) {
  const auto& config = meter.security();
  return {{"complexity", std::string(sec::to_string(config.policy.complexity))},
          {"min_length", config.policy.min_length},
          {"max_length", sec::max_password_length(config, meter.security_limits())},
          {"complexity_available", meter.security_limits().complexity_available}};
}

json options_json(const Meter& meter) {
  const auto& options = meter.security().options;
  const auto settings = meter.security_settings();
  const auto& offered = meter.security_limits().services_offered;
  const auto service = [](bool enabled, bool is_offered) {
    // The virtual meter runs none of these servers; it keeps the switches the firmware
    // has and says so rather than pretend.
    return json{{"enabled", enabled}, {"offered", is_offered}, {"emulated", false}};
  };
  return {{"web_server", options.web_server},
          {"web_server_programming", options.web_server_programming},
          {"front_panel_programming", options.front_panel_programming},
          {"modbus_access", std::string(sec::to_string(settings.modbus_access))},
          {"time_sync", settings.time_sync},
          {"revenue_lock", options.revenue_lock},
          {"web_emulated", false},
          {"front_panel_emulated", false},
          {"services",
           {{"ssh", service(options.services.ssh, offered.ssh)},
            {"sftp", service(options.services.sftp, offered.sftp)},
            {"telnet", service(options.services.telnet, offered.telnet)},
            {"ftp", service(options.services.ftp, offered.ftp)}}}};
}

json show_json(const Meter& meter) {
  const auto& config = meter.security();
  json modes = json::array();
  for (const auto mode : meter.security_limits().modes) modes.push_back(std::string(sec::to_string(mode)));
  return {{"mode", std::string(sec::to_string(config.mode))},
          {"modes", modes},
          {"policy", policy_json(meter)},
          {"lockout", {{"native", lockout_json(config.native_lockout)}, {"web", lockout_json(config.web_lockout)}}},
          {"session_timeout_s", config.session_timeout.count()},
          {"options", options_json(meter)},
          {"password_hashing",
           {{"log2_n", config.hashing.params.log2_n},
            {"r", config.hashing.params.r},
            {"p", config.hashing.params.p},
            {"meets_minimum", sec::meets_owasp_minimum(config.hashing.params)},
            {"fleet_allowed", config.hashing.fleet_allowed}}},
          {"users", config.users.size()},
          {"max_users", meter.security_limits().max_users}};
}

NativeReply invalid(std::uint32_t id, std::string message) {
  return error_reply(id, ErrorCode::invalid_argument, std::move(message));
}

// Reads an optional typed argument; a present value of the wrong type is an error.
struct Arguments {
  const json& object;
  std::string operation;

  bool has(const char* key) const { return object.is_object() && object.contains(key); }
  std::optional<std::string> text(const char* key, std::string& problem) const {
    if (!has(key)) return std::nullopt;
    if (!object.at(key).is_string()) {
      problem = operation + ": " + key + " must be text";
      return std::nullopt;
    }
    return object.at(key).get<std::string>();
  }
  std::optional<std::uint64_t> number(const char* key, std::uint64_t max, std::string& problem) const {
    if (!has(key)) return std::nullopt;
    if (!object.at(key).is_number_unsigned() || object.at(key).get<std::uint64_t>() > max) {
      problem = operation + ": " + key + " must be a whole number from 0 to " + std::to_string(max);
      return std::nullopt;
    }
    return object.at(key).get<std::uint64_t>();
  }
  std::optional<bool> flag(const char* key, std::string& problem) const {
    if (!has(key)) return std::nullopt;
    if (!object.at(key).is_boolean()) {
      problem = operation + ": " + key + " must be true or false";
      return std::nullopt;
    }
    return object.at(key).get<bool>();
  }
  std::optional<sec::PermissionSet> permissions(std::string& problem) const {
    if (!has("permissions") || !object.at("permissions").is_array()) {
      problem = operation + ": permissions must be a list such as [\"read\", \"time-sync\"]";
      return std::nullopt;
    }
    sec::PermissionSet set;
    for (const auto& item : object.at("permissions")) {
      const auto text = item.is_string() ? item.get<std::string>() : std::string();
      if (text == "all") {
        set = sec::PermissionSet::all();
        continue;
      }
      const auto permission = sec::parse_permission(text);
      if (!permission) {
        problem = operation + ": unknown permission " + item.dump() +
                  "; known: read, time-sync, peak-demand-reset, comm-config, test-mode, full-meter-config, "
                  "security-config, all";
        return std::nullopt;
      }
      set.add(*permission);
    }
    return set;
  }
};

class Operations {
 public:
  Operations(NativeService& service, std::uint32_t id, const std::string& operation, const json& arguments,
             const Caller& caller)
      : service_(service),
        meter_(service.meter()),
        id_(id),
        operation_(operation),
        arguments_{arguments, operation},
        caller_(caller) {}

  NativeOutcome run();

 private:
  // Saves a changed configuration, logs it and answers with `result`.
  NativeOutcome commit(proto::Result<sec::SecurityConfig, std::string> next, SecurityEventType event,
                       const std::string& detail, json result,
                       std::optional<sec::MeterSecuritySettings> settings = std::nullopt) {
    if (!next) return invalid(id_, next.error());
    if (auto saved = meter_.replace_security(std::move(*next), settings); !saved) return invalid(id_, saved.error());
    service_.sessions().set_idle_timeout(meter_.security().session_timeout);
    meter_.record_security_event(event, caller_.source, detail);
    log::info("security.changed", {{"serial", meter_.state().serial_number},
                                   {"operation", operation_},
                                   {"user", caller_.user}});
    return response_reply(id_, std::move(result));
  }

  std::optional<std::string> name_argument(std::string& problem) const {
    auto name = arguments_.text("name", problem);
    if (!name && problem.empty()) problem = operation_ + " needs name";
    return name;
  }

  // A new password: the rules of the mode it will be used in, then deferred hashing.
  NativeOutcome with_new_hash(const std::string& password,
                              std::function<NativeOutcome(const std::string& hash)> use_hash) {
    if (auto checked = sec::check_new_password(meter_.security(), meter_.security_limits(), password); !checked) {
      return invalid(id_, checked.error().message);
    }
    struct Job {
      std::string password;
      sec::ScryptParams params;
      std::optional<std::string> hash;
    };
    auto job = std::make_shared<Job>(Job{password, meter_.security().hashing.params, std::nullopt});
    DeferredReply deferred;
    deferred.work = [job] {
      if (auto hash = sec::hash_password(job->password, job->params)) job->hash = std::move(*hash);
    };
    deferred.finish = [job, id = id_, use_hash = std::move(use_hash)](NativeConnection&) -> NativeOutcome {
      if (!job->hash) return error_reply(id, ErrorCode::internal_error, "password hashing failed; nothing changed");
      return use_hash(*job->hash);
    };
    return deferred;
  }

  NativeOutcome users_add();
  NativeOutcome users_passwd();
  NativeOutcome security_apply();
  NativeOutcome security_options();
  NativeOutcome security_lockout();

  NativeService& service_;
  Meter& meter_;
  std::uint32_t id_;
  std::string operation_;
  Arguments arguments_;
  Caller caller_;
};

NativeOutcome Operations::users_add() {
  std::string problem;
  const auto name = name_argument(problem);
  const auto password = arguments_.text("password", problem);
  const auto permissions = arguments_.permissions(problem);
  if (!problem.empty()) return invalid(id_, problem);
  if (!password) return invalid(id_, "users.add needs password");
  if (sec::is_single_password_mode(meter_.security().mode)) {
    return invalid(id_, std::string(sec::to_string(meter_.security().mode)) +
                            " security has only User1; switch to advanced security to add users");
  }
  if (auto valid = sec::check_user_name(*name); !valid) return invalid(id_, valid.error());
  if (meter_.security().find_user(*name)) return invalid(id_, "user '" + *name + "' exists already");
  auto self = std::make_shared<Operations>(*this);
  return with_new_hash(*password, [self, name = *name, permissions = *permissions,
                                   factory = *password == sec::k_factory_password](const std::string& hash) {
    auto& meter = self->meter_;
    auto next = sec::add_user(meter.security(), sec::UserAccount{name, hash, permissions, factory},
                              meter.security_limits());
    return self->commit(std::move(next), SecurityEventType::user_created,
                        name + " with " + json(permissions_json(permissions)).dump(),
                        {{"user", next ? user_json(*next->find_user(name)) : json()}});
  });
}

NativeOutcome Operations::users_passwd() {
  std::string problem;
  const auto name = name_argument(problem);
  const auto password = arguments_.text("password", problem);
  if (!problem.empty()) return invalid(id_, problem);
  if (!password) return invalid(id_, "users.passwd needs password");
  const bool own = *name == caller_.user;
  if (!own && !caller_.permissions.has(Permission::security_config)) {
    return error_reply(id_, ErrorCode::permission_denied,
                       "changing another user's password needs the security-config permission");
  }
  if (own && !caller_.over_session) {
    return error_reply(id_, ErrorCode::password_needs_session, "log in (a session) to change your own password");
  }
  if (!meter_.security().find_user(*name)) return invalid(id_, "no user '" + *name + "'");
  auto self = std::make_shared<Operations>(*this);
  return with_new_hash(*password, [self, name = *name,
                                   factory = *password == sec::k_factory_password](const std::string& hash) {
    auto& meter = self->meter_;
    auto next = sec::set_password_hash(meter.security(), name, hash, factory, meter.security_limits());
    return self->commit(std::move(next), SecurityEventType::password_changed, "password of " + name, json::object());
  });
}

NativeOutcome Operations::security_lockout() {
  std::string problem;
  const auto protocol_text = arguments_.text("protocol", problem).value_or("native");
  const auto attempts = arguments_.number("attempts", sec::k_max_lockout_attempts, problem);
  const auto window = arguments_.number("window_s", static_cast<std::uint64_t>(sec::k_max_lockout_seconds.count()), problem);
  const auto duration =
      arguments_.number("duration_s", static_cast<std::uint64_t>(sec::k_max_lockout_seconds.count()), problem);
  if (!problem.empty()) return invalid(id_, problem);
  if (protocol_text != "native" && protocol_text != "web") {
    return invalid(id_, "security.lockout: protocol is native or web");
  }
  const auto protocol = protocol_text == "web" ? sec::LoginProtocol::web : sec::LoginProtocol::native;
  auto next = meter_.security();
  auto& policy = next.lockout(protocol);
  if (attempts) policy.attempts = static_cast<std::uint32_t>(*attempts);
  if (window) policy.window = std::chrono::seconds(*window);
  if (duration) policy.duration = std::chrono::seconds(*duration);
  const auto detail = "lockout." + protocol_text + " " + lockout_json(policy).dump();
  if (next == meter_.security()) {
    return response_reply(id_, {{"lockout", {{"native", lockout_json(next.native_lockout)}, {"web", lockout_json(next.web_lockout)}}}});
  }
  auto valid = sec::validate(next, meter_.security_limits());
  json result = {{"lockout", {{"native", lockout_json(next.native_lockout)}, {"web", lockout_json(next.web_lockout)}}}};
  if (!valid) return invalid(id_, valid.error());
  return commit(std::move(next), SecurityEventType::security_configuration_change, detail, result);
}

NativeOutcome Operations::security_options() {
  std::string problem;
  auto next = meter_.security();
  auto settings = meter_.security_settings();
  struct Flag {
    const char* key;
    bool* target;
  };
  for (const auto& [key, target] : {Flag{"web_server", &next.options.web_server},
                                    Flag{"web_server_programming", &next.options.web_server_programming},
                                    Flag{"front_panel_programming", &next.options.front_panel_programming},
                                    Flag{"revenue_lock", &next.options.revenue_lock},
                                    Flag{"time_sync", &settings.time_sync}}) {
    if (const auto value = arguments_.flag(key, problem)) *target = *value;
  }
  if (const auto access = arguments_.text("modbus_access", problem)) {
    const auto parsed = sec::parse_modbus_access(*access);
    if (!parsed) return invalid(id_, "security.options: modbus_access is none, read-only or read-write");
    settings.modbus_access = *parsed;
  }
  if (arguments_.has("services")) {
    const Arguments services{arguments_.object.at("services"), "security.options services"};
    if (!services.object.is_object()) return invalid(id_, "security.options: services must be a map");
    for (const auto& [key, target] : {Flag{"ssh", &next.options.services.ssh}, Flag{"sftp", &next.options.services.sftp},
                                      Flag{"telnet", &next.options.services.telnet},
                                      Flag{"ftp", &next.options.services.ftp}}) {
      if (const auto value = services.flag(key, problem)) *target = *value;
    }
  }
  if (!problem.empty()) return invalid(id_, problem);
  auto changes = sec::describe_changes(meter_.security(), next);
  const auto before = meter_.security_settings();
  if (settings.modbus_access != before.modbus_access) {
    changes.push_back("options.modbus_access: " + std::string(sec::to_string(before.modbus_access)) + " -> " +
                      std::string(sec::to_string(settings.modbus_access)));
  }
  if (settings.time_sync != before.time_sync) changes.push_back(settings.time_sync ? "time_sync on" : "time_sync off");
  if (changes.empty()) return response_reply(id_, {{"options", options_json(meter_)}});
  std::string detail;
  for (const auto& change : changes) detail += (detail.empty() ? "" : "; ") + change;
  auto outcome = commit(std::move(next), SecurityEventType::security_configuration_change, detail, json::object(),
                        settings);
  if (auto* reply = std::get_if<NativeReply>(&outcome); reply && reply->type == native::MessageType::response) {
    return response_reply(id_, {{"options", options_json(meter_)}});
  }
  return outcome;
}

NativeOutcome Operations::security_apply() {
  std::string problem;
  const auto text = arguments_.text("document", problem);
  const auto source = arguments_.text("source", problem).value_or("security configuration");
  if (!problem.empty()) return invalid(id_, problem);
  if (!text) return invalid(id_, "security.apply needs document: the YAML text");
  auto document = sec::parse_security_document(*text, source);
  if (!document) return invalid(id_, document.error());
  auto passwords = read_sent_passwords(arguments_.object, document->users, "security.apply");
  if (!passwords) return invalid(id_, passwords.error());
  // The rules a new password meets are those of the configuration it will live in.
  auto target = meter_.security();
  if (document->mode) target.mode = *document->mode;
  if (document->complexity) target.policy.complexity = *document->complexity;
  if (document->min_length) target.policy.min_length = *document->min_length;
  auto params = meter_.security().hashing.params;
  if (document->hash_log2_n) params.log2_n = *document->hash_log2_n;
  if (document->hash_r) params.r = *document->hash_r;
  if (document->hash_p) params.p = *document->hash_p;
  auto self = std::make_shared<Operations>(*this);
  auto parsed = std::make_shared<sec::SecurityDocument>(std::move(*document));
  return resolve_passwords(
      meter_, id_, std::move(*passwords), target, params,
      [self, parsed, source](const ResolvedPasswords& resolved) -> NativeOutcome {
        auto& meter = self->meter_;
        auto applied =
            sec::apply_security_document(meter.security(), meter.security_settings(), *parsed, resolved, meter.security_limits());
        if (!applied) return invalid(self->id_, applied.error());
        json changes = json::array();
        for (const auto& change : applied->changes) changes.push_back(change);
        if (applied->changes.empty()) {
          meter.record_security_event(SecurityEventType::security_configuration_change, self->caller_.source,
                                      "apply of " + source + ": no changes");
          return response_reply(self->id_, {{"changed", false}, {"changes", changes}});
        }
        std::string detail = "apply of " + source + ": " + std::to_string(applied->changes.size()) + " changes";
        const bool mode_changed = applied->config.mode != meter.security().mode;
        return self->commit(std::move(applied->config),
                            mode_changed ? SecurityEventType::mode_change : SecurityEventType::security_configuration_change,
                            detail, {{"changed", true}, {"changes", changes}}, applied->settings);
      });
}

NativeOutcome Operations::run() {
  const bool security_config = caller_.permissions.has(Permission::security_config);
  if (operation_ != "users.passwd" && !security_config) {
    return error_reply(id_, ErrorCode::permission_denied,
                       (caller_.user.empty() ? std::string("an anonymous caller") : "user " + caller_.user) +
                           " lacks the security-config permission that " + operation_ + " needs");
  }
  if (operation_ == "users.passwd" && caller_.user.empty()) {
    return error_reply(id_, ErrorCode::authentication_required, "log in to change a password");
  }
  const auto& config = meter_.security();
  const auto& limits = meter_.security_limits();
  std::string problem;

  if (operation_ == "security.show") {
    meter_.record_security_event(SecurityEventType::configuration_access, caller_.source, "security.show");
    return response_reply(id_, show_json(meter_));
  }
  if (operation_ == "security.mode") {
    const auto text = arguments_.text("mode", problem);
    if (!text) return invalid(id_, problem.empty() ? "security.mode needs mode: legacy, standard or advanced" : problem);
    const auto mode = sec::parse_security_mode(*text);
    if (!mode) return invalid(id_, "mode '" + *text + "' is not legacy, standard or advanced");
    if (*mode == config.mode) return response_reply(id_, {{"mode", *text}, {"changed", false}});
    return commit(sec::switch_mode(config, *mode, limits), SecurityEventType::mode_change,
                  std::string(sec::to_string(config.mode)) + " -> " + *text, {{"mode", *text}, {"changed", true}});
  }
  if (operation_ == "security.policy") {
    auto next = config;
    if (const auto text = arguments_.text("complexity", problem)) {
      const auto complexity = sec::parse_complexity(*text);
      if (!complexity) return invalid(id_, "complexity is none, nerc-cip-007-5 or ieee-1686-2013");
      next.policy.complexity = *complexity;
    }
    if (const auto length = arguments_.number("min_length", 1024, problem)) next.policy.min_length = *length;
    if (!problem.empty()) return invalid(id_, problem);
    if (next == config) return response_reply(id_, {{"policy", policy_json(meter_)}});
    auto valid = sec::validate(next, limits);
    if (!valid) return invalid(id_, valid.error());
    auto outcome = commit(std::move(next), SecurityEventType::security_configuration_change, "password policy",
                          json::object());
    if (std::holds_alternative<NativeReply>(outcome) &&
        std::get<NativeReply>(outcome).type == native::MessageType::response) {
      return response_reply(id_, {{"policy", policy_json(meter_)}});
    }
    return outcome;
  }
  if (operation_ == "security.lockout") return security_lockout();
  if (operation_ == "security.session_timeout") {
    const auto seconds = arguments_.number("seconds", 1ULL << 32, problem);
    if (!seconds) return invalid(id_, problem.empty() ? "security.session_timeout needs seconds" : problem);
    auto next = config;
    next.session_timeout = std::chrono::seconds(*seconds);
    if (next == config) return response_reply(id_, {{"session_timeout_s", *seconds}});
    return commit(sec::validate(next, limits) ? proto::Result<sec::SecurityConfig, std::string>(next)
                                              : proto::unexpected(sec::validate(next, limits).error()),
                  SecurityEventType::security_configuration_change, "session timeout " + std::to_string(*seconds) + " s",
                  {{"session_timeout_s", *seconds}});
  }
  if (operation_ == "security.options") return security_options();
  if (operation_ == "security.audit") {
    const AuditFacts facts{service_.plain_port_open(), meter_.security_settings().modbus_access,
                           limits.complexity_available};
    const auto findings = audit_security(config, facts);
    meter_.record_security_event(SecurityEventType::configuration_access, caller_.source, "security.audit");
    return response_reply(id_, {{"passed", audit_passed(findings)}, {"findings", to_json(findings)}});
  }
  if (operation_ == "security.events") {
    const auto after = arguments_.number("after", UINT64_MAX, problem).value_or(0);
    const auto limit = arguments_.number("limit", 100000, problem).value_or(1000);
    if (!problem.empty()) return invalid(id_, problem);
    // IEEE 1686: reading the audit trail is itself an event.
    meter_.record_security_event(SecurityEventType::audit_log_access, caller_.source, "security.events");
    json records = json::array();
    for (const auto& record : meter_.security_events().records(after, limit)) records.push_back(security_event_json(record));
    return response_reply(id_, {{"records", records}, {"last_number", meter_.security_events().last_number()}});
  }
  if (operation_ == "security.export") {
    meter_.record_security_event(SecurityEventType::configuration_access, caller_.source, "security.export");
    const auto meter_name = meter_.state().model + " " + meter_.state().serial_number;
    return response_reply(id_, {{"document", sec::format_security_document(config, meter_.security_settings(), meter_name)}});
  }
  if (operation_ == "security.apply") return security_apply();

  if (operation_ == "users.list") {
    json users = json::array();
    for (const auto& user : config.users) users.push_back(user_json(user));
    return response_reply(id_, {{"users", users}, {"max_users", limits.max_users},
                                {"mode", std::string(sec::to_string(config.mode))}});
  }
  if (operation_ == "users.add") return users_add();
  if (operation_ == "users.passwd") return users_passwd();
  if (operation_ == "users.remove") {
    const auto name = name_argument(problem);
    if (!name) return invalid(id_, problem);
    return commit(sec::remove_user(config, *name, limits), SecurityEventType::user_deleted, *name, json::object());
  }
  if (operation_ == "users.grant" || operation_ == "users.revoke") {
    const auto name = name_argument(problem);
    const auto permissions = arguments_.permissions(problem);
    if (!problem.empty()) return invalid(id_, problem);
    const auto* user = config.find_user(*name);
    if (!user) return invalid(id_, "no user '" + *name + "'");
    const auto wanted = operation_ == "users.grant" ? user->permissions.with(*permissions)
                                                    : user->permissions.without(*permissions);
    if (wanted == user->permissions) return response_reply(id_, {{"user", user_json(*user)}});
    auto next = sec::set_permissions(config, *name, wanted, limits);
    const json result = {{"user", next ? user_json(*next->find_user(*name)) : json()}};
    return commit(std::move(next), SecurityEventType::user_changed,
                  *name + " permissions " + json(permissions_json(wanted)).dump(), result);
  }
  if (operation_ == "users.unlock") {
    const auto name = name_argument(problem);
    if (!name) return invalid(id_, problem);
    const auto unlocked = service_.lockouts().unlock(*name);
    meter_.record_security_event(SecurityEventType::unlock, caller_.source,
                                 *name + " (" + std::to_string(unlocked) + " lockouts cleared)");
    return response_reply(id_, {{"unlocked", unlocked}});
  }
  if (operation_ == "users.lockouts") {
    json list = json::array();
    const auto entries = service_.lockouts().entries(
        [&](sec::LoginProtocol protocol) { return meter_.security().lockout(protocol); });
    for (const auto& entry : entries) {
      list.push_back({{"user", entry.key.user},
                      {"protocol", std::string(sec::to_string(entry.key.protocol))},
                      {"connection", std::string(sec::to_string(entry.key.connection))},
                      {"failures", entry.failures},
                      {"locked", entry.status.locked},
                      {"until_unlocked", entry.status.until_unlocked},
                      {"remaining_s", entry.status.remaining.count()}});
    }
    return response_reply(id_, {{"lockouts", list}});
  }
  return error_reply(id_, ErrorCode::unknown_operation, "no operation '" + operation_ + "'");
}

}  // namespace

bool is_security_operation(std::string_view operation) {
  return std::find(std::begin(k_operations), std::end(k_operations), operation) != std::end(k_operations);
}

json security_event_json(const sec::SecurityEventRecord& record) {
  return {{"number", record.number},
          {"time", record.time},
          {"utc", proto::model::iso_utc(record.time)},
          {"user", record.user},
          {"protocol", record.protocol},
          {"connection", record.connection},
          {"type", std::string(sec::to_string(record.type))},
          {"priority", record.priority},
          {"severity", std::string(sec::to_string(sec::severity_of(record.priority)))},
          {"detail", record.detail}};
}

NativeOutcome run_security_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                     const json& arguments, const Caller& caller) {
  return Operations(service, request_id, operation, arguments, caller).run();
}

}  // namespace meterd
