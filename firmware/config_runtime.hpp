#pragma once
// What a configuration change needs from the running daemon beyond the Meter: listeners
// opened and closed, and the commit-confirm timer. The native service calls it; meterd's
// daemon implements it per meter, tests with a fake. The order is the one that makes an
// apply all or nothing (config-protocol):
//   1. prepare(wanted): bind every listener the new configuration needs and is not open
//      yet; a port that cannot be bound is an error and nothing has changed;
//   2. the Meter saves the configuration (one atomic write);
//   3. commit(): the new listeners serve; the ones no longer wanted stop accepting once
//      the reply is on its way (connections they accepted keep going until they end);
//   or abandon() instead of 3 when 2 failed.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "libproto/result.hpp"

namespace meterd {

enum class Listener { modbus_tcp, native, secure_native };

// The port of each service, or nullopt for a service that does not listen. Port 0 asks
// the kernel for a free port.
struct ListenerPorts {
  std::optional<std::uint16_t> modbus_tcp;
  std::optional<std::uint16_t> native;
  std::optional<std::uint16_t> secure_native;

  std::optional<std::uint16_t>& operator[](Listener which) {
    return which == Listener::modbus_tcp ? modbus_tcp : which == Listener::native ? native : secure_native;
  }
  const std::optional<std::uint16_t>& operator[](Listener which) const {
    return which == Listener::modbus_tcp ? modbus_tcp : which == Listener::native ? native : secure_native;
  }
  friend bool operator==(const ListenerPorts&, const ListenerPorts&) = default;
};

inline constexpr Listener k_listeners[] = {Listener::modbus_tcp, Listener::native, Listener::secure_native};

class ConfigRuntime {
 public:
  virtual ~ConfigRuntime() = default;

  // The ports this meter listens on now.
  virtual ListenerPorts listening() const = 0;
  // The port a service takes when enabled without a configured port: its command-line
  // option (consecutive in a fleet) or the built-in default; 0 when the kernel picked it.
  virtual std::uint16_t fallback_port(Listener which) const = 0;
  // A service the command line keeps closed (--no-native, --no-secure) whatever the
  // configuration says: the flag wins.
  virtual bool kept_closed(Listener which) const = 0;
  // Ports the other meters of this process listen on (a fleet), which this one may not take.
  virtual std::vector<std::uint16_t> ports_of_other_meters() const = 0;

  virtual proto::Result<proto::Ok, std::string> prepare(const ListenerPorts& wanted) = 0;
  virtual void commit() = 0;
  virtual void abandon() = 0;

  // Calls back (config_operations.hpp, expire_pending_confirm) at `unix_deadline`, wall clock.
  virtual void arm_confirm_timer(std::int64_t unix_deadline) = 0;
  virtual void cancel_confirm_timer() = 0;
};

}  // namespace meterd
