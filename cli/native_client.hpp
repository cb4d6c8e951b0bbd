#pragma once
// A client of the native management protocol (meter-native-protocol(7)) over plain TCP or
// TLS. TLS peers are verified against a CA file or by pinning their public-key fingerprint
// in the known-meters file (SSH style); there is no way to skip verification.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/exit_codes.hpp"
#include "libproto/codec/native_messages.hpp"
#include "libproto/result.hpp"

namespace cli {

struct NativeEndpoint {
  std::string host;
  std::uint16_t port = 0;
  bool secure = true;
  std::optional<std::filesystem::path> ca_file;  // none: pin in the known-meters file
  bool accept_new = false;                        // pin a meter seen for the first time without asking
  // false: a meter seen for the first time fails instead of asking on the terminal, for
  // the fleet runner, whose threads cannot share one prompt (--accept-new still pins).
  bool ask_to_pin = true;
};

std::filesystem::path known_meters_file();

class NativeClient {
 public:
  // Connects, verifies the peer (TLS) and exchanges hello.
  static proto::Result<std::unique_ptr<NativeClient>, CommandError> connect(const NativeEndpoint& endpoint,
                                                                            std::chrono::milliseconds timeout);
  ~NativeClient();

  // Logs in; later requests carry the session token.
  proto::Result<proto::codec::native::LoginOk, CommandError> login(const std::string& user, const std::string& password);
  proto::Result<nlohmann::json, CommandError> request(const std::string& operation,
                                                      const nlohmann::json& arguments = nlohmann::json::object());
  void logout();
  // How long each later exchange waits for its answer (connect's timeout until then).
  void set_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds timeout() const;

  const std::string& serial_number() const { return serial_number_; }
  std::string describe() const;

  struct Transport;

 private:
  explicit NativeClient(std::unique_ptr<Transport> transport);
  proto::Result<proto::codec::native::Decoded, CommandError> exchange(const proto::codec::native::Decoded& message);

  std::unique_ptr<Transport> transport_;
  std::uint32_t next_request_id_ = 1;
  std::string token_;
  std::string serial_number_;
};

}  // namespace cli
