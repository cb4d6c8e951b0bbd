#include "cli/native_session.hpp"

#include <iostream>

#include "cli/meter_config.hpp"
#include "libsec/private_file.hpp"

namespace cli {

namespace {

// The vendor's ION protocol port, and the TLS port meterd opens by default.
constexpr std::uint16_t k_native_port = 7700;
constexpr std::uint16_t k_secure_port = 7443;
// The factory account of Legacy security support (vendor's July 2020 what's new).
constexpr const char* k_factory_user = "User1";

}  // namespace

void add_connection_options(CLI::App& command, ConnectionOptions& options, LoginPasswordOptions names) {
  command.add_flag("--secure", options.secure, "Use the TLS port (the default)");
  command.add_flag("--plain", options.plain, "Use the plain native port, without TLS");
  command.add_option("--user", options.user, "User to log in as (default: the named meter's, else User1)");
  if (names == LoginPasswordOptions::password) {
    command.add_option("--password-file", options.password.file, "Read the password from the first line of FILE");
    command.add_flag("--password-stdin", options.password.from_stdin, "Read the password from standard input");
  } else {
    command.add_option("--login-password-file", options.password.file,
                       "Read the login password from the first line of FILE");
    command.add_flag("--login-password-stdin", options.password.from_stdin,
                     "Read the login password from standard input");
  }
  command.add_option("--ca-file", options.ca_file, "Verify the meter's certificate against these CA certificates");
  command.add_flag("--accept-new", options.accept_new,
                   "Pin a meter seen for the first time without asking (a changed key still fails)");
}

Session open_session(const Context& context, const ConnectionOptions& options, bool needs_login) {
  if (options.secure && options.plain) throw CommandError{exit_usage, "--secure and --plain exclude each other"};
  auto probe = unwrap(resolve_meter(context.global.meter, "secure", k_secure_port));
  const bool secure = options.secure || (!options.plain && probe.tls.value_or(true));
  auto endpoint = secure ? probe : unwrap(resolve_meter(context.global.meter, "native", k_native_port));
  NativeEndpoint target{endpoint.host, endpoint.port, secure, std::nullopt, options.accept_new};
  if (!options.ca_file.empty()) target.ca_file = options.ca_file;
  Session session;
  session.endpoint = target;
  session.client = unwrap(NativeClient::connect(target, context.timeout()));
  const std::string user = !options.user.empty() ? options.user : endpoint.user;
  if (needs_login || !user.empty()) {
    const std::string login_user = user.empty() ? k_factory_user : user;
    PasswordOptions password = options.password;
    if (password.file.empty() && !password.from_stdin) password.file = endpoint.password_file;
    const auto secret = unwrap(obtain_password(password, login_user, session.client->describe()));
    const auto login = unwrap(session.client->login(login_user, secret));
    session.logged_in = true;
    session.user = login_user;
    session.password = secret;
    if (login.default_credential && !context.global.quiet) {
      std::cerr << "meterctl: warning: " << login_user << " on " << session.client->describe()
                << " still has the factory default password; change it\n";
    }
  }
  return session;
}

proto::Result<Session, CommandError> reconnect_session(const Session& session, std::chrono::milliseconds timeout) {
  Session fresh;
  fresh.endpoint = session.endpoint;
  // Pinned on the first connection: a changed key now fails rather than asks.
  fresh.endpoint.ask_to_pin = false;
  auto client = NativeClient::connect(fresh.endpoint, timeout);
  if (!client) return proto::unexpected(client.error());
  fresh.client = std::move(*client);
  if (session.logged_in) {
    if (auto login = fresh.client->login(session.user, session.password); !login) {
      return proto::unexpected(login.error());
    }
    fresh.logged_in = true;
    fresh.user = session.user;
    fresh.password = session.password;
  }
  return fresh;
}

std::string text_of(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  if (value.is_array()) {
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : " ") + text_of(item);
    return joined;
  }
  return value.dump();
}

std::string cell(const nlohmann::json& object, const char* key) { return text_of(object.value(key, nlohmann::json())); }

nlohmann::json request(Session& session, const std::string& operation, const nlohmann::json& arguments) {
  return unwrap(session.client->request(operation, arguments));
}

void print(const Context& context, const Report& report) {
  print_report(report, context.format(), std::cout, context.color());
}

void print_confirmation(const Context& context, const Report& report) {
  if (!context.global.quiet || context.format() != OutputFormat::table) print(context, report);
}

int deliver_export(const Context& context, const std::string& meter, const std::string& text, const std::string& out) {
  if (out.empty()) {
    std::cout << text << std::flush;
    return exit_ok;
  }
  if (auto written = sec::write_private_file_atomically(out, text); !written) {
    throw CommandError{exit_io, written.error()};
  }
  Report report;
  report.columns = {"meter", "file"};
  report.rows.push_back({meter, out});
  report.document = {{"meter", meter}, {"file", out}};
  print_confirmation(context, report);
  return exit_ok;
}

}  // namespace cli
