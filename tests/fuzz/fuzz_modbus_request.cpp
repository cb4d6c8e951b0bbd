// Decodes a request PDU as a server does; an accepted request must re-encode to the same
// bytes, and a rejected one must name a real exception code.
#include <array>
#include <cstdlib>
#include <cstring>

#include "libproto/codec/modbus_pdu.hpp"

using namespace proto::codec;
using namespace proto::codec::modbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(reinterpret_cast<const std::byte*>(data), size);
  const auto request = decode_request(input);
  if (!request) {
    const auto code = static_cast<int>(request.error().code);
    if (code != 1 && code != 3) std::abort();
    return 0;
  }
  std::array<std::byte, k_max_pdu_size> out{};
  const auto written = encode_request(*request, out);
  if (!written || *written != size || std::memcmp(out.data(), data, size) != 0) std::abort();
  return 0;
}
