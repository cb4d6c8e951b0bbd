#pragma once
// The native management protocol's logic for one meter (man/meter-native-protocol.7.scd):
// the hello exchange, login and logout, legacy per-request authentication, lockouts,
// permissions and the operations. No I/O: the servers hand it decoded frames and send
// what it returns. Password checks are returned as deferred work for the server to run
// on its password worker, so a login never stalls the I/O thread.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/boot_control.hpp"
#include "firmware/config_runtime.hpp"
#include "firmware/meter.hpp"
#include "libproto/codec/native_frame.hpp"
#include "libproto/codec/native_messages.hpp"
#include "libsec/clock.hpp"
#include "libsec/lockout.hpp"
#include "libsec/session_store.hpp"

namespace meterd {

// What the service knows of one connection.
struct NativeConnection {
  sec::ConnectionId id;
  bool secure = false;     // over the TLS port
  bool greeted = false;    // hello exchanged
  sec::ConnectionType type = sec::ConnectionType::ethernet;
  // The last legacy per-request credentials verified on this connection, as a keyed
  // digest (never the password), so an old client that sends its password with every
  // request pays for one scrypt, not one per request.
  std::array<unsigned char, 32> verified_credentials{};
  bool has_verified_credentials = false;
};

struct NativeReply {
  proto::codec::native::MessageType type;
  std::uint32_t request_id = 0;
  nlohmann::json body;
  bool close_after = false;  // the connection ends once this is sent
};

struct DeferredReply;
struct UpgradeSession;
using NativeOutcome = std::variant<NativeReply, DeferredReply>;

// Work that must not run on the I/O thread (password hashing): `work` runs on the
// password worker and touches nothing but what it captured; `finish` then runs on the
// I/O thread and gives the answer (or more deferred work).
struct DeferredReply {
  std::function<void()> work;
  std::function<NativeOutcome(NativeConnection&)> finish;
};

// Who is asking, once authentication has been checked.
struct Caller {
  std::string user;  // empty: anonymous
  bool default_credential = false;
  bool over_session = false;
  sec::PermissionSet permissions;
  EventSource source;
};

class NativeService {
 public:
  // `clock` drives lockouts; `plain_port_open` feeds the security audit.
  NativeService(Meter& meter, sec::SessionStore& sessions, const sec::Clock& clock, bool plain_port_open);

  // Answers one frame whose header decoded; the body is still raw CBOR.
  NativeOutcome handle(NativeConnection& connection, const proto::codec::native::FrameHeader& header,
                       proto::codec::ByteView body);
  // The answer to a frame whose header could not be decoded; the connection then closes.
  static NativeReply frame_error(proto::codec::native::FrameError error);
  // The answer when the password worker's queue is full.
  static NativeReply busy(std::uint32_t request_id);
  void connection_closed(const NativeConnection& connection);

  Meter& meter() { return meter_; }
  sec::SessionStore& sessions() { return sessions_; }
  sec::LockoutTracker& lockouts() { return lockouts_; }
  // With a runtime, what it listens on now; otherwise what the constructor was told.
  bool plain_port_open() const;
  // The daemon's listeners and confirm timer for config.* (not owned; null: a service
  // with no listeners to change, which keeps every port as it is).
  void set_config_runtime(ConfigRuntime* runtime) { config_runtime_ = runtime; }
  ConfigRuntime& config_runtime();
  // How this firmware was booted and how it asks for a reboot (not owned; null: a
  // service with no daemon around it, which is never supervised).
  void set_boot_control(BootControl* control) { boot_control_ = control; }
  BootControl* boot_control() const { return boot_control_; }
  // The firmware upload's state between upgrade.* requests (upgrade_operations.hpp);
  // made there on first use.
  std::shared_ptr<UpgradeSession>& upgrade_session() { return upgrade_session_; }

 private:
  NativeOutcome login(NativeConnection& connection, std::uint32_t id, const proto::codec::native::Login& login);
  NativeOutcome operation(NativeConnection& connection, std::uint32_t request_id,
                          const proto::codec::native::OperationRequest& request);
  NativeOutcome execute(NativeConnection& connection, std::uint32_t request_id,
                        const proto::codec::native::OperationRequest& request, const Caller& caller);
  // After a password check: counts the failure or clears the counter, and logs.
  void record_login_attempt(const sec::LockoutKey& key, std::string_view password, bool accepted,
                            const EventSource& source);
  Caller caller_for(const std::string& user, const NativeConnection& connection, bool over_session) const;
  nlohmann::json identity() const;
  nlohmann::json read(const nlohmann::json& arguments, std::string& problem) const;

  Meter& meter_;
  sec::SessionStore& sessions_;
  sec::LockoutTracker lockouts_;
  sec::FailedLoginDeduplicator failed_logins_;
  bool plain_port_open_;
  ConfigRuntime* config_runtime_ = nullptr;
  BootControl* boot_control_ = nullptr;
  std::shared_ptr<UpgradeSession> upgrade_session_;
};

// The source of events caused over a connection.
EventSource event_source(const NativeConnection& connection, std::string user);

}  // namespace meterd
