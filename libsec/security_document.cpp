#include "libsec/security_document.hpp"

#include <sstream>

#include "libproto/model/yaml_document.hpp"
#include "libsec/security_document_sections.hpp"

namespace sec {

using proto::model::YamlError;
using proto::model::YamlFieldError;
using proto::model::YamlMap;
using proto::unexpected;

namespace {

std::string location_of(const YAML::Node& node, std::string_view file) {
  const auto mark = node.Mark();
  if (mark.line < 0) return std::string(file);
  return std::string(file) + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::optional<bool> optional_flag(const YamlMap& map, std::string_view key) {
  if (!map.has(key) || map.optional(key).IsNull()) return std::nullopt;
  return map.boolean_or(key, false);
}

template <typename T>
std::optional<T> optional_integer(const YamlMap& map, std::string_view key, std::int64_t min, std::int64_t max) {
  if (!map.has(key) || map.optional(key).IsNull()) return std::nullopt;
  return static_cast<T>(map.integer(key, min, max));
}

std::optional<std::chrono::seconds> optional_seconds(const YamlMap& map, std::string_view key, std::int64_t min,
                                                     std::int64_t max) {
  if (!map.has(key) || map.optional(key).IsNull()) return std::nullopt;
  return std::chrono::seconds(map.integer(key, min, max));
}

DocumentLockout read_lockout(const YamlMap& parent, std::string_view key, const std::string& prefix) {
  DocumentLockout lockout;
  if (!parent.has(key)) return lockout;
  const YamlMap map(parent.optional(key), parent.file(), prefix + "lockout." + std::string(key));
  map.allow_only({"attempts", "window_s", "duration_s"});
  lockout.attempts = optional_integer<std::uint32_t>(map, "attempts", 0, k_max_lockout_attempts);
  lockout.window = optional_seconds(map, "window_s", 1, k_max_lockout_seconds.count());
  lockout.duration = optional_seconds(map, "duration_s", 0, k_max_lockout_seconds.count());
  return lockout;
}

PermissionSet read_permissions(const YAML::Node& node, std::string_view file, const std::string& context) {
  if (!node.IsSequence()) proto::model::fail_at(node, file, context + " must be a list such as [read, time-sync]");
  PermissionSet permissions;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const auto name = proto::model::scalar_string(node[i], file, context);
    if (name == "all") {
      permissions = PermissionSet::all();
      continue;
    }
    const auto permission = parse_permission(name);
    if (!permission) {
      std::string known;
      for (const auto each : k_all_permissions) known += (known.empty() ? "" : ", ") + std::string(to_string(each));
      proto::model::fail_at(node[i], file, "unknown permission '" + name + "'; known: " + known + ", all");
    }
    permissions.add(*permission);
  }
  return permissions;
}

std::vector<DocumentUser> read_users(const YAML::Node& node, std::string_view file, const std::string& prefix) {
  if (!node.IsSequence()) {
    proto::model::fail_at(node, file, prefix + "users must be a list of {name, permissions} entries");
  }
  if (node.size() > k_max_users) proto::model::fail_at(node, file, prefix + "users lists more than 50 accounts");
  std::vector<DocumentUser> users;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YamlMap entry(node[i], file, prefix + "users[" + std::to_string(i) + "]");
    entry.allow_only({"name", "permissions", "password_file", "password_hash", "password"});
    if (entry.has("password")) {
      entry.fail(entry.optional("password"),
                 "a password is never written in the file; use password_file: (a file next to this one) or "
                 "password_hash: (a scrypt PHC string)");
    }
    DocumentUser user;
    user.name = entry.string("name");
    if (auto valid = check_user_name(user.name); !valid) entry.fail(entry.required("name"), valid.error());
    for (const auto& earlier : users) {
      if (earlier.name == user.name) entry.fail(entry.required("name"), "user '" + user.name + "' is listed twice");
    }
    user.location = location_of(node[i], file);
    if (entry.has("permissions")) {
      user.permissions =
          read_permissions(entry.optional("permissions"), file, prefix + "users[" + user.name + "].permissions");
    }
    if (entry.has("password_file")) user.password_file = entry.string("password_file");
    if (entry.has("password_hash")) {
      user.password_hash = entry.string("password_hash");
      if (auto parsed = parse_phc(*user.password_hash); !parsed) {
        entry.fail(entry.required("password_hash"),
                   "password_hash is not a scrypt PHC string: " + std::string(to_string(parsed.error())));
      }
    }
    if (user.password_file && user.password_hash) {
      entry.fail(node[i], "give either password_file or password_hash, not both");
    }
    users.push_back(std::move(user));
  }
  return users;
}

std::string prefix_of(detail::SecurityKeys keys) { return keys == detail::SecurityKeys::profile ? "security." : ""; }

SecurityDocument read_document(const YAML::Node& root_node, std::string_view file) {
  const YamlMap root(root_node, file, "security configuration");
  detail::check_security_keys(root, detail::SecurityKeys::document);
  if (const auto api = root.string("apiVersion"); api != k_security_document_api_version) {
    root.fail(root.required("apiVersion"), "apiVersion is '" + api + "'; this version reads '" +
                                               std::string(k_security_document_api_version) + "'");
  }
  if (const auto kind = root.string("kind"); kind != k_security_document_kind) {
    root.fail(root.required("kind"), "kind is '" + kind + "'; a security configuration has kind: " +
                                         std::string(k_security_document_kind));
  }
  SecurityDocument document;
  detail::read_security_sections(root, detail::SecurityKeys::document, document);
  return document;
}

const char* yes_no(bool value) { return value ? "true" : "false"; }

std::string permissions_text(PermissionSet permissions) {
  std::string text;
  for (const auto name : permissions.names()) text += (text.empty() ? "" : ", ") + std::string(name);
  return "[" + text + "]";
}

std::string lockout_text(const LockoutPolicy& policy) {
  return "{attempts: " + std::to_string(policy.attempts) + ", window_s: " + std::to_string(policy.window.count()) +
         ", duration_s: " + std::to_string(policy.duration.count()) + "}";
}

template <typename T>
void overlay(T& target, const std::optional<T>& value) {
  if (value) target = *value;
}

void overlay_lockout(LockoutPolicy& target, const DocumentLockout& document) {
  overlay(target.attempts, document.attempts);
  overlay(target.window, document.window);
  overlay(target.duration, document.duration);
}

}  // namespace

namespace detail {

void check_security_keys(const YamlMap& map, SecurityKeys keys) {
  if (keys == SecurityKeys::document) {
    map.allow_only({"apiVersion", "kind", "mode", "policy", "lockout", "session_timeout_s", "options",
                    "password_hashing", "event_priorities", "users"});
    return;
  }
  // A profile keeps each setting in one place; say where rather than "unknown key".
  if (map.has("event_priorities")) {
    map.fail(map.optional("event_priorities").IsNull() ? map.node() : map.optional("event_priorities"),
             "security.event_priorities has its place in a profile under events.priorities; move it there");
  }
  map.allow_only({"mode", "policy", "lockout", "session_timeout_s", "options", "password_hashing", "users"});
}

void read_security_sections(const YamlMap& root, SecurityKeys keys, SecurityDocument& document) {
  const auto file = root.file();
  const auto prefix = prefix_of(keys);
  if (root.has("mode")) {
    const auto text = root.string("mode");
    document.mode = parse_security_mode(text);
    if (!document.mode) {
      root.fail(root.required("mode"), prefix + "mode is '" + text + "'; use legacy, standard or advanced");
    }
  }
  if (root.has("policy")) {
    const YamlMap policy(root.optional("policy"), file, prefix + "policy");
    policy.allow_only({"complexity", "min_length"});
    if (policy.has("complexity")) {
      const auto text = policy.string("complexity");
      document.complexity = parse_complexity(text);
      if (!document.complexity) {
        policy.fail(policy.required("complexity"),
                    "complexity is '" + text + "'; use none, nerc-cip-007-5 or ieee-1686-2013");
      }
    }
    document.min_length = optional_integer<std::size_t>(policy, "min_length", 1, 64);
  }
  if (root.has("lockout")) {
    const YamlMap lockout(root.optional("lockout"), file, prefix + "lockout");
    lockout.allow_only({"native", "web"});
    document.native_lockout = read_lockout(lockout, "native", prefix);
    document.web_lockout = read_lockout(lockout, "web", prefix);
  }
  document.session_timeout =
      optional_seconds(root, "session_timeout_s", k_min_session_timeout.count(), k_max_session_timeout.count());
  if (root.has("options")) {
    const YamlMap options(root.optional("options"), file, prefix + "options");
    if (keys == SecurityKeys::profile) {
      for (const auto& [key, place] : {std::pair<std::string_view, std::string_view>{"modbus_access",
                                                                                      "communications.modbus_tcp.access"},
                                       {"time_sync", "clock.time_sync"},
                                       {"web_server", "communications.web.mode"}}) {
        if (!options.has(key)) continue;
        const auto node = options.optional(key);
        options.fail(node.IsNull() ? options.node() : node, "security.options." + std::string(key) +
                                                                 " has its place in a profile under " +
                                                                 std::string(place) + "; move it there");
      }
      options.allow_only({"web_server_programming", "front_panel_programming", "revenue_lock", "services"});
    } else {
      options.allow_only({"web_server", "web_server_programming", "front_panel_programming", "modbus_access",
                          "time_sync", "revenue_lock", "services"});
      document.web_server = optional_flag(options, "web_server");
    }
    document.web_server_programming = optional_flag(options, "web_server_programming");
    document.front_panel_programming = optional_flag(options, "front_panel_programming");
    if (keys == SecurityKeys::document) document.time_sync = optional_flag(options, "time_sync");
    document.revenue_lock = optional_flag(options, "revenue_lock");
    if (options.has("modbus_access")) {
      const auto text = options.string("modbus_access");
      document.modbus_access = parse_modbus_access(text);
      if (!document.modbus_access) {
        options.fail(options.required("modbus_access"),
                     "modbus_access is '" + text + "'; use none, read-only or read-write");
      }
    }
    if (options.has("services")) {
      const YamlMap services(options.optional("services"), file, prefix + "options.services");
      services.allow_only({"ssh", "sftp", "telnet", "ftp"});
      document.ssh = optional_flag(services, "ssh");
      document.sftp = optional_flag(services, "sftp");
      document.telnet = optional_flag(services, "telnet");
      document.ftp = optional_flag(services, "ftp");
    }
  }
  if (root.has("password_hashing")) {
    const YamlMap hashing(root.optional("password_hashing"), file, prefix + "password_hashing");
    hashing.allow_only({"log2_n", "r", "p", "fleet_allowed"});
    document.hash_log2_n = optional_integer<std::uint8_t>(hashing, "log2_n", 1, 20);
    document.hash_r = optional_integer<std::uint32_t>(hashing, "r", 1, 32);
    document.hash_p = optional_integer<std::uint32_t>(hashing, "p", 1, 16);
    document.fleet_allowed = optional_flag(hashing, "fleet_allowed");
  }
  if (root.has("event_priorities")) {
    const auto node = root.optional("event_priorities");
    const YamlMap priorities(node, file, prefix + "event_priorities");
    for (const auto& entry : node) {
      const auto key = proto::model::scalar_string(entry.first, file, prefix + "event_priorities key");
      const auto type = parse_security_event_type(key);
      if (!type) priorities.fail(entry.first, "unknown event type '" + key + "'");
      document.priorities.emplace_back(*type, static_cast<std::uint8_t>(priorities.integer(key, 0, 255)));
    }
  }
  if (root.has("users")) {
    document.users_listed = true;
    document.users = read_users(root.optional("users"), file, prefix);
  }
}

}  // namespace detail

proto::Result<SecurityDocument, std::string> parse_security_document(std::string_view yaml_text,
                                                                     std::string_view source_name) {
  auto node = proto::model::parse_yaml(yaml_text, source_name);
  if (!node) return unexpected(node.error().to_string());
  try {
    return read_document(*node, source_name);
  } catch (const YamlFieldError& failure) {
    return unexpected(failure.error.to_string());
  } catch (const YAML::Exception& failure) {
    return unexpected(
        YamlError{std::string(source_name), failure.mark.line + 1, failure.mark.column + 1, failure.msg}.to_string());
  }
}

std::string format_security_document(const SecurityConfig& config, const MeterSecuritySettings& settings,
                                     std::string_view meter) {
  std::ostringstream out;
  out << "# Security configuration of " << meter << ".\n"
      << "# Passwords are never exported. To set one, add to a user either\n"
      << "#   password_file: FILE   (first line of FILE, next to this file, mode 0600)\n"
      << "# or\n"
      << "#   password_hash: PHC    (a scrypt PHC string)\n"
      << "apiVersion: " << k_security_document_api_version << "\n"
      << "kind: " << k_security_document_kind << "\n"
      << "mode: " << to_string(config.mode) << "\n"
      << "policy: {complexity: " << to_string(config.policy.complexity)
      << ", min_length: " << config.policy.min_length << "}\n"
      << "lockout:\n"
      << "  native: " << lockout_text(config.native_lockout) << "\n"
      << "  web: " << lockout_text(config.web_lockout) << "\n"
      << "session_timeout_s: " << config.session_timeout.count() << "\n"
      << "options:\n"
      << "  web_server: " << yes_no(config.options.web_server) << "\n"
      << "  web_server_programming: " << yes_no(config.options.web_server_programming) << "\n"
      << "  front_panel_programming: " << yes_no(config.options.front_panel_programming) << "\n"
      << "  modbus_access: " << to_string(settings.modbus_access) << "\n"
      << "  time_sync: " << yes_no(settings.time_sync) << "\n"
      << "  revenue_lock: " << yes_no(config.options.revenue_lock) << "\n"
      << "  services: {ssh: " << yes_no(config.options.services.ssh)
      << ", sftp: " << yes_no(config.options.services.sftp) << ", telnet: " << yes_no(config.options.services.telnet)
      << ", ftp: " << yes_no(config.options.services.ftp) << "}\n"
      << "password_hashing: {log2_n: " << static_cast<int>(config.hashing.params.log2_n)
      << ", r: " << config.hashing.params.r << ", p: " << config.hashing.params.p
      << ", fleet_allowed: " << yes_no(config.hashing.fleet_allowed) << "}\n"
      << "event_priorities:\n";
  for (std::size_t i = 0; i < k_security_event_type_count; ++i) {
    const auto type = static_cast<SecurityEventType>(i);
    out << "  " << to_string(type) << ": " << static_cast<int>(config.priorities.of(type)) << "\n";
  }
  out << "users:\n";
  for (const auto& user : config.users) {
    out << "  - name: \"" << user.name << "\"\n"
        << "    permissions: " << permissions_text(user.permissions) << "\n";
  }
  return out.str();
}

proto::Result<AppliedDocument, std::string> apply_security_document(
    const SecurityConfig& current, const MeterSecuritySettings& current_settings, const SecurityDocument& document,
    const std::map<std::string, ResolvedPassword>& passwords, const SecurityLimits& limits) {
  AppliedDocument applied{current, current_settings, {}};
  auto& next = applied.config;
  if (document.mode && *document.mode != next.mode) {
    auto switched = switch_mode(next, *document.mode, limits);
    // The users section may be what makes the switch valid (e.g. back to one user);
    // the final validation below decides.
    if (switched) {
      next = *switched;
    } else {
      next.mode = *document.mode;
    }
  }
  overlay(next.policy.complexity, document.complexity);
  overlay(next.policy.min_length, document.min_length);
  overlay_lockout(next.native_lockout, document.native_lockout);
  overlay_lockout(next.web_lockout, document.web_lockout);
  overlay(next.session_timeout, document.session_timeout);
  overlay(next.options.web_server, document.web_server);
  overlay(next.options.web_server_programming, document.web_server_programming);
  overlay(next.options.front_panel_programming, document.front_panel_programming);
  overlay(next.options.revenue_lock, document.revenue_lock);
  overlay(next.options.services.ssh, document.ssh);
  overlay(next.options.services.sftp, document.sftp);
  overlay(next.options.services.telnet, document.telnet);
  overlay(next.options.services.ftp, document.ftp);
  overlay(next.hashing.params.log2_n, document.hash_log2_n);
  overlay(next.hashing.params.r, document.hash_r);
  overlay(next.hashing.params.p, document.hash_p);
  overlay(next.hashing.fleet_allowed, document.fleet_allowed);
  for (const auto& [type, priority] : document.priorities) next.priorities.set(type, priority);
  overlay(applied.settings.modbus_access, document.modbus_access);
  overlay(applied.settings.time_sync, document.time_sync);

  if (document.users_listed) {
    std::vector<UserAccount> users;
    for (const auto& entry : document.users) {
      const auto* existing = next.find_user(entry.name);
      UserAccount user = existing ? *existing : UserAccount{entry.name, "", PermissionSet{}, false};
      if (entry.permissions) user.permissions = *entry.permissions;
      if (entry.password_hash) {
        if (*entry.password_hash != user.password_hash) {
          user.password_hash = *entry.password_hash;
          user.default_credential = false;
        }
      } else if (entry.password_file) {
        const auto resolved = passwords.find(entry.name);
        if (resolved == passwords.end()) {
          return unexpected(entry.location + ": user '" + entry.name + "' names a password_file but no password "
                            "was sent for it");
        }
        if (resolved->second.new_hash) {
          user.password_hash = *resolved->second.new_hash;
          user.default_credential = resolved->second.is_factory_password;
        }
      } else if (!existing) {
        return unexpected(entry.location + ": user '" + entry.name +
                          "' is new; give it a password_file: or a password_hash:");
      }
      if (!existing && !entry.permissions) {
        return unexpected(entry.location + ": user '" + entry.name + "' is new; list its permissions");
      }
      users.push_back(std::move(user));
    }
    next.users = std::move(users);
  }
  if (auto valid = validate(next, limits); !valid) return unexpected(valid.error());
  applied.changes = describe_changes(current, next);
  if (applied.settings.modbus_access != current_settings.modbus_access) {
    applied.changes.push_back("options.modbus_access: " + std::string(to_string(current_settings.modbus_access)) +
                              " -> " + std::string(to_string(applied.settings.modbus_access)));
  }
  if (applied.settings.time_sync != current_settings.time_sync) {
    applied.changes.push_back(std::string("options.time_sync: ") + yes_no(current_settings.time_sync) + " -> " +
                              yes_no(applied.settings.time_sync));
  }
  return applied;
}

std::vector<std::string> describe_changes(const SecurityConfig& before, const SecurityConfig& after) {
  std::vector<std::string> changes;
  const auto changed = [&](const std::string& what, const std::string& from, const std::string& to) {
    if (from != to) changes.push_back(what + ": " + from + " -> " + to);
  };
  changed("mode", std::string(to_string(before.mode)), std::string(to_string(after.mode)));
  changed("policy.complexity", std::string(to_string(before.policy.complexity)),
          std::string(to_string(after.policy.complexity)));
  changed("policy.min_length", std::to_string(before.policy.min_length), std::to_string(after.policy.min_length));
  changed("lockout.native", lockout_text(before.native_lockout), lockout_text(after.native_lockout));
  changed("lockout.web", lockout_text(before.web_lockout), lockout_text(after.web_lockout));
  changed("session_timeout_s", std::to_string(before.session_timeout.count()),
          std::to_string(after.session_timeout.count()));
  changed("options.web_server", yes_no(before.options.web_server), yes_no(after.options.web_server));
  changed("options.web_server_programming", yes_no(before.options.web_server_programming),
          yes_no(after.options.web_server_programming));
  changed("options.front_panel_programming", yes_no(before.options.front_panel_programming),
          yes_no(after.options.front_panel_programming));
  changed("options.revenue_lock", yes_no(before.options.revenue_lock), yes_no(after.options.revenue_lock));
  changed("options.services.ssh", yes_no(before.options.services.ssh), yes_no(after.options.services.ssh));
  changed("options.services.sftp", yes_no(before.options.services.sftp), yes_no(after.options.services.sftp));
  changed("options.services.telnet", yes_no(before.options.services.telnet), yes_no(after.options.services.telnet));
  changed("options.services.ftp", yes_no(before.options.services.ftp), yes_no(after.options.services.ftp));
  changed("password_hashing", describe(before.hashing.params) + (before.hashing.fleet_allowed ? " fleet" : ""),
          describe(after.hashing.params) + (after.hashing.fleet_allowed ? " fleet" : ""));
  for (std::size_t i = 0; i < k_security_event_type_count; ++i) {
    const auto type = static_cast<SecurityEventType>(i);
    changed("event_priorities." + std::string(to_string(type)), std::to_string(before.priorities.of(type)),
            std::to_string(after.priorities.of(type)));
  }
  for (const auto& user : before.users) {
    if (!after.find_user(user.name)) changes.push_back("user " + user.name + " removed");
  }
  for (const auto& user : after.users) {
    const auto* old = before.find_user(user.name);
    if (!old) {
      changes.push_back("user " + user.name + " added with " + permissions_text(user.permissions));
      continue;
    }
    changed("user " + user.name + " permissions", permissions_text(old->permissions),
            permissions_text(user.permissions));
    if (old->password_hash != user.password_hash) changes.push_back("user " + user.name + ": password changed");
  }
  return changes;
}

}  // namespace sec
