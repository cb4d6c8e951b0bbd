#include "libproto/codec/native_body.hpp"

#include <string>

namespace proto::codec::native {

namespace {

class BodyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "native-body"; }
  std::string message(int value) const override {
    switch (static_cast<BodyError>(value)) {
      case BodyError::malformed_cbor: return "body is not well-formed CBOR";
      case BodyError::unsupported_cbor: return "body uses CBOR the protocol excludes (indefinite length, tags)";
      case BodyError::non_finite_float: return "body has a NaN or infinite number; send null for a missing value";
      case BodyError::invalid_utf8: return "text string is not valid UTF-8";
      case BodyError::too_deep: return "body nested deeper than 16 levels";
      case BodyError::too_many_items: return "body has too many data items";
      case BodyError::not_a_map: return "body is not a CBOR map with text keys";
      case BodyError::missing_field: return "required field missing";
      case BodyError::wrong_type: return "field has the wrong type";
      case BodyError::out_of_range: return "field value out of range";
    }
    return "unknown body error";
  }
};

// RFC 3629, 4: well-formed UTF-8, excluding overlong forms and surrogates.
bool is_valid_utf8(ByteView text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = get_u8(text, i);
    std::size_t length = 0;
    std::uint32_t minimum = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, minimum = 0x80, code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, minimum = 0x800, code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, minimum = 0x10000, code = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = get_u8(text, i + k);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

// All exponent bits set means infinity or NaN in every IEEE 754 binary width.
bool is_non_finite_float(unsigned info, std::uint64_t bits) {
  switch (info) {
    case 25: return (bits & 0x7C00U) == 0x7C00U;
    case 26: return (bits & 0x7F800000U) == 0x7F800000U;
    default: return (bits & 0x7FF0000000000000U) == 0x7FF0000000000000U;
  }
}

}  // namespace

const std::error_category& body_category() {
  static const BodyCategory category;
  return category;
}

std::error_code make_error_code(BodyError error) { return {static_cast<int>(error), body_category()}; }

std::string BodyFailure::describe() const {
  auto text = make_error_code(error).message();
  if (!field.empty()) text += " (field '" + field + "')";
  return text;
}

Result<Ok, BodyError> check_cbor(ByteView body) {
  // Items still expected at each open container level; the bottom entry is the single top item.
  std::vector<std::uint64_t> pending = {1};
  std::size_t at = 0;
  std::size_t items = 0;
  while (!pending.empty()) {
    if (pending.back() == 0) {
      pending.pop_back();
      continue;
    }
    --pending.back();
    if (++items > k_max_items) return unexpected(BodyError::too_many_items);
    if (at >= body.size()) return unexpected(BodyError::malformed_cbor);
    const auto initial = get_u8(body, at++);
    const auto major = initial >> 5;
    const auto info = initial & 0x1F;
    std::uint64_t argument = info;
    if (info >= 24 && info <= 27) {
      const std::size_t width = std::size_t{1} << (info - 24);
      if (body.size() - at < width) return unexpected(BodyError::malformed_cbor);
      argument = 0;
      for (std::size_t k = 0; k < width; ++k) argument = (argument << 8) | get_u8(body, at + k);
      at += width;
    } else if (info >= 28) {
      // 28-30 are reserved; 31 is an indefinite length or a break, which the spec excludes.
      return unexpected(info == 31 ? BodyError::unsupported_cbor : BodyError::malformed_cbor);
    }
    switch (major) {
      case 0:
      case 1: break;
      case 2:
      case 3:
        if (argument > body.size() - at) return unexpected(BodyError::malformed_cbor);
        if (major == 3 && !is_valid_utf8(body.subspan(at, static_cast<std::size_t>(argument)))) {
          return unexpected(BodyError::invalid_utf8);
        }
        at += static_cast<std::size_t>(argument);
        break;
      case 4:
      case 5: {
        const std::uint64_t children = major == 5 ? argument * 2 : argument;
        // Each child takes at least one byte: a count beyond the input is malformed.
        if (argument > body.size() || children > body.size() - at) return unexpected(BodyError::malformed_cbor);
        if (pending.size() > k_max_nesting) return unexpected(BodyError::too_deep);
        pending.push_back(children);
        break;
      }
      case 6: return unexpected(BodyError::unsupported_cbor);
      case 7:
        // 20-22: false, true, null; 25-27: floats. Others (simple values, undefined) are excluded.
        if (!(info >= 20 && info <= 22) && !(info >= 25 && info <= 27)) return unexpected(BodyError::unsupported_cbor);
        // NaN never equals itself, so a message carrying one could not be compared or
        // round-tripped; a value that is not there is sent as null.
        if (info >= 25 && is_non_finite_float(info, argument)) return unexpected(BodyError::non_finite_float);
        break;
      default: return unexpected(BodyError::malformed_cbor);
    }
  }
  if (at != body.size()) return unexpected(BodyError::malformed_cbor);
  return Ok{};
}

Result<nlohmann::json, BodyFailure> decode_body(ByteView body) {
  if (auto checked = check_cbor(body); !checked) return unexpected(BodyFailure{checked.error(), ""});
  const auto* first = reinterpret_cast<const std::uint8_t*>(body.data());
  auto value = nlohmann::json::from_cbor(first, first + body.size(), /*strict=*/true, /*allow_exceptions=*/false);
  if (value.is_discarded()) return unexpected(BodyFailure{BodyError::malformed_cbor, ""});
  // from_cbor turns a map with non-text keys into an error; anything else on top is not a message.
  if (!value.is_object()) return unexpected(BodyFailure{BodyError::not_a_map, ""});
  return value;
}

std::vector<std::uint8_t> encode_body(const nlohmann::json& body) { return nlohmann::json::to_cbor(body); }

}  // namespace proto::codec::native
