#include "cli/fleet_access.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "libproto/model/yaml_document.hpp"
#include "libsec/private_file.hpp"

namespace cli {

namespace {

// The factory account of Legacy security support, as `open_session` logs in without --user.
constexpr const char* k_factory_user = "User1";
// An inventory is a YAML document like any other the project reads.
constexpr std::size_t k_max_inventory_size = proto::model::k_max_yaml_bytes;
constexpr int k_report_mode = 0644;

}  // namespace

SelectedFleet select_fleet(const Context& context, const ConnectionOptions& connection,
                           const FleetSelection& selection, const EnvironmentLookup& environment) {
  if (!context.global.meter.empty()) {
    throw CommandError{exit_usage, "--meter and --inventory exclude each other: the inventory names the meters"};
  }
  if (connection.secure || connection.plain) {
    throw CommandError{exit_usage, "--secure and --plain do not apply to an inventory: set tls per meter there"};
  }
  std::vector<Selector> selectors;
  for (const auto& text : selection.selectors) {
    auto selector = parse_selector(text);
    if (!selector) throw CommandError{exit_usage, selector.error()};
    selectors.push_back(std::move(*selector));
  }
  auto shard = resolve_shard(selection.shard, selection.shard_count, environment);
  if (!shard) throw CommandError{exit_usage, shard.error()};
  auto inventory = parse_inventory(read_inventory_text(selection.inventory), selection.inventory);
  if (!inventory) throw CommandError{exit_data, inventory.error()};
  SelectedFleet fleet;
  fleet.meters = select_meters(*inventory, selectors, *shard);
  fleet.inventory = std::move(*inventory);
  fleet.shard = *shard;
  return fleet;
}

std::string read_inventory_text(const std::string& file) {
  auto text = sec::read_file_if_exists(file, k_max_inventory_size);
  if (!text) throw CommandError{exit_io, text.error()};
  if (!*text) throw CommandError{exit_io, "cannot read the inventory " + file + ": no such file"};
  return std::move(**text);
}

FleetLogin fleet_login(const ConnectionOptions& options, std::string_view password_option) {
  FleetLogin login;
  login.user = options.user;
  login.password_option = password_option;
  if (!options.password.file.empty() || options.password.from_stdin) {
    login.password = unwrap(obtain_password(options.password, options.user.empty() ? "every meter" : options.user,
                                            "the inventory's meters"));
  }
  return login;
}

std::string inventory_login_user(const InventoryMeter& meter, const FleetLogin& login) {
  return !login.user.empty()               ? login.user
         : !meter.credentials.user.empty() ? meter.credentials.user
                                           : std::string(k_factory_user);
}

std::unique_ptr<NativeClient> connect_to_inventory_meter(const InventoryMeter& meter, const ConnectionOptions& options,
                                                         const FleetLogin& login, const Context& context,
                                                         const EnvironmentLookup& environment,
                                                         const StatusCallback& status) {
  std::string password;
  if (login.password) {
    password = *login.password;
  } else if (meter.credentials.password_file) {
    password = unwrap(read_password_file(meter.credentials.password_file->string(), OpenPasswordFile::refuse));
  } else if (meter.credentials.password_env) {
    const auto value = environment(*meter.credentials.password_env);
    if (!value) {
      throw CommandError{exit_usage, "the environment variable " + *meter.credentials.password_env +
                                         " (credentials of meter " + meter.name + ") is not set"};
    }
    password = *value;
  } else {
    throw CommandError{exit_usage, "no login password for meter " + meter.name +
                                       ": give credentials (password_file or password_env) in the inventory, or " +
                                       login.password_option};
  }
  status("connecting");
  NativeEndpoint endpoint{meter.address, meter.port, meter.tls, std::nullopt, options.accept_new};
  endpoint.ask_to_pin = false;
  if (!options.ca_file.empty()) endpoint.ca_file = options.ca_file;
  auto client = unwrap(NativeClient::connect(endpoint, context.timeout()));
  status("logging in");
  unwrap(client->login(inventory_login_user(meter, login), password));
  return client;
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

std::unique_ptr<FleetProgress> make_fleet_progress(const Context& context, const std::vector<InventoryMeter>& meters,
                                                   FleetCountLabels labels) {
  if (context.global.quiet && stderr_is_terminal()) return make_silent_progress();
  if (stderr_is_terminal()) {
    const char* no_color = std::getenv("NO_COLOR");
    return make_live_progress(STDERR_FILENO, meters, !context.global.no_color && !(no_color && *no_color),
                              std::move(labels));
  }
  return make_plain_progress(std::cerr, context.global.quiet);
}

void write_report_file(const std::string& file, const nlohmann::json& document) {
  nlohmann::json file_document = {{"format_version", k_json_format_version}};
  file_document.update(document);
  if (auto written = sec::write_file_atomically(file, file_document.dump(2) + "\n", k_report_mode); !written) {
    throw CommandError{exit_io, "the report was not written: " + written.error()};
  }
}

}  // namespace cli
