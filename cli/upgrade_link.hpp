#pragma once
// The meter an upgrade talks to, over a connection it may replace: the transfer
// reconnects after a dropped connection, and the health check opens a fresh one while
// the meter reboots into its new firmware. The upgrade logic (cli/upgrade_apply.hpp,
// cli/package_upload.hpp) sees only this interface, so its tests drive it with a fake
// meter; make_client_link is the real one over the native protocol.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/exit_codes.hpp"
#include "cli/native_session.hpp"
#include "libproto/result.hpp"

namespace cli {

class UpgradeLink {
 public:
  virtual ~UpgradeLink() = default;
  // One operation on the current connection. `timeout`: how long to wait for the answer
  // (nullopt: --timeout). A dropped connection is exit_unavailable, no answer in time
  // exit_timeout; either leaves no usable connection until reconnect().
  virtual proto::Result<nlohmann::json, CommandError> request(const std::string& operation,
                                                              const nlohmann::json& arguments,
                                                              std::optional<std::chrono::milliseconds> timeout) = 0;
  // Drops the current connection and opens a fresh one, logged in as before.
  virtual proto::Result<proto::Ok, CommandError> reconnect() = 0;
  // Takes a backup of the meter into `directory` (cli/backup_commands.hpp); returns its
  // file. Errors are thrown (CommandError), as take_backup does.
  virtual std::filesystem::path backup(const std::filesystem::path& directory) = 0;
  // "host:port", for messages.
  virtual std::string describe() const = 0;
};

// Opens a fresh connection, logged in (reconnect_session, or an inventory meter's login).
using SessionOpener = std::function<proto::Result<Session, CommandError>()>;

// The link over `first` (connected and logged in); reconnect() calls `reopen`. Each
// request waits `timeout` unless told otherwise. The session is logged out at the end
// if its connection still works.
std::unique_ptr<UpgradeLink> make_client_link(Session first, SessionOpener reopen, std::chrono::milliseconds timeout);

}  // namespace cli
