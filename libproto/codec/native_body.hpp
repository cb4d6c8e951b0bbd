#pragma once
// Bodies of the native protocol: one CBOR map (RFC 8949) per frame, restricted by the
// spec ("BODIES"): definite lengths only, no tags, text strings in valid UTF-8, nesting at
// most k_max_nesting deep, at most k_max_items data items. The restrictions are checked
// by a non-recursive scan before the body reaches the (recursive) CBOR parser.

#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "libproto/codec/bytes.hpp"
#include "libproto/result.hpp"

namespace proto::codec::native {

// Spec "LIMITS".
inline constexpr std::size_t k_max_nesting = 16;
inline constexpr std::size_t k_max_items = 16 * 1024;

enum class BodyError {
  malformed_cbor = 1,  // not well-formed CBOR, or bytes left over after the top item
  unsupported_cbor,    // indefinite length, a tag, an undefined or reserved simple value
  invalid_utf8,        // a text string that is not UTF-8
  too_deep,            // nesting beyond k_max_nesting
  too_many_items,      // more than k_max_items data items
  not_a_map,           // the top item is not a map with text keys
  missing_field,       // a required field is absent
  wrong_type,          // a field has another type than the message defines
  out_of_range,        // a number or string length outside the message's bounds
  non_finite_float,    // a NaN or an infinity
};

const std::error_category& body_category();
std::error_code make_error_code(BodyError error);

// A decoding error and the field it concerns (empty when it concerns the whole body).
struct BodyFailure {
  BodyError error;
  std::string field;
  std::string describe() const;
};

// Checks the restrictions above without building anything.
Result<Ok, BodyError> check_cbor(ByteView body);
// check_cbor, then parse into a JSON value whose top level is an object.
Result<nlohmann::json, BodyFailure> decode_body(ByteView body);
std::vector<std::uint8_t> encode_body(const nlohmann::json& body);

}  // namespace proto::codec::native

template <>
struct std::is_error_code_enum<proto::codec::native::BodyError> : std::true_type {};
