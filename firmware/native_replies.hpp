#pragma once
// Building the native protocol's replies, shared by the operation handlers.

#include <string>
#include <utility>

#include "firmware/native_service.hpp"

namespace meterd {

inline NativeReply error_reply(std::uint32_t request_id, proto::codec::native::ErrorCode code, std::string message,
                               bool close_after = false) {
  namespace native = proto::codec::native;
  native::ErrorMessage error{code, std::move(message), {}};
  if (code == native::ErrorCode::unsupported_version) error.supported_versions = {native::k_protocol_version};
  return {native::MessageType::error, request_id, native::to_body(native::Decoded{error}), close_after};
}

inline NativeReply response_reply(std::uint32_t request_id, nlohmann::json result) {
  namespace native = proto::codec::native;
  return {native::MessageType::response, request_id,
          native::to_body(native::Decoded{native::OperationResponse{std::move(result)}}), false};
}

}  // namespace meterd
