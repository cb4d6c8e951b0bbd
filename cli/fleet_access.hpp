#pragma once
// What every command run over a fleet inventory shares (`config plan|drift|apply
// --inventory`, `upgrade apply --inventory`): picking the meters (inventory, --select,
// the shard), logging in on each with the inventory's credentials or the command line's,
// the progress display, and the JSON report file.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/fleet_runner.hpp"
#include "cli/inventory.hpp"
#include "cli/native_client.hpp"
#include "cli/native_session.hpp"

namespace cli {

// The fleet options as given on the command line.
struct FleetSelection {
  std::string inventory;  // the file
  std::vector<std::string> selectors;
  std::optional<std::string> shard;
  std::optional<unsigned> shard_count;
};

struct SelectedFleet {
  Inventory inventory;                // the whole file, parsed
  std::vector<InventoryMeter> meters;  // those selected, in the inventory's order
  std::optional<Shard> shard;
};

// Refuses options that name a single meter (--meter, --secure, --plain: the inventory
// says how to reach each meter), reads and parses the inventory, and selects the meters.
SelectedFleet select_fleet(const Context& context, const ConnectionOptions& connection,
                           const FleetSelection& selection, const EnvironmentLookup& environment);

// Reads an inventory file (at most proto::model::k_max_yaml_bytes).
std::string read_inventory_text(const std::string& file);

// Where the login password comes from for every meter of an inventory: the command line
// wins over the inventory (read once, before the threads start).
struct FleetLogin {
  std::string user;
  std::optional<std::string> password;
  std::string password_option;  // the command's option for it, named when a meter has no password
};
FleetLogin fleet_login(const ConnectionOptions& options, std::string_view password_option = "--login-password-file");

// Connects to one meter of the inventory and logs in: --user, else the meter's
// credentials' user, else the factory account; the password from the command line, else
// the meter's password_file or password_env. Never asks on the terminal (a first-seen
// TLS meter needs --accept-new or --ca-file).
std::unique_ptr<NativeClient> connect_to_inventory_meter(const InventoryMeter& meter, const ConnectionOptions& options,
                                                         const FleetLogin& login, const Context& context,
                                                         const EnvironmentLookup& environment,
                                                         const StatusCallback& status);
// The user connect_to_inventory_meter logs in as.
std::string inventory_login_user(const InventoryMeter& meter, const FleetLogin& login);

bool stderr_is_terminal();

// The live display on a terminal (nothing with --quiet), plain lines on standard error
// otherwise (only the failures with --quiet).
std::unique_ptr<FleetProgress> make_fleet_progress(const Context& context, const std::vector<InventoryMeter>& meters,
                                                   FleetCountLabels labels = {});

// Writes `document` with format_version to `file`, whole (atomically) and readable by
// others: a report is for CI artifacts and dashboards.
void write_report_file(const std::string& file, const nlohmann::json& document);

}  // namespace cli
