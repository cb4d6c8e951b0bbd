// Decodes one RTU frame; a frame that passes the CRC must re-encode to the same bytes.
#include <array>
#include <cstdlib>
#include <cstring>

#include "libproto/codec/modbus_frame.hpp"

using namespace proto::codec;
using namespace proto::codec::modbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(reinterpret_cast<const std::byte*>(data), size);
  const auto frame = decode_rtu_frame(input);
  if (!frame) return 0;
  std::array<std::byte, k_max_rtu_adu_size> out{};
  const auto written = encode_rtu_frame(frame->unit_id, frame->pdu, out);
  if (!written || *written != size || std::memcmp(out.data(), data, size) != 0) std::abort();
  return 0;
}
