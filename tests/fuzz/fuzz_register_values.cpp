// Parses command-line value text for every type; whatever encodes must decode to a value
// that encodes to the same registers again.
#include <cstdlib>
#include <string_view>

#include "libproto/codec/register_values.hpp"

using namespace proto::codec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto type : {ValueType::u16, ValueType::i16, ValueType::u32, ValueType::i32, ValueType::u64, ValueType::i64,
                    ValueType::float32, ValueType::float64, ValueType::string}) {
    for (auto order : {WordOrder::big, WordOrder::little}) {
      const auto words = encode_value(text, type, order, type == ValueType::string ? 8 : 0);
      if (!words) continue;
      const auto value = decode_value(*words, type, order);
      if (type == ValueType::string || type == ValueType::float32 || type == ValueType::float64) continue;
      const auto again = encode_value(format_value(value), type, order);
      if (!again || *again != *words) std::abort();
    }
  }
  return 0;
}
