// Decodes a body as every message type. A message that decodes must encode to a body
// that decodes to the same message again.
#include <cstdlib>

#include "libproto/codec/native_messages.hpp"

using namespace proto::codec;
using namespace proto::codec::native;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto type = static_cast<MessageType>(data[0]);
  if (!is_known_message_type(data[0])) return 0;
  const auto body = decode_body(ByteView(reinterpret_cast<const std::byte*>(data + 1), size - 1));
  if (!body) return 0;
  const auto message = decode_message(type, *body);
  if (!message) return 0;
  if (message_type(*message) != type) std::abort();
  const auto cbor = encode_body(to_body(*message));
  const auto again = decode_body(ByteView(reinterpret_cast<const std::byte*>(cbor.data()), cbor.size()));
  if (!again) std::abort();
  const auto message_again = decode_message(type, *again);
  if (!message_again || to_body(*message_again) != to_body(*message)) std::abort();
  return 0;
}
