#pragma once
// Credential verification, and until the user store arrives (the security issue: scrypt
// PHC strings, 50 users, seven permissions) its one implementation: the factory account
// of Legacy security support (seed 004, "Legacy security support": user User1, password
// "0 (zero) for new meters" or the one used before the upgrade, range 0 to 99999999,
// limit 8 characters).
//
// Every verifier keeps two promises: the password is compared in constant time, and the
// work done is the same whether or not the user exists, so neither the answer nor its
// timing tells a caller which user names are real. Rate limiting and lockout are not the
// verifier's job (lockout tracking keyed by user x protocol x connection type).

#include <array>
#include <cstddef>
#include <string_view>
#include <system_error>

#include "libproto/result.hpp"

namespace sec {

// The outcome of one verification. An unknown user and a wrong password are the same
// outcome on purpose.
struct VerifyResult {
  bool accepted = false;
  // Accepted with the factory default password. The caller tells the client to change
  // it (seed 004, "Passwords": "Change the default password of 0 (zero) to help reduce
  // unauthorized access"); the native protocol's LoginOk carries it as
  // default_credential.
  bool default_credential = false;

  explicit operator bool() const { return accepted; }
};

// Checks a user name and password. The user store of the security issue replaces
// FactoryCredentials behind this interface. Not const: a store may rehash a password on
// a successful login when its parameters change.
class CredentialVerifier {
 public:
  virtual ~CredentialVerifier() = default;
  virtual VerifyResult verify(std::string_view user, std::string_view password) = 0;

 protected:
  CredentialVerifier() = default;
  CredentialVerifier(const CredentialVerifier&) = default;
  CredentialVerifier& operator=(const CredentialVerifier&) = default;
};

// Seed 004, "Legacy security support": the account's user name.
inline constexpr std::string_view k_factory_user = "User1";
// Seed 004, "Legacy security support": "0 (zero) for new meters".
inline constexpr std::string_view k_factory_default_password = "0";
// Seed 004, "Legacy security support": "Legacy security support password range 0 to
// 99999999", "password limit 8 characters".
inline constexpr std::size_t k_max_factory_password_length = 8;

// Why a factory password cannot be set. Values start at 1 so that 0 stays "no error".
enum class CredentialError {
  // The password is empty; the range starts at 0, which is one digit.
  empty_password = 1,
  // More than k_max_factory_password_length characters.
  password_too_long,
  // A character other than the ASCII digits 0-9 (no sign, space or separator).
  password_not_numeric,
};

std::string_view to_string(CredentialError error);
const std::error_category& credential_category();
std::error_code make_error_code(CredentialError error);

// Whether `password` is a valid factory password: 1 to 8 ASCII digits. Compared as text,
// so "007" and "7" are different passwords; a client sends what the user typed.
proto::Result<proto::Ok, CredentialError> check_factory_password(std::string_view password);

// The single factory account User1. User names are case-sensitive.
class FactoryCredentials final : public CredentialVerifier {
 public:
  // User1 with the factory default password "0".
  FactoryCredentials();
  // User1 with the password kept from before the upgrade (or changed since).
  static proto::Result<FactoryCredentials, CredentialError> with_password(std::string_view password);

  // Always compares both the user name and the password, each in constant time over a
  // fixed-size buffer, and combines the results without branching on either; so an
  // unknown user costs exactly what a known one does.
  VerifyResult verify(std::string_view user, std::string_view password) override;

  // The password is still the factory default "0" (the seed's Device Configuration
  // Checklist shows this; meterd reports it in the same spirit).
  bool is_default_credential() const;

  // A length byte followed by the text, zero-padded. Fixed size so that CRYPTO_memcmp
  // always runs over the same number of bytes.
  using PasswordField = std::array<unsigned char, k_max_factory_password_length + 1>;

 private:
  explicit FactoryCredentials(std::string_view password);

  PasswordField password_;
};

}  // namespace sec

template <>
struct std::is_error_code_enum<sec::CredentialError> : std::true_type {};
