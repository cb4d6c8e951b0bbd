#include "libproto/codec/register_values.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace proto::codec;

TEST_CASE("float32 uses big word order by default and swaps with little", "[values]") {
  const auto big = encode_value("230.5", ValueType::float32, WordOrder::big);
  REQUIRE(big);
  CHECK(*big == std::vector<std::uint16_t>{0x4366, 0x8000});
  const auto little = encode_value("230.5", ValueType::float32, WordOrder::little);
  CHECK(*little == std::vector<std::uint16_t>{0x8000, 0x4366});
  CHECK(std::get<double>(decode_value(*little, ValueType::float32, WordOrder::little)) == 230.5);
}

TEST_CASE("Integers round trip at their limits and refuse what does not fit", "[values]") {
  struct Case {
    ValueType type;
    const char* text;
  };
  for (const auto& [type, text] : {Case{ValueType::u16, "65535"}, Case{ValueType::i16, "-32768"},
                                   Case{ValueType::u32, "4294967295"}, Case{ValueType::i32, "-2147483648"},
                                   Case{ValueType::u64, "18446744073709551615"},
                                   Case{ValueType::i64, "-9223372036854775808"}}) {
    const auto words = encode_value(text, type, WordOrder::big);
    REQUIRE(words);
    CHECK(words->size() == register_count(type));
    CHECK(format_value(decode_value(*words, type, WordOrder::big)) == text);
  }
  CHECK(encode_value("65536", ValueType::u16, WordOrder::big).error() == ValueError::out_of_range);
  CHECK(encode_value("-1", ValueType::u32, WordOrder::big).error() == ValueError::not_a_number);
  CHECK(encode_value("12abc", ValueType::i32, WordOrder::big).error() == ValueError::not_a_number);
  CHECK(encode_value("", ValueType::u16, WordOrder::big).error() == ValueError::not_a_number);
  CHECK(encode_value("1e39", ValueType::float32, WordOrder::big).error() == ValueError::out_of_range);
  CHECK(*encode_value("0x1F", ValueType::u16, WordOrder::big) == std::vector<std::uint16_t>{0x1F});
}

TEST_CASE("Strings pack two characters per register and drop trailing NULs", "[values]") {
  const auto words = encode_value("ABC", ValueType::string, WordOrder::big, 3);
  REQUIRE(words);
  CHECK(*words == std::vector<std::uint16_t>{0x4142, 0x4300, 0x0000});
  CHECK(std::get<std::string>(decode_value(*words, ValueType::string, WordOrder::big)) == "ABC");
  CHECK(encode_value("ABCDE", ValueType::string, WordOrder::big, 2).error() == ValueError::too_long);
}

TEST_CASE("Numbers the meter holds saturate instead of wrapping", "[values]") {
  CHECK(encode_number(70000, ValueType::u16, WordOrder::big) == std::vector<std::uint16_t>{0xFFFF});
  CHECK(encode_number(-5, ValueType::u32, WordOrder::big) == std::vector<std::uint16_t>{0, 0});
  CHECK(std::isinf(std::get<double>(decode_value(encode_number(1e300, ValueType::float32, WordOrder::big),
                                                 ValueType::float32, WordOrder::big))));
  CHECK(std::isnan(std::get<double>(decode_value(
      encode_number(std::nan(""), ValueType::float32, WordOrder::big), ValueType::float32, WordOrder::big))));
}
