#include "firmware/native_service.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cmath>
#include <ctime>
#include <memory>
#include <optional>

#include "firmware/backup_operations.hpp"
#include "firmware/config_operations.hpp"
#include "firmware/log.hpp"
#include "firmware/native_replies.hpp"
#include "firmware/security_operations.hpp"
#include "firmware/upgrade_operations.hpp"
#include "libproto/model/utc_time.hpp"
#include "libsec/legacy_auth.hpp"
#include "libsec/password_hash.hpp"

namespace meterd {

namespace native = proto::codec::native;
using native::ErrorCode;
using native::MessageType;
using nlohmann::json;
using proto::model::ConfigSetting;
using sec::Permission;

namespace {

NativeReply reply(MessageType type, std::uint32_t request_id, const native::Decoded& message) {
  return {type, request_id, native::to_body(message), false};
}

ErrorCode session_error_code(sec::SessionError error) {
  return error == sec::SessionError::wrong_connection ? ErrorCode::session_wrong_connection : ErrorCode::session_expired;
}

// Operations an anonymous caller may use in Legacy security support or Standard mode:
// the old Standard mode's anonymous read (seed 003: "Anonymous access can read from the
// meter"), which covers the meter's values and its clock. Advanced security needs a
// user name and password to read (seed 003).
bool anonymous_allowed(const std::string& operation) {
  return operation == "identity" || operation == "read" || operation == "time.get" || operation == "settings.get" ||
         operation == "comm.get";
}

struct BuiltinOperation {
  std::string_view name;
  Permission permission;
};

// Seed 004, "Managing user accounts": what each permission allows.
constexpr BuiltinOperation k_builtin_operations[] = {
    {"identity", Permission::read},
    {"read", Permission::read},
    {"time.get", Permission::read},
    {"settings.get", Permission::read},
    {"comm.get", Permission::read},
    {"time.set", Permission::time_sync},
    {"demand.reset", Permission::peak_demand_reset},
    {"test_mode.set", Permission::test_mode},
    {"settings.set", Permission::full_meter_config},
    {"comm.set", Permission::comm_config},
    // A profile covers security, and plan verifies passwords: none of it is for readers.
    {"config.get", Permission::security_config},
    {"config.plan", Permission::security_config},
    {"config.apply", Permission::security_config},
    {"config.confirm", Permission::security_config},
    {"config.rollback", Permission::security_config},
    // A backup holds password hashes, and a restore replaces the security configuration.
    {"backup.get", Permission::security_config},
    {"backup.restore", Permission::security_config},
    // Firmware replaces the code that enforces security.
    {"upgrade.status", Permission::security_config},
    {"upgrade.begin", Permission::security_config},
    {"upgrade.chunk", Permission::security_config},
    {"upgrade.finish", Permission::security_config},
    {"upgrade.activate", Permission::security_config},
    {"upgrade.abort", Permission::security_config},
};

const BuiltinOperation* find_builtin(std::string_view name) {
  for (const auto& operation : k_builtin_operations) {
    if (operation.name == name) return &operation;
  }
  return nullptr;
}

std::string known_operations() {
  std::string text;
  for (const auto& operation : k_builtin_operations) text += (text.empty() ? "" : ", ") + std::string(operation.name);
  return text + ", security.*, users.*";
}

// A service without a daemon around it: nothing listens and nothing may change that.
class InertRuntime final : public ConfigRuntime {
 public:
  ListenerPorts listening() const override { return {}; }
  std::uint16_t fallback_port(Listener) const override { return 0; }
  bool kept_closed(Listener) const override { return true; }
  std::vector<std::uint16_t> ports_of_other_meters() const override { return {}; }
  proto::Result<proto::Ok, std::string> prepare(const ListenerPorts& wanted) override {
    if (wanted != ListenerPorts{}) return proto::unexpected(std::string("this meter has no listeners to open"));
    return proto::Ok{};
  }
  void commit() override {}
  void abandon() override {}
  void arm_confirm_timer(std::int64_t) override {}
  void cancel_confirm_timer() override {}
};

// Keyed digest of legacy credentials with the stored hash they matched: a per-process
// random key, so the digest is useless outside this process.
std::array<unsigned char, 32> credentials_digest(std::string_view user, std::string_view password,
                                                 std::string_view stored_hash) {
  static const auto key = [] {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) bytes.fill(0);
    return bytes;
  }();
  std::array<unsigned char, 32> digest{};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const unsigned char separator = 0;
  unsigned int length = 0;
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), key.data(), key.size()) != 1 ||
      EVP_DigestUpdate(context.get(), user.data(), user.size()) != 1 ||
      EVP_DigestUpdate(context.get(), &separator, 1) != 1 ||
      EVP_DigestUpdate(context.get(), password.data(), password.size()) != 1 ||
      EVP_DigestUpdate(context.get(), &separator, 1) != 1 ||
      EVP_DigestUpdate(context.get(), stored_hash.data(), stored_hash.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest.data(), &length) != 1) {
    // A digest that matches nothing: the next request verifies again.
    RAND_bytes(digest.data(), static_cast<int>(digest.size()));
  }
  return digest;
}

// The stored hash to check a password against: the user's, or for a name that is no
// user one that costs the same and matches nothing, so timing does not reveal names.
std::string hash_to_check(const sec::SecurityConfig& config, std::string_view user) {
  if (const auto* account = config.find_user(user)) return account->password_hash;
  return sec::unknown_user_hash(config.hashing.params);
}

std::string locked_message(const std::string& user, const sec::LockoutKey& key, const sec::LockStatus& status) {
  const std::string where = std::string(sec::to_string(key.protocol)) + " over " + std::string(sec::to_string(key.connection));
  if (status.until_unlocked) {
    return "user " + user + " is locked out of " + where +
           " until a Security Config user unlocks it (meterctl users unlock); other connection types still work";
  }
  return "user " + user + " is locked out of " + where + " for " + std::to_string(status.remaining.count()) +
         " more seconds; other connection types still work";
}

}  // namespace

EventSource event_source(const NativeConnection& connection, std::string user) {
  return {std::move(user), "native", std::string(sec::to_string(connection.type))};
}

NativeService::NativeService(Meter& meter, sec::SessionStore& sessions, const sec::Clock& clock, bool plain_port_open)
    : meter_(meter), sessions_(sessions), lockouts_(clock), failed_logins_(clock), plain_port_open_(plain_port_open) {
  sessions_.set_idle_timeout(meter_.security().session_timeout);
}

bool NativeService::plain_port_open() const {
  return config_runtime_ ? config_runtime_->listening().native.has_value() : plain_port_open_;
}

ConfigRuntime& NativeService::config_runtime() {
  static InertRuntime inert;
  return config_runtime_ ? *config_runtime_ : inert;
}

NativeReply NativeService::frame_error(native::FrameError error) {
  switch (error) {
    case native::FrameError::unsupported_version:
      return error_reply(0, ErrorCode::unsupported_version,
                         "this meter speaks native protocol version 1 only", true);
    case native::FrameError::unknown_message_type:
      return error_reply(0, ErrorCode::unknown_message_type, "unknown message type", true);
    case native::FrameError::body_too_large:
      return error_reply(0, ErrorCode::body_too_large, "frame body larger than 262144 bytes", true);
    default:
      return error_reply(0, ErrorCode::malformed_frame,
                         "not a native protocol frame; is this the right port?", true);
  }
}

NativeReply NativeService::busy(std::uint32_t request_id) {
  return error_reply(request_id, ErrorCode::busy, "the meter is checking other passwords; try again in a moment");
}

void NativeService::connection_closed(const NativeConnection& connection) { sessions_.close_connection(connection.id); }

NativeOutcome NativeService::handle(NativeConnection& connection, const native::FrameHeader& header,
                                    proto::codec::ByteView body_bytes) {
  const auto id = header.request_id;
  auto body = native::decode_body(body_bytes);
  if (!body) return error_reply(id, ErrorCode::malformed_body, body.error().describe(), true);
  auto message = native::decode_message(header.type, *body);
  if (!message) return error_reply(id, ErrorCode::malformed_body, message.error().describe());

  if (!connection.greeted) {
    const auto* hello = std::get_if<native::Hello>(&*message);
    if (!hello) return error_reply(id, ErrorCode::unexpected_message, "send hello first", true);
    bool speaks_ours = false;
    for (const auto version : hello->versions) speaks_ours = speaks_ours || version == native::k_protocol_version;
    if (!speaks_ours) {
      return error_reply(id, ErrorCode::unsupported_version, "this meter speaks native protocol version 1 only",
                         true);
    }
    connection.greeted = true;
    return reply(MessageType::hello_ok, id,
                 native::HelloOk{std::string("meterd ") + METERCTL_VERSION, native::k_protocol_version,
                                 meter_.state().serial_number});
  }

  if (const auto* login_message = std::get_if<native::Login>(&*message)) return login(connection, id, *login_message);
  if (const auto* logout = std::get_if<native::Logout>(&*message)) {
    auto info = sessions_.authenticate(logout->token, connection.id);
    if (auto closed = sessions_.close(logout->token, connection.id); !closed) {
      return error_reply(id, session_error_code(closed.error()), std::string(sec::to_string(closed.error())));
    }
    if (info) meter_.record_security_event(sec::SecurityEventType::logout, event_source(connection, info->user), "");
    return reply(MessageType::logout_ok, id, native::LogoutOk{});
  }
  if (const auto* request = std::get_if<native::OperationRequest>(&*message)) return operation(connection, id, *request);
  if (std::holds_alternative<native::StreamOpen>(*message)) {
    return error_reply(id, ErrorCode::unknown_operation, "this meter offers no streams yet");
  }
  return error_reply(id, ErrorCode::unexpected_message,
                     "a client does not send " + std::string(native::to_string(header.type)));
}

void NativeService::record_login_attempt(const sec::LockoutKey& key, std::string_view password, bool accepted,
                                         const EventSource& source) {
  if (accepted) {
    lockouts_.record_success(key);
    return;
  }
  const auto& policy = meter_.security().lockout(key.protocol);
  const auto failure = lockouts_.record_failure(key, policy);
  // Seed 004 counts lockouts per user, protocol and connection type; the log keeps one
  // event for a burst of identical wrong credentials.
  if (failed_logins_.should_log(key, password)) {
    meter_.record_security_event(sec::SecurityEventType::login_failed, source,
                                 std::to_string(failure.failures_in_window) + " failed in the window");
  }
  if (failure.locked_now) {
    meter_.record_security_event(sec::SecurityEventType::lockout, source,
                                 "after " + std::to_string(failure.failures_in_window) + " failed logins");
    log::warning("native.lockout", {{"serial", meter_.state().serial_number},
                                    {"user", key.user},
                                    {"connection", std::string(sec::to_string(key.connection))}});
  }
}

Caller NativeService::caller_for(const std::string& user, const NativeConnection& connection, bool over_session) const {
  Caller caller;
  caller.user = user;
  caller.over_session = over_session;
  caller.source = event_source(connection, user);
  if (const auto* account = meter_.security().find_user(user)) {
    caller.permissions = account->permissions;
    // A session learnt this at login (LoginOk); a per-request password hears it each time.
    caller.default_credential = !over_session && account->default_credential;
  }
  return caller;
}

NativeOutcome NativeService::login(NativeConnection& connection, std::uint32_t id, const native::Login& login) {
  sec::LockoutKey key{login.user, sec::LoginProtocol::native, connection.type};
  const auto& policy = meter_.security().lockout(sec::LoginProtocol::native);
  if (const auto status = lockouts_.status(key, policy); status.locked) {
    return error_reply(id, ErrorCode::locked_out, locked_message(login.user, key, status));
  }
  struct Check {
    std::string stored;
    std::string password;
    sec::ScryptParams wanted;
    bool accepted = false;
    std::optional<std::string> rehashed;
  };
  auto check = std::make_shared<Check>();
  check->stored = hash_to_check(meter_.security(), login.user);
  check->password = login.password;
  check->wanted = meter_.security().hashing.params;
  DeferredReply deferred;
  deferred.work = [check] {
    check->accepted = sec::verify_password(check->password, check->stored);
    if (check->accepted && sec::needs_rehash(check->stored, check->wanted)) {
      if (auto hash = sec::hash_password(check->password, check->wanted)) check->rehashed = std::move(*hash);
    }
  };
  deferred.finish = [this, id, key, check](NativeConnection& connection) -> NativeOutcome {
    // The configuration may have changed while the password was checked; a user removed
    // or given a new password meanwhile does not log in with the old one.
    const auto* account = meter_.security().find_user(key.user);
    const bool accepted = check->accepted && account && account->password_hash == check->stored;
    const auto source = event_source(connection, key.user);
    record_login_attempt(key, check->password, accepted, source);
    if (!accepted) {
      log::info("native.login_failed", {{"serial", meter_.state().serial_number}, {"user", key.user}});
      return error_reply(id, ErrorCode::authentication_failed, "wrong user name or password");
    }
    const bool default_credential = account->default_credential;
    if (check->rehashed) {
      auto updated = sec::set_password_hash(meter_.security(), key.user, *check->rehashed, default_credential,
                                            meter_.security_limits());
      if (updated) (void)meter_.replace_security(std::move(*updated), std::nullopt, false);
    }
    auto token = sessions_.open(key.user, connection.id);
    if (!token) return error_reply(id, ErrorCode::busy, std::string(sec::to_string(token.error())));
    meter_.record_security_event(sec::SecurityEventType::login, source, connection.secure ? "secure port" : "plain port");
    log::info("native.login", {{"serial", meter_.state().serial_number}, {"user", key.user}});
    return reply(MessageType::login_ok, id,
                 native::LoginOk{std::string(token->text()), static_cast<std::uint32_t>(sessions_.idle_timeout().count()),
                                 default_credential});
  };
  return deferred;
}

NativeOutcome NativeService::operation(NativeConnection& connection, std::uint32_t id,
                                       const native::OperationRequest& request) {
  if (const auto* session = std::get_if<native::SessionAuth>(&request.auth)) {
    auto info = sessions_.authenticate(session->token, connection.id);
    if (!info) {
      if (info.error() == sec::SessionError::expired) {
        meter_.record_security_event(sec::SecurityEventType::timed_logout, event_source(connection, ""),
                                     "session idle for " + std::to_string(sessions_.idle_timeout().count()) + " s");
      }
      return error_reply(id, session_error_code(info.error()), std::string(sec::to_string(info.error())) + "; log in again");
    }
    return execute(connection, id, request, caller_for(info->user, connection, true));
  }
  if (const auto* password = std::get_if<native::PasswordAuth>(&request.auth)) {
    // Vendor's 4.0.0 notes: "Longer passwords cannot be used over non-ION session connections."
    if (!sec::legacy_password_allowed(password->password)) {
      return error_reply(id, ErrorCode::password_needs_session, sec::legacy_password_refusal_message());
    }
    sec::LockoutKey key{password->user, sec::LoginProtocol::native, connection.type};
    if (const auto status = lockouts_.status(key, meter_.security().lockout(sec::LoginProtocol::native)); status.locked) {
      return error_reply(id, ErrorCode::locked_out, locked_message(password->user, key, status));
    }
    const auto stored = hash_to_check(meter_.security(), password->user);
    const auto digest = credentials_digest(password->user, password->password, stored);
    if (connection.has_verified_credentials &&
        CRYPTO_memcmp(digest.data(), connection.verified_credentials.data(), digest.size()) == 0) {
      return execute(connection, id, request, caller_for(password->user, connection, false));
    }
    auto accepted = std::make_shared<bool>(false);
    DeferredReply deferred;
    deferred.work = [accepted, stored, secret = password->password] { *accepted = sec::verify_password(secret, stored); };
    deferred.finish = [this, id, request, key, stored, digest, accepted](NativeConnection& connection) -> NativeOutcome {
      const auto* account = meter_.security().find_user(key.user);
      const bool ok = *accepted && account && account->password_hash == stored;
      const auto& secret = std::get<native::PasswordAuth>(request.auth).password;
      record_login_attempt(key, secret, ok, event_source(connection, key.user));
      if (!ok) return error_reply(id, ErrorCode::authentication_failed, "wrong user name or password");
      connection.verified_credentials = digest;
      connection.has_verified_credentials = true;
      return execute(connection, id, request, caller_for(key.user, connection, false));
    };
    return deferred;
  }
  if (sec::is_single_password_mode(meter_.security().mode) && anonymous_allowed(request.operation)) {
    Caller anonymous;
    anonymous.permissions.add(Permission::read);
    anonymous.source = event_source(connection, "");
    return execute(connection, id, request, anonymous);
  }
  return error_reply(id, ErrorCode::authentication_required,
                     "operation '" + request.operation + "' needs a login" +
                         (sec::is_single_password_mode(meter_.security().mode)
                              ? std::string()
                              : std::string(" (advanced security: every operation needs a user name and password)")));
}

NativeOutcome NativeService::execute(NativeConnection&, std::uint32_t id, const native::OperationRequest& request,
                                     const Caller& caller) {
  const auto& op = request.operation;
  if (is_security_operation(op)) return run_security_operation(*this, id, op, request.arguments, caller);
  const auto* builtin = find_builtin(op);
  if (!builtin) return error_reply(id, ErrorCode::unknown_operation, "no operation '" + op + "'; known: " + known_operations());
  if (!caller.permissions.has(builtin->permission)) {
    return error_reply(id, ErrorCode::permission_denied,
                       (caller.user.empty() ? std::string("an anonymous caller") : "user " + caller.user) +
                           " lacks the " + std::string(sec::to_string(builtin->permission)) + " permission that " + op +
                           " needs");
  }
  if (is_config_operation(op)) return run_config_operation(*this, id, op, request.arguments, caller);
  if (is_backup_operation(op)) return run_backup_operation(*this, id, op, request.arguments, caller);
  if (is_upgrade_operation(op)) return run_upgrade_operation(*this, id, op, request.arguments, caller);

  json result;
  if (op == "identity") {
    result = identity();
  } else if (op == "read") {
    std::string problem;
    result = read(request.arguments, problem);
    if (!problem.empty()) return error_reply(id, ErrorCode::invalid_argument, problem);
  } else if (op == "time.get") {
    const double now = meter_.now();
    result = {{"unix_time", now}, {"utc", proto::model::iso_utc(now)},
              {"time_sync_enabled", meter_.state().setting(ConfigSetting::time_sync_enabled) != 0}};
  } else if (op == "time.set") {
    const auto it = request.arguments.find("unix_time");
    if (it == request.arguments.end() || !it->is_number() || !std::isfinite(it->get<double>()) ||
        it->get<double>() < 0 || it->get<double>() > 4'294'967'295.0) {
      return error_reply(id, ErrorCode::invalid_argument, "time.set needs unix_time: seconds since 1970 (0..2^32-1)");
    }
    const double before = meter_.now();
    if (auto set = meter_.set_time(it->get<double>()); !set) {
      return error_reply(id, ErrorCode::time_sync_disabled, set.error());
    }
    meter_.record_security_event(sec::SecurityEventType::time_change, caller.source,
                                 proto::model::iso_utc(before) + " -> " + proto::model::iso_utc(meter_.now()));
    result = {{"unix_time", meter_.now()}, {"utc", proto::model::iso_utc(meter_.now())}};
  } else if (op == "demand.reset") {
    meter_.reset_peak_demand();
    meter_.record_security_event(sec::SecurityEventType::configuration_change, caller.source, "peak demand reset");
    result = {{"peak_demand_kw", meter_.measurements()[proto::model::Point::active_power_peak_demand]}};
  } else if (op == "test_mode.set") {
    const auto it = request.arguments.find("enabled");
    if (it == request.arguments.end() || !it->is_boolean()) {
      return error_reply(id, ErrorCode::invalid_argument, "test_mode.set needs enabled: true or false");
    }
    meter_.set_test_mode(it->get<bool>());
    meter_.record_security_event(sec::SecurityEventType::configuration_change, caller.source,
                                 meter_.test_mode() ? "test mode on" : "test mode off");
    result = {{"test_mode", meter_.test_mode()}};
  } else if (op == "settings.get") {
    json settings = json::object();
    for (const auto& setting : proto::model::k_config_settings) {
      settings[std::string(setting.name)] = meter_.state().setting(setting.setting);
    }
    result = {{"settings", settings}, {"revenue_lock", meter_.security().options.revenue_lock}};
  } else if (op == "settings.set") {
    const auto it = request.arguments.find("settings");
    if (it == request.arguments.end() || !it->is_object() || it->empty()) {
      return error_reply(id, ErrorCode::invalid_argument, "settings.set needs settings: {name: value, ...}");
    }
    std::vector<std::pair<ConfigSetting, std::int64_t>> values;
    std::string changed;
    for (const auto& [name, value] : it->items()) {
      const auto* setting = proto::model::find_config_setting(name);
      if (!setting) return error_reply(id, ErrorCode::invalid_argument, "no setting '" + name + "'");
      if (!value.is_number_integer()) {
        return error_reply(id, ErrorCode::invalid_argument, "setting " + name + " takes a whole number");
      }
      // Time synchronisation is a security option (seed 004, "Disable and enable time synchronization").
      if (setting->setting == ConfigSetting::time_sync_enabled && !caller.permissions.has(Permission::security_config)) {
        return error_reply(id, ErrorCode::permission_denied,
                           "time_sync_enabled is a security option; it needs the security-config permission");
      }
      values.emplace_back(setting->setting, value.get<std::int64_t>());
      changed += (changed.empty() ? "" : ", ") + name + "=" + std::to_string(value.get<std::int64_t>());
    }
    if (auto applied = meter_.apply_settings(values); !applied) {
      const auto code = applied.error().kind == SettingsError::storage_failed ? ErrorCode::internal_error
                        : applied.error().kind == SettingsError::revenue_locked ? ErrorCode::permission_denied
                                                                                 : ErrorCode::invalid_argument;
      return error_reply(id, code, applied.error().message);
    }
    meter_.record_security_event(sec::SecurityEventType::configuration_change, caller.source, changed);
    result = {{"changed", changed}};
  } else if (op == "comm.get") {
    result = {{"modbus_unit_id", meter_.modbus_unit_id()}};
  } else if (op == "comm.set") {
    const auto it = request.arguments.find("modbus_unit_id");
    if (it == request.arguments.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > 247) {
      return error_reply(id, ErrorCode::invalid_argument, "comm.set needs modbus_unit_id: 1 to 247");
    }
    if (auto set = meter_.set_modbus_unit_id(static_cast<std::uint8_t>(it->get<std::uint64_t>())); !set) {
      return error_reply(id, ErrorCode::invalid_argument, set.error());
    }
    meter_.record_security_event(sec::SecurityEventType::configuration_change, caller.source,
                                 "modbus_unit_id=" + std::to_string(meter_.modbus_unit_id()));
    result = {{"modbus_unit_id", meter_.modbus_unit_id()}};
  }
  if (caller.default_credential) result["default_credential"] = true;
  return response_reply(id, result);
}

json NativeService::identity() const {
  const auto& state = meter_.state();
  const auto& capabilities = meter_.capabilities();
  json features = json::array();
  for (const auto feature : capabilities.features) features.push_back(std::string(proto::model::to_string(feature)));
  return {{"model", state.model},
          {"feature_set", state.feature_set},
          {"serial_number", state.serial_number},
          {"firmware", state.firmware.to_string()},
          {"firmware_vendor", state.firmware.vendor_form()},
          {"shipped_firmware", state.shipped_firmware.to_string()},
          {"features", features},
          {"security_mode", std::string(sec::to_string(meter_.security().mode))},
          {"uptime_s", std::round(meter_.uptime_seconds() * 10.0) / 10.0},
          {"meter_time", meter_.now()},
          {"meter_time_utc", proto::model::iso_utc(meter_.now())},
          {"test_mode", meter_.test_mode()}};
}

json NativeService::read(const json& arguments, std::string& problem) const {
  const auto& measurements = meter_.measurements();
  json values = json::object();
  auto add = [&](const proto::model::PointInfo& point) {
    const double value = measurements[point.point];
    values[std::string(point.name)] = {{"value", std::isfinite(value) ? json(value) : json(nullptr)},
                                       {"unit", point.unit}};
  };
  const auto it = arguments.find("points");
  if (it == arguments.end() || (it->is_array() && it->empty())) {
    for (const auto& point : proto::model::k_points) add(point);
  } else if (!it->is_array()) {
    problem = "points must be a list of point names";
    return nullptr;
  } else {
    for (const auto& name : *it) {
      const auto point = name.is_string() ? proto::model::find_point(name.get<std::string>()) : std::nullopt;
      if (!point) {
        problem = "unknown point " + name.dump() + "; `meterctl modbus map` lists the names";
        return nullptr;
      }
      add(proto::model::info(*point));
    }
  }
  json result = {{"meter_time", measurements.unix_time}, {"values", values}, {"test_mode", meter_.test_mode()}};
  if (meter_.test_mode()) result["test_energy"] = simulation::to_json(meter_.test_energy());
  return result;
}

}  // namespace meterd
