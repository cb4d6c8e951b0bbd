#include "cli/users_commands.hpp"

#include "cli/native_session.hpp"
#include "libsec/permissions.hpp"

namespace cli {

namespace {

struct UsersOptions : ConnectionOptions {
  std::string name;
  std::string permissions;       // PERM[,PERM...]
  PasswordOptions new_password;  // of `add` and `passwd`
};

// Both passwords cannot come from the one standard input.
void check_password_sources(const UsersOptions& options) {
  if (options.password.from_stdin && options.new_password.from_stdin) {
    throw CommandError{exit_usage,
                       "--login-password-stdin and --password-stdin both read standard input; give one of the "
                       "passwords with --login-password-file or --password-file"};
  }
}

Session login(const Context& context, const UsersOptions& options) { return open_session(context, options, true); }

const std::vector<std::string> k_user_columns = {"name", "permissions", "default_password"};

Report user_report(const std::string& meter, const nlohmann::json& user) {
  Report report;
  report.columns = k_user_columns;
  report.rows.push_back(user_row(user));
  report.document = {{"meter", meter}, {"user", user}};
  return report;
}

// For the outcome of an action with no other result: the user and what happened.
Report outcome_report(const std::string& meter, const std::string& user, const std::string& outcome,
                      nlohmann::json document) {
  Report report;
  report.columns = {"user", "result"};
  report.rows.push_back({user, outcome});
  report.document = std::move(document);
  report.document["meter"] = meter;
  report.document["user"] = user;
  return report;
}

int run_list(Context& context, const UsersOptions& options) {
  auto session = login(context, options);
  const auto result = request(session, "users.list");
  Report report;
  report.columns = k_user_columns;
  for (const auto& user : result.at("users")) report.rows.push_back(user_row(user));
  report.document = {{"meter", session.client->describe()},
                     {"users", result.at("users")},
                     {"max_users", result.value("max_users", nlohmann::json())},
                     {"mode", result.value("mode", nlohmann::json())}};
  print(context, report);
  session.client->logout();
  return exit_ok;
}

int run_add(Context& context, const UsersOptions& options) {
  check_password_sources(options);
  const auto permissions = unwrap(permission_names(options.permissions));
  const auto password = unwrap(obtain_new_password(options.new_password, options.name));
  auto session = login(context, options);
  const auto result =
      request(session, "users.add", {{"name", options.name}, {"password", password}, {"permissions", permissions}});
  print_confirmation(context, user_report(session.client->describe(), result.at("user")));
  session.client->logout();
  return exit_ok;
}

int run_remove(Context& context, const UsersOptions& options) {
  auto session = login(context, options);
  request(session, "users.remove", {{"name", options.name}});
  print_confirmation(context, outcome_report(session.client->describe(), options.name, "removed", {{"removed", true}}));
  session.client->logout();
  return exit_ok;
}

int run_passwd(Context& context, const UsersOptions& options) {
  check_password_sources(options);
  const auto password = unwrap(obtain_new_password(options.new_password, options.name));
  auto session = login(context, options);
  request(session, "users.passwd", {{"name", options.name}, {"password", password}});
  print_confirmation(context, outcome_report(session.client->describe(), options.name, "password changed",
                                             {{"password_changed", true}}));
  session.client->logout();
  return exit_ok;
}

int change_permissions(Context& context, const UsersOptions& options, const std::string& operation) {
  const auto permissions = unwrap(permission_names(options.permissions));
  auto session = login(context, options);
  const auto result = request(session, operation, {{"name", options.name}, {"permissions", permissions}});
  print_confirmation(context, user_report(session.client->describe(), result.at("user")));
  session.client->logout();
  return exit_ok;
}

int run_grant(Context& context, const UsersOptions& options) {
  return change_permissions(context, options, "users.grant");
}

int run_revoke(Context& context, const UsersOptions& options) {
  return change_permissions(context, options, "users.revoke");
}

int run_unlock(Context& context, const UsersOptions& options) {
  auto session = login(context, options);
  const auto result = request(session, "users.unlock", {{"name", options.name}});
  const auto count = result.value("unlocked", 0);
  std::string outcome = "was not locked out";
  if (count > 0) outcome = "unlocked (" + std::to_string(count) + (count == 1 ? " lockout)" : " lockouts)");
  print_confirmation(context, outcome_report(session.client->describe(), options.name, outcome, {{"unlocked", count}}));
  session.client->logout();
  return exit_ok;
}

int run_lockouts(Context& context, const UsersOptions& options) {
  auto session = login(context, options);
  const auto result = request(session, "users.lockouts");
  Report report;
  report.columns = {"user", "protocol", "connection", "failures", "locked", "remaining_s"};
  for (const auto& lockout : result.at("lockouts")) report.rows.push_back(lockout_row(lockout));
  report.document = {{"meter", session.client->describe()}, {"lockouts", result.at("lockouts")}};
  print(context, report);
  session.client->logout();
  return exit_ok;
}

std::string permission_help() {
  std::string names;
  for (const auto permission : sec::k_all_permissions) names += std::string(sec::to_string(permission)) + ", ";
  return "PERM[,PERM...]: " + names + "or all";
}

}  // namespace

proto::Result<std::vector<std::string>, CommandError> permission_names(std::string_view list) {
  auto parsed = sec::parse_permission_list(list);
  if (!parsed) return proto::unexpected(CommandError{exit_usage, parsed.error()});
  std::vector<std::string> names;
  for (const auto name : parsed->names()) names.emplace_back(name);
  return names;
}

std::vector<std::string> user_row(const nlohmann::json& user) {
  std::string permissions;
  sec::PermissionSet held;
  for (const auto& permission : user.value("permissions", nlohmann::json::array())) {
    const auto name = text_of(permission);
    permissions += (permissions.empty() ? "" : ",") + name;
    if (const auto known = sec::parse_permission(name)) held.add(*known);
  }
  // Seven names in a column are hard to read; an administrator's account holds them all.
  if (held == sec::PermissionSet::all()) permissions = "all";
  return {cell(user, "name"), permissions, user.value("default_credential", false) ? "yes" : "no"};
}

std::vector<std::string> lockout_row(const nlohmann::json& lockout) {
  const bool locked = lockout.value("locked", false);
  std::string remaining;
  if (locked) {
    remaining = lockout.value("until_unlocked", false) ? "until unlocked" : cell(lockout, "remaining_s");
  }
  return {cell(lockout, "user"),     cell(lockout, "protocol"), cell(lockout, "connection"),
          cell(lockout, "failures"), locked ? "yes" : "no",     remaining};
}

void add_users_commands(CLI::App& app, Context& context) {
  auto options = std::make_shared<UsersOptions>();
  auto* users = app.add_subcommand("users", "User accounts, their passwords and permissions, and lockouts");
  users->require_subcommand(1);
  users->fallthrough();
  const auto command = [&](const std::string& name, const std::string& description,
                           int (*run)(Context&, const UsersOptions&)) {
    auto* sub = users->add_subcommand(name, description);
    sub->callback([&context, options, run] { context.exit_code = run_checking_answers(run, context, *options); });
    return sub;
  };
  const auto connect = [options](CLI::App* sub) {
    add_connection_options(*sub, *options, LoginPasswordOptions::login_password);
  };
  const auto name = [options](CLI::App* sub) { sub->add_option("name", options->name, "User name")->required(); };
  const auto new_password = [options](CLI::App* sub) {
    auto* file = sub->add_option("--password-file", options->new_password.file,
                                 "Read the new password from the first line of FILE");
    auto* from_stdin = sub->add_flag("--password-stdin", options->new_password.from_stdin,
                                     "Read the new password from standard input");
    file->excludes(from_stdin);
  };

  connect(command("list", "List the user accounts and their permissions", run_list));

  auto* add = command("add", "Add a user account", run_add);
  name(add);
  add->add_option("--grant", options->permissions, "Permissions, " + permission_help())->required();
  new_password(add);
  connect(add);

  auto* remove = command("remove", "Remove a user account", run_remove);
  name(remove);
  connect(remove);

  auto* passwd = command("passwd", "Change a user's password", run_passwd);
  name(passwd);
  new_password(passwd);
  connect(passwd);

  auto* grant = command("grant", "Give a user permissions", run_grant);
  name(grant);
  grant->add_option("permissions", options->permissions, permission_help())->required();
  connect(grant);

  auto* revoke = command("revoke", "Take permissions from a user", run_revoke);
  name(revoke);
  revoke->add_option("permissions", options->permissions, permission_help())->required();
  connect(revoke);

  auto* unlock = command("unlock", "End a user's lockouts, on every protocol and connection", run_unlock);
  name(unlock);
  connect(unlock);

  connect(command("lockouts", "List the failed logins and lockouts the meter holds", run_lockouts));
}

}  // namespace cli
