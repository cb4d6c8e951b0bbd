#pragma once
// Typed values carried in 16-bit registers: the conversions SCADA tools call "data types"
// and "word order". Pure functions; no knowledge of which register holds what.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "libproto/result.hpp"

namespace proto::codec {

enum class ValueType { u16, i16, u32, i32, u64, i64, float32, float64, string };
// big: most significant word first (the PowerLogic and Modbus convention); little: swapped words.
enum class WordOrder { big, little };

std::string_view to_string(ValueType type);
std::optional<ValueType> parse_value_type(std::string_view text);
std::optional<WordOrder> parse_word_order(std::string_view text);

// Registers one value occupies; a string's length is chosen by the caller (2 chars per register).
std::size_t register_count(ValueType type);

using Value = std::variant<std::uint64_t, std::int64_t, double, std::string>;

// Decodes one value from the front of `registers` (which must hold register_count(type)
// registers, or any number for a string: trailing NULs are dropped).
Value decode_value(std::span<const std::uint16_t> registers, ValueType type, WordOrder order);

enum class ValueError {
  not_a_number = 1,  // text does not parse as the type
  out_of_range,      // parses but does not fit the type
  too_long,          // string longer than the registers it must fit
};
std::string_view to_string(ValueError error);

// Encodes the text form of a value (as typed on a command line) into registers.
Result<std::vector<std::uint16_t>, ValueError> encode_value(std::string_view text, ValueType type, WordOrder order,
                                                            std::size_t string_registers = 0);
// Encodes a number the meter holds, saturating to the type's range.
std::vector<std::uint16_t> encode_number(double value, ValueType type, WordOrder order);

std::string format_value(const Value& value);

}  // namespace proto::codec
