#include "libsec/credentials.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <string>

namespace sec {

using proto::Ok;
using proto::Result;
using proto::unexpected;

std::string_view to_string(CredentialError error) {
  switch (error) {
    case CredentialError::empty_password: return "the factory password is empty (it is 1 to 8 digits)";
    case CredentialError::password_too_long: return "the factory password is longer than 8 digits";
    case CredentialError::password_not_numeric: return "the factory password may contain only the digits 0-9";
  }
  return "unknown credential error";
}

namespace {

class CredentialCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sec-credential"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<CredentialError>(value)));
  }
};

// Byte 0 holds the length, or N + 1 for any longer text (no stored value is that long,
// so such text never matches); then the first N bytes, zero-padded. The length byte
// keeps "1" from matching "1\0".
template <std::size_t N>
std::array<unsigned char, N + 1> fixed_field(std::string_view text) {
  static_assert(N < 255, "the length must fit the length byte");
  std::array<unsigned char, N + 1> field{};
  field[0] = static_cast<unsigned char>(std::min(text.size(), N + 1));
  // Always N steps, whatever the length; the condition depends only on the length of
  // the text, which whoever presented it already knows.
  for (std::size_t i = 0; i < N; ++i) {
    field[i + 1] = i < text.size() ? static_cast<unsigned char>(text[i]) : 0;
  }
  return field;
}

template <std::size_t Size>
bool same(const std::array<unsigned char, Size>& a, const std::array<unsigned char, Size>& b) {
  return CRYPTO_memcmp(a.data(), b.data(), Size) == 0;
}

}  // namespace

const std::error_category& credential_category() {
  static const CredentialCategory category;
  return category;
}

std::error_code make_error_code(CredentialError error) { return {static_cast<int>(error), credential_category()}; }

Result<Ok, CredentialError> check_factory_password(std::string_view password) {
  if (password.empty()) return unexpected(CredentialError::empty_password);
  if (password.size() > k_max_factory_password_length) return unexpected(CredentialError::password_too_long);
  if (!std::all_of(password.begin(), password.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return unexpected(CredentialError::password_not_numeric);
  }
  return Ok{};
}

FactoryCredentials::FactoryCredentials() : FactoryCredentials(k_factory_default_password) {}

FactoryCredentials::FactoryCredentials(std::string_view password)
    : password_(fixed_field<k_max_factory_password_length>(password)) {}

Result<FactoryCredentials, CredentialError> FactoryCredentials::with_password(std::string_view password) {
  if (auto checked = check_factory_password(password); !checked) return unexpected(checked.error());
  return FactoryCredentials(password);
}

VerifyResult FactoryCredentials::verify(std::string_view user, std::string_view password) {
  // One account, so "compare against a dummy for unknown users" reduces to always doing
  // both comparisons: no early return on a wrong user name.
  static constexpr std::size_t k_user_field_length = k_factory_user.size();
  static const auto k_expected_user = fixed_field<k_user_field_length>(k_factory_user);
  const bool user_matches = same(fixed_field<k_user_field_length>(user), k_expected_user);
  const bool password_matches = same(fixed_field<k_max_factory_password_length>(password), password_);
  // Bitwise &, not &&: both comparisons above have run either way; this keeps the
  // combination free of a branch too.
  const bool accepted = user_matches & password_matches;
  return VerifyResult{accepted, accepted && is_default_credential()};
}

bool FactoryCredentials::is_default_credential() const {
  return password_ == fixed_field<k_max_factory_password_length>(k_factory_default_password);
}

}  // namespace sec
