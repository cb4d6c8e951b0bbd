#include "libproto/codec/register_values.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace proto::codec {

std::string_view to_string(ValueType type) {
  switch (type) {
    case ValueType::u16: return "u16";
    case ValueType::i16: return "i16";
    case ValueType::u32: return "u32";
    case ValueType::i32: return "i32";
    case ValueType::u64: return "u64";
    case ValueType::i64: return "i64";
    case ValueType::float32: return "float32";
    case ValueType::float64: return "float64";
    case ValueType::string: return "string";
  }
  return "?";
}

std::optional<ValueType> parse_value_type(std::string_view text) {
  for (auto type : {ValueType::u16, ValueType::i16, ValueType::u32, ValueType::i32, ValueType::u64, ValueType::i64,
                    ValueType::float32, ValueType::float64, ValueType::string}) {
    if (to_string(type) == text) return type;
  }
  return std::nullopt;
}

std::optional<WordOrder> parse_word_order(std::string_view text) {
  if (text == "big") return WordOrder::big;
  if (text == "little") return WordOrder::little;
  return std::nullopt;
}

std::string_view to_string(ValueError error) {
  switch (error) {
    case ValueError::not_a_number: return "not a number of that type";
    case ValueError::out_of_range: return "out of range for the type";
    case ValueError::too_long: return "too long for the registers";
  }
  return "?";
}

std::size_t register_count(ValueType type) {
  switch (type) {
    case ValueType::u16:
    case ValueType::i16: return 1;
    case ValueType::u32:
    case ValueType::i32:
    case ValueType::float32: return 2;
    case ValueType::u64:
    case ValueType::i64:
    case ValueType::float64: return 4;
    case ValueType::string: return 1;
  }
  return 1;
}

namespace {

std::uint64_t join_words(std::span<const std::uint16_t> registers, std::size_t words, WordOrder order) {
  std::uint64_t raw = 0;
  for (std::size_t i = 0; i < words; ++i) {
    const auto word = order == WordOrder::big ? registers[i] : registers[words - 1 - i];
    raw = (raw << 16) | word;
  }
  return raw;
}

std::vector<std::uint16_t> split_words(std::uint64_t raw, std::size_t words, WordOrder order) {
  std::vector<std::uint16_t> registers(words);
  for (std::size_t i = 0; i < words; ++i) {
    const auto word = static_cast<std::uint16_t>(raw >> (16 * (words - 1 - i)));
    registers[order == WordOrder::big ? i : words - 1 - i] = word;
  }
  return registers;
}

template <typename T>
std::uint64_t raw_of(T value) {
  if constexpr (std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<std::uint64_t>(static_cast<U>(value));
  } else {
    return static_cast<std::uint64_t>(value);
  }
}

template <typename T>
Result<std::vector<std::uint16_t>, ValueError> parse_integer(std::string_view text, WordOrder order) {
  T value{};
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (error == std::errc::result_out_of_range) return unexpected(ValueError::out_of_range);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return unexpected(ValueError::not_a_number);
  }
  return split_words(raw_of(value), sizeof(T) / 2, order);
}

template <typename T>
T saturate(double value) {
  if (std::isnan(value)) return 0;
  if (value <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (value >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(value);
}

}  // namespace

Value decode_value(std::span<const std::uint16_t> registers, ValueType type, WordOrder order) {
  switch (type) {
    case ValueType::u16: return std::uint64_t{registers[0]};
    case ValueType::i16: return std::int64_t{static_cast<std::int16_t>(registers[0])};
    case ValueType::u32: return join_words(registers, 2, order);
    case ValueType::i32: return std::int64_t{static_cast<std::int32_t>(join_words(registers, 2, order))};
    case ValueType::u64: return join_words(registers, 4, order);
    case ValueType::i64: return static_cast<std::int64_t>(join_words(registers, 4, order));
    case ValueType::float32:
      return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(join_words(registers, 2, order))));
    case ValueType::float64: return std::bit_cast<double>(join_words(registers, 4, order));
    case ValueType::string: {
      std::string text;
      for (const auto word : registers) {
        text.push_back(static_cast<char>(word >> 8));
        text.push_back(static_cast<char>(word & 0xFF));
      }
      text.erase(std::find(text.begin(), text.end(), '\0'), text.end());
      return text;
    }
  }
  return std::uint64_t{0};
}

Result<std::vector<std::uint16_t>, ValueError> encode_value(std::string_view text, ValueType type, WordOrder order,
                                                            std::size_t string_registers) {
  switch (type) {
    case ValueType::u16: return parse_integer<std::uint16_t>(text, order);
    case ValueType::i16: return parse_integer<std::int16_t>(text, order);
    case ValueType::u32: return parse_integer<std::uint32_t>(text, order);
    case ValueType::i32: return parse_integer<std::int32_t>(text, order);
    case ValueType::u64: return parse_integer<std::uint64_t>(text, order);
    case ValueType::i64: return parse_integer<std::int64_t>(text, order);
    case ValueType::float32:
    case ValueType::float64: {
      double value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
        return unexpected(ValueError::not_a_number);
      }
      if (type == ValueType::float64) return split_words(std::bit_cast<std::uint64_t>(value), 4, order);
      if (std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max()) {
        return unexpected(ValueError::out_of_range);
      }
      return split_words(std::bit_cast<std::uint32_t>(static_cast<float>(value)), 2, order);
    }
    case ValueType::string: {
      const std::size_t registers = string_registers == 0 ? (text.size() + 1) / 2 : string_registers;
      if (text.size() > registers * 2) return unexpected(ValueError::too_long);
      std::vector<std::uint16_t> words(registers, 0);
      for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<std::uint8_t>(text[i]);
        words[i / 2] |= static_cast<std::uint16_t>(i % 2 == 0 ? byte << 8 : byte);
      }
      return words;
    }
  }
  return unexpected(ValueError::not_a_number);
}

std::vector<std::uint16_t> encode_number(double value, ValueType type, WordOrder order) {
  switch (type) {
    case ValueType::u16: return split_words(saturate<std::uint16_t>(value), 1, order);
    case ValueType::i16: return split_words(raw_of(saturate<std::int16_t>(value)), 1, order);
    case ValueType::u32: return split_words(saturate<std::uint32_t>(value), 2, order);
    case ValueType::i32: return split_words(raw_of(saturate<std::int32_t>(value)), 2, order);
    case ValueType::u64: return split_words(saturate<std::uint64_t>(value), 4, order);
    case ValueType::i64: return split_words(raw_of(saturate<std::int64_t>(value)), 4, order);
    case ValueType::float32: {
      // Casting an out-of-range double to float is undefined; saturate to +-inf explicitly.
      const float narrowed = std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max()
                                 ? std::copysign(std::numeric_limits<float>::infinity(), static_cast<float>(value > 0 ? 1 : -1))
                                 : static_cast<float>(value);
      return split_words(std::bit_cast<std::uint32_t>(narrowed), 2, order);
    }
    case ValueType::float64: return split_words(std::bit_cast<std::uint64_t>(value), 4, order);
    case ValueType::string: return {};
  }
  return {};
}

std::string format_value(const Value& value) {
  struct Visitor {
    std::string operator()(std::uint64_t v) const { return std::to_string(v); }
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const {
      if (std::isnan(v)) return "nan";
      std::ostringstream out;
      out.precision(9);
      out << v;
      return out.str();
    }
    std::string operator()(const std::string& v) const { return v; }
  };
  return std::visit(Visitor{}, value);
}

}  // namespace proto::codec
