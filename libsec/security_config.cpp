#include "libsec/security_config.hpp"

#include <algorithm>
#include <cctype>

namespace sec {

using nlohmann::json;
using proto::unexpected;

namespace {

constexpr SecurityMode k_modes[] = {SecurityMode::legacy, SecurityMode::standard, SecurityMode::advanced};

bool offered(const SecurityLimits& limits, SecurityMode mode) {
  return std::find(limits.modes.begin(), limits.modes.end(), mode) != limits.modes.end();
}

std::string modes_text(const SecurityLimits& limits) {
  std::string text;
  for (const auto mode : limits.modes) text += (text.empty() ? "" : ", ") + std::string(to_string(mode));
  return text;
}

bool anyone_holds_security_config(const SecurityConfig& config) {
  return std::any_of(config.users.begin(), config.users.end(),
                     [](const UserAccount& user) { return user.permissions.has(Permission::security_config); });
}

proto::Result<proto::Ok, std::string> check_lockout(const LockoutPolicy& policy, LoginProtocol protocol) {
  const auto name = std::string(to_string(protocol));
  if (policy.attempts > k_max_lockout_attempts) {
    return unexpected("lockout for " + name + ": attempts must be 0 (never lock) to " +
                      std::to_string(k_max_lockout_attempts));
  }
  if (policy.window.count() < 1 || policy.window > k_max_lockout_seconds) {
    return unexpected("lockout for " + name + ": the window must be 1 to " +
                      std::to_string(k_max_lockout_seconds.count()) + " seconds");
  }
  if (policy.duration.count() < 0 || policy.duration > k_max_lockout_seconds) {
    return unexpected("lockout for " + name + ": the duration must be 0 (until unlocked) to " +
                      std::to_string(k_max_lockout_seconds.count()) + " seconds");
  }
  return proto::Ok{};
}

// Typed readers for the state form: a wrong type is an error naming the key.
template <typename T>
proto::Result<T, std::string> read_unsigned(const json& object, const char* key, const std::string& context, T fallback,
                                            std::uint64_t max) {
  if (!object.contains(key)) return fallback;
  const auto& value = object.at(key);
  if (!value.is_number_unsigned() || value.get<std::uint64_t>() > max) {
    return unexpected(context + "." + key + " must be a whole number from 0 to " + std::to_string(max));
  }
  return static_cast<T>(value.get<std::uint64_t>());
}

proto::Result<bool, std::string> read_bool(const json& object, const char* key, const std::string& context,
                                           bool fallback) {
  if (!object.contains(key)) return fallback;
  const auto& value = object.at(key);
  if (!value.is_boolean()) return unexpected(context + "." + key + " must be true or false");
  return value.get<bool>();
}

proto::Result<std::string, std::string> read_string(const json& object, const char* key, const std::string& context) {
  if (!object.contains(key) || !object.at(key).is_string()) return unexpected(context + "." + key + " must be text");
  return object.at(key).get<std::string>();
}

json lockout_json(const LockoutPolicy& policy) {
  return {{"attempts", policy.attempts}, {"window_s", policy.window.count()}, {"duration_s", policy.duration.count()}};
}

proto::Result<LockoutPolicy, std::string> lockout_from_json(const json& object, const std::string& context) {
  if (!object.is_object()) return unexpected(context + " is not an object");
  LockoutPolicy policy;
  auto attempts = read_unsigned<std::uint32_t>(object, "attempts", context, policy.attempts, 0xFFFFFFFFU);
  if (!attempts) return unexpected(attempts.error());
  auto window = read_unsigned<std::int64_t>(object, "window_s", context, policy.window.count(), 1ULL << 40);
  if (!window) return unexpected(window.error());
  auto duration = read_unsigned<std::int64_t>(object, "duration_s", context, policy.duration.count(), 1ULL << 40);
  if (!duration) return unexpected(duration.error());
  policy.attempts = *attempts;
  policy.window = std::chrono::seconds(*window);
  policy.duration = std::chrono::seconds(*duration);
  return policy;
}

json options_json(const SecurityOptions& options) {
  return {{"web_server", options.web_server},
          {"web_server_programming", options.web_server_programming},
          {"front_panel_programming", options.front_panel_programming},
          {"revenue_lock", options.revenue_lock},
          {"services",
           {{"ssh", options.services.ssh},
            {"sftp", options.services.sftp},
            {"telnet", options.services.telnet},
            {"ftp", options.services.ftp}}}};
}

proto::Result<SecurityOptions, std::string> options_from_json(const json& object) {
  const std::string context = "security.options";
  if (!object.is_object()) return unexpected(context + " is not an object");
  SecurityOptions options;
  struct Flag {
    const char* key;
    bool* target;
  };
  for (const auto& [key, target] : {Flag{"web_server", &options.web_server},
                                    Flag{"web_server_programming", &options.web_server_programming},
                                    Flag{"front_panel_programming", &options.front_panel_programming},
                                    Flag{"revenue_lock", &options.revenue_lock}}) {
    auto value = read_bool(object, key, context, *target);
    if (!value) return unexpected(value.error());
    *target = *value;
  }
  if (object.contains("services")) {
    const auto& services = object.at("services");
    if (!services.is_object()) return unexpected(context + ".services is not an object");
    for (const auto& [key, target] : {Flag{"ssh", &options.services.ssh}, Flag{"sftp", &options.services.sftp},
                                      Flag{"telnet", &options.services.telnet}, Flag{"ftp", &options.services.ftp}}) {
      auto value = read_bool(services, key, context + ".services", *target);
      if (!value) return unexpected(value.error());
      *target = *value;
    }
  }
  return options;
}

}  // namespace

std::string_view to_string(SecurityMode mode) {
  switch (mode) {
    case SecurityMode::legacy: return "legacy";
    case SecurityMode::standard: return "standard";
    case SecurityMode::advanced: return "advanced";
  }
  return "legacy";
}

std::optional<SecurityMode> parse_security_mode(std::string_view text) {
  for (const auto mode : k_modes) {
    if (to_string(mode) == text) return mode;
  }
  return std::nullopt;
}

bool is_single_password_mode(SecurityMode mode) { return mode != SecurityMode::advanced; }

const UserAccount* SecurityConfig::find_user(std::string_view name) const {
  for (const auto& user : users) {
    if (user.name == name) return &user;
  }
  return nullptr;
}

UserAccount* SecurityConfig::find_user(std::string_view name) {
  return const_cast<UserAccount*>(static_cast<const SecurityConfig&>(*this).find_user(name));
}

const LockoutPolicy& SecurityConfig::lockout(LoginProtocol protocol) const {
  return protocol == LoginProtocol::web ? web_lockout : native_lockout;
}

LockoutPolicy& SecurityConfig::lockout(LoginProtocol protocol) {
  return protocol == LoginProtocol::web ? web_lockout : native_lockout;
}

SecurityConfig factory_security_config(const SecurityLimits& limits, std::string factory_password_hash) {
  SecurityConfig config;
  config.mode = SecurityMode::advanced;
  for (const auto mode : limits.modes) {
    if (is_single_password_mode(mode)) {
      config.mode = mode;
      break;
    }
  }
  config.users.push_back(UserAccount{std::string(k_legacy_user), std::move(factory_password_hash),
                                     PermissionSet::all(), true});
  // Seed 003: the ION8650 leaves the factory with "SSH disabled and sftp enabled,
  // webserver disabled".
  if (limits.services_offered.sftp || limits.services_offered.ssh) config.options.web_server = false;
  config.options.services.sftp = limits.services_offered.sftp;
  return config;
}

std::size_t max_password_length(const SecurityConfig& config, const SecurityLimits& limits) {
  return is_single_password_mode(config.mode) ? k_legacy_password_max_digits : limits.max_password_length;
}

proto::Result<proto::Ok, PasswordRejection> check_new_password(const SecurityConfig& config,
                                                               const SecurityLimits& limits,
                                                               std::string_view password) {
  if (is_single_password_mode(config.mode)) return check_legacy_password(password);
  return check_password(password, config.policy, limits.max_password_length);
}

proto::Result<proto::Ok, std::string> check_user_name(std::string_view name) {
  const auto allowed = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  };
  if (name.empty() || name.size() > k_max_user_name_length || std::isalpha(static_cast<unsigned char>(name[0])) == 0 ||
      !std::all_of(name.begin(), name.end(), allowed)) {
    return unexpected(std::string("a user name is a letter followed by letters, digits, '_', '-' or '.', at most ") +
                      std::to_string(k_max_user_name_length) + " characters");
  }
  return proto::Ok{};
}

proto::Result<proto::Ok, std::string> validate(const SecurityConfig& config, const SecurityLimits& limits) {
  if (!offered(limits, config.mode)) {
    return unexpected("security mode " + std::string(to_string(config.mode)) + " is not offered by this meter (" +
                      modes_text(limits) + ")");
  }
  if (config.users.size() > limits.max_users) {
    return unexpected("at most " + std::to_string(limits.max_users) + " users; remove one first");
  }
  for (std::size_t i = 0; i < config.users.size(); ++i) {
    const auto& user = config.users[i];
    if (auto valid = check_user_name(user.name); !valid) return unexpected("user '" + user.name + "': " + valid.error());
    for (std::size_t j = 0; j < i; ++j) {
      if (config.users[j].name == user.name) return unexpected("user '" + user.name + "' is listed twice");
    }
    if (!parse_phc(user.password_hash)) {
      return unexpected("user '" + user.name + "': the stored password is not a valid scrypt PHC string");
    }
  }
  if (is_single_password_mode(config.mode) &&
      (config.users.size() != 1 || config.users.front().name != k_legacy_user)) {
    return unexpected(std::string(to_string(config.mode)) + " security has exactly one user, " +
                      std::string(k_legacy_user) + "; remove the other users or use advanced security");
  }
  if (!anyone_holds_security_config(config)) {
    return unexpected("no user would hold the security-config permission, and nobody could change security "
                      "again; keep it on at least one user");
  }
  if (auto policy = validate_policy(config.policy, limits.max_password_length, limits.complexity_available,
                                    limits.complexity_hint);
      !policy) {
    return unexpected(policy.error());
  }
  for (const auto protocol : {LoginProtocol::native, LoginProtocol::web}) {
    if (auto lockout = check_lockout(config.lockout(protocol), protocol); !lockout) return unexpected(lockout.error());
  }
  if (config.session_timeout < k_min_session_timeout || config.session_timeout > k_max_session_timeout) {
    return unexpected("the session timeout must be " + std::to_string(k_min_session_timeout.count()) + " to " +
                      std::to_string(k_max_session_timeout.count()) + " seconds");
  }
  if (!params_in_bounds(config.hashing.params)) {
    return unexpected("password hashing parameters " + describe(config.hashing.params) + " are out of bounds");
  }
  if (!meets_owasp_minimum(config.hashing.params) && !config.hashing.fleet_allowed) {
    return unexpected("password hashing " + describe(config.hashing.params) +
                      " is below the OWASP minimum (scrypt N=2^17 r=8 p=1); set fleet_allowed to accept it "
                      "knowingly (security audit will report it)");
  }
  const auto& services = config.options.services;
  const auto& offered_services = limits.services_offered;
  const auto check_service = [&](bool on, bool is_offered, const char* name) -> std::optional<std::string> {
    if (on && !is_offered) return std::string(name) + " is not offered by this meter's firmware";
    return std::nullopt;
  };
  for (const auto& problem : {check_service(services.ssh, offered_services.ssh, "SSH"),
                              check_service(services.sftp, offered_services.sftp, "SFTP"),
                              check_service(services.telnet, offered_services.telnet, "Telnet"),
                              check_service(services.ftp, offered_services.ftp, "FTP")}) {
    if (problem) return unexpected(*problem);
  }
  return proto::Ok{};
}

proto::Result<SecurityConfig, std::string> switch_mode(SecurityConfig config, SecurityMode mode,
                                                       const SecurityLimits& limits) {
  if (!offered(limits, mode)) {
    return unexpected("security mode " + std::string(to_string(mode)) + " is not offered by this meter (" +
                      modes_text(limits) + ")");
  }
  if (mode == SecurityMode::advanced && is_single_password_mode(config.mode)) {
    // Seed 004: Advanced security is reached from Legacy with User1 as the first user;
    // it keeps its password (and so its default-credential flag) and gets every permission.
    if (auto* user1 = config.find_user(k_legacy_user)) user1->permissions = PermissionSet::all();
  }
  config.mode = mode;
  if (auto valid = validate(config, limits); !valid) return unexpected(valid.error());
  return config;
}

proto::Result<SecurityConfig, std::string> add_user(SecurityConfig config, UserAccount user,
                                                    const SecurityLimits& limits) {
  if (is_single_password_mode(config.mode)) {
    return unexpected(std::string(to_string(config.mode)) +
                      " security has only User1; switch to advanced security to add users");
  }
  if (auto name = check_user_name(user.name); !name) return unexpected(name.error());
  if (config.find_user(user.name)) return unexpected("user '" + user.name + "' exists already");
  if (config.users.size() >= limits.max_users) {
    return unexpected("this meter holds at most " + std::to_string(limits.max_users) + " users; remove one first");
  }
  config.users.push_back(std::move(user));
  if (auto valid = validate(config, limits); !valid) return unexpected(valid.error());
  return config;
}

proto::Result<SecurityConfig, std::string> remove_user(SecurityConfig config, std::string_view name,
                                                       const SecurityLimits& limits) {
  const auto it = std::find_if(config.users.begin(), config.users.end(),
                               [&](const UserAccount& user) { return user.name == name; });
  if (it == config.users.end()) return unexpected("no user '" + std::string(name) + "'");
  config.users.erase(it);
  if (auto valid = validate(config, limits); !valid) return unexpected(valid.error());
  return config;
}

proto::Result<SecurityConfig, std::string> set_permissions(SecurityConfig config, std::string_view name,
                                                           PermissionSet permissions, const SecurityLimits& limits) {
  auto* user = config.find_user(name);
  if (!user) return unexpected("no user '" + std::string(name) + "'");
  if (is_single_password_mode(config.mode) && permissions != PermissionSet::all()) {
    return unexpected(std::string(to_string(config.mode)) +
                      " security has one user with every permission; switch to advanced security first");
  }
  user->permissions = permissions;
  if (auto valid = validate(config, limits); !valid) return unexpected(valid.error());
  return config;
}

proto::Result<SecurityConfig, std::string> set_password_hash(SecurityConfig config, std::string_view name,
                                                             std::string password_hash, bool is_factory_password,
                                                             const SecurityLimits& limits) {
  auto* user = config.find_user(name);
  if (!user) return unexpected("no user '" + std::string(name) + "'");
  user->password_hash = std::move(password_hash);
  user->default_credential = is_factory_password;
  if (auto valid = validate(config, limits); !valid) return unexpected(valid.error());
  return config;
}

json to_json(const SecurityConfig& config) {
  json users = json::array();
  for (const auto& user : config.users) {
    json permissions = json::array();
    for (const auto name : user.permissions.names()) permissions.push_back(std::string(name));
    users.push_back({{"name", user.name},
                     {"password_hash", user.password_hash},
                     {"permissions", permissions},
                     {"default_credential", user.default_credential}});
  }
  json priorities = json::object();
  for (std::size_t i = 0; i < k_security_event_type_count; ++i) {
    const auto type = static_cast<SecurityEventType>(i);
    priorities[std::string(to_string(type))] = config.priorities.of(type);
  }
  return {{"mode", std::string(to_string(config.mode))},
          {"users", users},
          {"policy", {{"complexity", std::string(to_string(config.policy.complexity))},
                      {"min_length", config.policy.min_length}}},
          {"lockout", {{"native", lockout_json(config.native_lockout)}, {"web", lockout_json(config.web_lockout)}}},
          {"session_timeout_s", config.session_timeout.count()},
          {"options", options_json(config.options)},
          {"hashing",
           {{"log2_n", config.hashing.params.log2_n},
            {"r", config.hashing.params.r},
            {"p", config.hashing.params.p},
            {"fleet_allowed", config.hashing.fleet_allowed}}},
          {"event_priorities", priorities}};
}

proto::Result<LoadedSecurityConfig, std::string> security_config_from_json(const json& object) {
  if (!object.is_object()) return unexpected(std::string("security is not an object"));
  LoadedSecurityConfig loaded;
  auto& config = loaded.config;
  const std::string context = "security";

  auto mode_text = read_string(object, "mode", context);
  if (!mode_text) return unexpected(mode_text.error());
  const auto mode = parse_security_mode(*mode_text);
  if (!mode) return unexpected("security.mode '" + *mode_text + "' is not legacy, standard or advanced");
  config.mode = *mode;

  if (!object.contains("users") || !object.at("users").is_array()) return unexpected(std::string("security.users must be a list"));
  if (object.at("users").size() > k_max_users) return unexpected(std::string("security.users holds more than 50 users"));
  for (const auto& entry : object.at("users")) {
    if (!entry.is_object()) return unexpected(std::string("security.users holds a non-object"));
    UserAccount user;
    auto name = read_string(entry, "name", "security.users[]");
    if (!name) return unexpected(name.error());
    user.name = *name;
    if (entry.contains("password_hash")) {
      auto hash = read_string(entry, "password_hash", "security.users[" + user.name + "]");
      if (!hash) return unexpected(hash.error());
      user.password_hash = *hash;
    } else if (entry.contains("password")) {
      // A store from before hashing: hand the clear password back to be hashed.
      auto clear = read_string(entry, "password", "security.users[" + user.name + "]");
      if (!clear) return unexpected(clear.error());
      loaded.clear_passwords.emplace_back(user.name, *clear);
    } else {
      return unexpected("security.users[" + user.name + "] has no password_hash");
    }
    if (!entry.contains("permissions") || !entry.at("permissions").is_array()) {
      return unexpected("security.users[" + user.name + "].permissions must be a list");
    }
    for (const auto& permission : entry.at("permissions")) {
      const auto parsed = permission.is_string() ? parse_permission(permission.get<std::string>()) : std::nullopt;
      if (!parsed) return unexpected("security.users[" + user.name + "].permissions holds an unknown permission");
      user.permissions.add(*parsed);
    }
    auto default_credential = read_bool(entry, "default_credential", "security.users[" + user.name + "]", false);
    if (!default_credential) return unexpected(default_credential.error());
    user.default_credential = *default_credential;
    config.users.push_back(std::move(user));
  }

  if (object.contains("policy")) {
    const auto& policy = object.at("policy");
    if (!policy.is_object()) return unexpected(std::string("security.policy is not an object"));
    auto complexity_text = read_string(policy, "complexity", "security.policy");
    if (!complexity_text) return unexpected(complexity_text.error());
    const auto complexity = parse_complexity(*complexity_text);
    if (!complexity) return unexpected("security.policy.complexity '" + *complexity_text + "' is unknown");
    auto min_length = read_unsigned<std::size_t>(policy, "min_length", "security.policy", config.policy.min_length, 1024);
    if (!min_length) return unexpected(min_length.error());
    config.policy = PasswordPolicy{*complexity, *min_length};
  }
  if (object.contains("lockout")) {
    const auto& lockout = object.at("lockout");
    if (!lockout.is_object()) return unexpected(std::string("security.lockout is not an object"));
    for (const auto protocol : {LoginProtocol::native, LoginProtocol::web}) {
      const auto key = std::string(to_string(protocol));
      if (!lockout.contains(key)) continue;
      auto policy = lockout_from_json(lockout.at(key), "security.lockout." + key);
      if (!policy) return unexpected(policy.error());
      config.lockout(protocol) = *policy;
    }
  }
  auto timeout = read_unsigned<std::int64_t>(object, "session_timeout_s", context, config.session_timeout.count(),
                                             1ULL << 40);
  if (!timeout) return unexpected(timeout.error());
  config.session_timeout = std::chrono::seconds(*timeout);
  if (object.contains("options")) {
    auto options = options_from_json(object.at("options"));
    if (!options) return unexpected(options.error());
    config.options = *options;
  }
  if (object.contains("hashing")) {
    const auto& hashing = object.at("hashing");
    if (!hashing.is_object()) return unexpected(std::string("security.hashing is not an object"));
    auto log2_n = read_unsigned<std::uint8_t>(hashing, "log2_n", "security.hashing", config.hashing.params.log2_n, 63);
    auto r = read_unsigned<std::uint32_t>(hashing, "r", "security.hashing", config.hashing.params.r, 1U << 30);
    auto p = read_unsigned<std::uint32_t>(hashing, "p", "security.hashing", config.hashing.params.p, 1U << 30);
    auto fleet = read_bool(hashing, "fleet_allowed", "security.hashing", false);
    if (!log2_n) return unexpected(log2_n.error());
    if (!r) return unexpected(r.error());
    if (!p) return unexpected(p.error());
    if (!fleet) return unexpected(fleet.error());
    config.hashing = PasswordHashing{ScryptParams{*log2_n, *r, *p}, *fleet};
  }
  if (object.contains("event_priorities")) {
    const auto& priorities = object.at("event_priorities");
    if (!priorities.is_object()) return unexpected(std::string("security.event_priorities is not an object"));
    for (const auto& [key, value] : priorities.items()) {
      const auto type = parse_security_event_type(key);
      if (!type) continue;  // an event type a newer firmware added
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() > 255) {
        return unexpected("security.event_priorities." + key + " must be 0 to 255");
      }
      config.priorities.set(*type, static_cast<std::uint8_t>(value.get<std::uint64_t>()));
    }
  }
  return loaded;
}

}  // namespace sec
