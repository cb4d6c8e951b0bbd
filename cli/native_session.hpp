#pragma once
// What every command over the native management protocol shares: the connection options
// (--secure, --plain, --user, the login password, --ca-file, --accept-new), opening a
// session on the meter, and turning results into output.

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/native_client.hpp"
#include "cli/password_source.hpp"

namespace cli {

struct ConnectionOptions {
  bool secure = false;
  bool plain = false;
  std::string user;
  PasswordOptions password;  // the login password
  std::string ca_file;
  bool accept_new = false;
};

// Which options carry the login password. Commands that also read a new password
// (`users add`, `users passwd`) give --password-file and --password-stdin to the new one,
// so their command groups name the login password's options --login-password-*.
enum class LoginPasswordOptions {
  password,        // --password-file, --password-stdin
  login_password,  // --login-password-file, --login-password-stdin
};

void add_connection_options(CLI::App& command, ConnectionOptions& options,
                            LoginPasswordOptions names = LoginPasswordOptions::password);

struct Session {
  std::unique_ptr<NativeClient> client;
  bool logged_in = false;
  std::string user;  // the user logged in as, when logged_in
  // What reconnect_session needs to open another connection like this one.
  NativeEndpoint endpoint;
  std::string password;  // the login password, when logged_in
};

// Connects; logs in when the operation needs it or a user was given. The user is --user,
// else the named meter's, else the factory account; the password comes from the options,
// else the named meter's password_file, else a prompt.
Session open_session(const Context& context, const ConnectionOptions& options, bool needs_login);

// A fresh connection to the meter of `session`, logged in as that one is, without asking
// for anything again: for a command that outlives its connection (`upgrade apply` waits
// for the meter across a reboot).
proto::Result<Session, CommandError> reconnect_session(const Session& session, std::chrono::milliseconds timeout);

template <typename T>
T unwrap(proto::Result<T, CommandError> result) {
  if (!result) throw result.error();
  return std::move(*result);
}

// Runs a command; an answer that lacks a member the command reads, or has one of another
// type, is a malformed answer (exit_protocol), not an internal error.
template <typename Options>
int run_checking_answers(int (*run)(Context&, const Options&), Context& context, const Options& options) {
  try {
    return run(context, options);
  } catch (const nlohmann::json::exception& error) {
    throw CommandError{exit_protocol, std::string("the meter's answer is not what meterctl expects: ") + error.what()};
  }
}

// A JSON value as one table cell: strings bare, arrays joined by blanks, null empty.
std::string text_of(const nlohmann::json& value);

// A member of an answer's object as one table cell; a missing member is empty.
std::string cell(const nlohmann::json& object, const char* key);

// Sends one operation on the session and returns its result; a refusal ends the command.
nlohmann::json request(Session& session, const std::string& operation,
                       const nlohmann::json& arguments = nlohmann::json::object());

void print(const Context& context, const Report& report);
// An exported document (security or configuration) on standard output, or written to
// `out` owner-only, since it maps the meter's accounts and defences; then confirmed.
int deliver_export(const Context& context, const std::string& meter, const std::string& text, const std::string& out);
// For a report that only confirms a change: --quiet leaves it out in the table format.
void print_confirmation(const Context& context, const Report& report);

}  // namespace cli
