// Decodes a byte stream as consecutive native protocol frames; each frame must re-encode
// to the same bytes.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "libproto/codec/native_frame.hpp"

using namespace proto::codec;
using namespace proto::codec::native;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView input(reinterpret_cast<const std::byte*>(data), size);
  while (!input.empty()) {
    const auto frame = decode_frame(input);
    if (!frame) break;
    std::vector<std::byte> out(frame->consumed);
    const auto written = encode_frame(frame->header.type, frame->header.request_id, frame->body, out);
    if (!written || *written != frame->consumed || std::memcmp(out.data(), input.data(), *written) != 0) std::abort();
    input = input.subspan(frame->consumed);
  }
  return 0;
}
