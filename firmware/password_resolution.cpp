#include "firmware/password_resolution.hpp"

#include <algorithm>
#include <memory>

#include "firmware/native_replies.hpp"
#include "libsec/profile_rules.hpp"

namespace meterd {

namespace native = proto::codec::native;
using native::ErrorCode;
using nlohmann::json;

proto::Result<std::map<std::string, std::string>, std::string> read_sent_passwords(
    const json& arguments, const std::vector<sec::DocumentUser>& users, std::string_view operation) {
  const std::string name_of_operation(operation);
  std::map<std::string, std::string> passwords;
  if (arguments.is_object() && arguments.contains("passwords")) {
    const auto& given = arguments.at("passwords");
    if (!given.is_object()) return proto::unexpected(name_of_operation + ": passwords must map user names to passwords");
    for (const auto& [name, password] : given.items()) {
      if (!password.is_string()) {
        return proto::unexpected(name_of_operation + ": the password for " + name + " must be text");
      }
      passwords[name] = password.get<std::string>();
    }
  }
  for (const auto& user : users) {
    if (user.password_file && !passwords.count(user.name)) {
      return proto::unexpected(user.location + ": user '" + user.name + "' names a password_file but none was sent");
    }
  }
  for (const auto& entry : passwords) {
    const auto& name = entry.first;
    const bool listed = std::any_of(users.begin(), users.end(), [&](const sec::DocumentUser& user) {
      return user.name == name && user.password_file;
    });
    if (!listed) {
      return proto::unexpected(name_of_operation + ": a password was sent for '" + name + "', which has no password_file");
    }
  }
  return passwords;
}

namespace {

// "user bob: password is longer than the maximum length of 6 characters; 4.0.0 allows 16":
// a length limit of the firmware names the firmware that lifts it, as a profile's do.
std::string rejection_message(const Meter& meter, const std::string& name, const std::string& password,
                              const sec::PasswordRejection& rejection, const sec::SecurityConfig& rules) {
  auto message = "user " + name + ": " + rejection.message;
  if (rejection.rule == sec::PasswordRule::too_long && !sec::is_single_password_mode(rules.mode)) {
    message += sec::limit_lifted_note(meter.model(), meter.capabilities(), proto::model::Limit::password_max_length,
                                      static_cast<std::int64_t>(password.size()));
  }
  return message;
}

}  // namespace

NativeOutcome resolve_passwords(const Meter& meter, std::uint32_t request_id, std::map<std::string, std::string> passwords,
                                const sec::SecurityConfig& rules, const sec::ScryptParams& params,
                                std::function<NativeOutcome(const ResolvedPasswords&)> finish) {
  struct Job {
    std::map<std::string, std::string> passwords;
    std::map<std::string, std::string> current_hashes;
    sec::ScryptParams params;
    ResolvedPasswords resolved;
    bool failed = false;
  };
  auto job = std::make_shared<Job>();
  job->passwords = std::move(passwords);
  job->params = params;
  for (const auto& [name, password] : job->passwords) {
    const auto* existing = meter.security().find_user(name);
    if (auto checked = sec::check_new_password(rules, meter.security_limits(), password); !checked && !existing) {
      return error_reply(request_id, ErrorCode::invalid_argument,
                         rejection_message(meter, name, password, checked.error(), rules));
    }
    // Whether an existing user's password is new is known after hashing.
    if (existing) job->current_hashes[name] = existing->password_hash;
  }
  if (!sec::params_in_bounds(job->params)) {
    return error_reply(request_id, ErrorCode::invalid_argument, "password_hashing parameters are out of bounds");
  }
  DeferredReply deferred;
  deferred.work = [job] {
    for (const auto& [name, password] : job->passwords) {
      const auto current = job->current_hashes.find(name);
      sec::ResolvedPassword resolved;
      resolved.is_factory_password = password == sec::k_factory_password;
      if (current == job->current_hashes.end() || !sec::verify_password(password, current->second)) {
        auto hash = sec::hash_password(password, job->params);
        if (!hash) {
          job->failed = true;
          return;
        }
        resolved.new_hash = std::move(*hash);
      }
      job->resolved[name] = std::move(resolved);
    }
  };
  deferred.finish = [&meter, request_id, job, rules, finish = std::move(finish)](NativeConnection&) -> NativeOutcome {
    if (job->failed) return error_reply(request_id, ErrorCode::internal_error, "password hashing failed; nothing changed");
    for (const auto& [name, resolved] : job->resolved) {
      if (!resolved.new_hash) continue;
      const auto& password = job->passwords.at(name);
      if (auto checked = sec::check_new_password(rules, meter.security_limits(), password); !checked) {
        return error_reply(request_id, ErrorCode::invalid_argument,
                           rejection_message(meter, name, password, checked.error(), rules));
      }
    }
    return finish(job->resolved);
  };
  return deferred;
}

}  // namespace meterd
