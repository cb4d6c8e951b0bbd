#pragma once
// The native management protocol's logic for one meter (man/meter-native-protocol.7.scd):
// the hello exchange, login and logout, legacy per-request authentication, and the
// operations. No I/O: the servers hand it decoded frames and send what it returns.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/meter.hpp"
#include "libproto/codec/native_frame.hpp"
#include "libproto/codec/native_messages.hpp"
#include "libsec/credentials.hpp"
#include "libsec/session_store.hpp"

namespace meterd {

// What the service knows of one connection.
struct NativeConnection {
  sec::ConnectionId id;
  bool secure = false;     // over the TLS port
  bool greeted = false;    // hello exchanged
};

struct NativeReply {
  proto::codec::native::MessageType type;
  std::uint32_t request_id = 0;
  nlohmann::json body;
  bool close_after = false;  // the connection ends once this is sent
};

class NativeService {
 public:
  NativeService(Meter& meter, sec::CredentialVerifier& credentials, sec::SessionStore& sessions);

  // Answers one frame whose header decoded; the body is still raw CBOR.
  NativeReply handle(NativeConnection& connection, const proto::codec::native::FrameHeader& header,
                     proto::codec::ByteView body);
  // The answer to a frame whose header could not be decoded; the connection then closes.
  static NativeReply frame_error(proto::codec::native::FrameError error);
  void connection_closed(const NativeConnection& connection);

 private:
  NativeReply operation(NativeConnection& connection, std::uint32_t request_id,
                        const proto::codec::native::OperationRequest& request);
  nlohmann::json identity() const;
  nlohmann::json read(const nlohmann::json& arguments, std::string& problem) const;

  Meter& meter_;
  sec::CredentialVerifier& credentials_;
  sec::SessionStore& sessions_;
};

}  // namespace meterd
