#pragma once
// `meterctl users`: the meter's user accounts (Advanced security: up to 50, each with its
// own password and permissions), their passwords, and the lockouts after failed logins.
// Every subcommand logs in and needs the Security Config permission, except `passwd` of
// the account logged in as. See meterctl-users(1).

#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "libproto/result.hpp"

namespace cli {

void add_users_commands(CLI::App& app, Context& context);

// The pure parts, for the tests.

// The kebab-case names of a PERM[,PERM...] list ("all" for every permission), in the
// order of the seed's table, each once; an unknown or empty name is a usage error.
proto::Result<std::vector<std::string>, CommandError> permission_names(std::string_view list);

// A row of the users table: name, permissions (comma-separated), default_password (yes/no).
std::vector<std::string> user_row(const nlohmann::json& user);

// A row of the lockouts table: user, protocol, connection, failures, locked, remaining_s
// ("until unlocked" for a lockout only an unlock ends, empty when not locked).
std::vector<std::string> lockout_row(const nlohmann::json& lockout);

}  // namespace cli
