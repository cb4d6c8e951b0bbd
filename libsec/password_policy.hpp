#pragma once
// Which passwords a meter accepts when one is set or changed.
//
// Two kinds of account, two rules:
//  - Advanced security accounts (seed 004, "Setting up Advanced security": "multiple user
//    accounts with alphanumeric passwords") take printable ASCII passwords between a
//    configurable minimum and the model's maximum length (16 since firmware 4.0.0, seed
//    000, "Longer passwords"), optionally with a complexity rule (seed 001, firmware
//    4.6.0, "Password complexity enforcement ... according to NERC CIP-007-5, IEEE
//    1686-2013"). check_password.
//  - The single account of Legacy security support, and Standard mode, takes a number
//    (seed 004, "Legacy security support": "password range 0 to 99999999", "password
//    limit 8 characters"). check_legacy_password.
//
// The rules apply when a password is chosen, never at login: tightening the policy must
// not lock out an account whose password predates it.
//
// A rejection names the rule and the numbers involved, never the password or any part of
// it (not even the offending character or its position), because rejections are shown,
// sent to clients and written to logs. Nothing here does I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "libproto/result.hpp"

namespace sec {

// The complexity rules of seed 001, firmware 4.6.0. Both count character classes (see
// character_classes): NERC CIP-007-5 (R5.5.2) asks for at least three of the four kinds,
// IEEE 1686-2013 (password construction) for all four.
enum class Complexity {
  // No complexity rule; length and character set still apply.
  none,
  // At least 3 of the 4 character classes.
  nerc_cip_007_5,
  // All 4 character classes.
  ieee_1686_2013,
};

// "none", "nerc-cip-007-5", "ieee-1686-2013".
std::string_view to_string(Complexity complexity);
// The inverse of to_string, exact spelling only.
std::optional<Complexity> parse_complexity(std::string_view text);

// Seed 004, "Passwords": "Use complex passwords or passphrases with a minimum length of six
// characters". Both standards themselves recommend 8; the vendor lets a meter enforce
// either complexity rule with a minimum as low as 6, and so do we. An administrator who
// wants 8 sets min_length to 8.
inline constexpr std::size_t k_min_length_with_complexity = 6;
// Seed 004, "Legacy security support": "password range 0 to 99999999", "password limit 8
// characters".
inline constexpr std::size_t k_legacy_password_max_digits = 8;

// A meter's password policy for Advanced security accounts. The maximum length is not
// part of it: that is a property of the model and firmware, not a setting.
struct PasswordPolicy {
  Complexity complexity = Complexity::none;
  // Seed 004's recommended six (see k_min_length_with_complexity).
  std::size_t min_length = 6;

  friend bool operator==(const PasswordPolicy&, const PasswordPolicy&) = default;
};

// Which rule refused a password. Values start at 1 so that 0 stays "no error".
enum class PasswordRule {
  // No characters at all.
  empty = 1,
  // Fewer characters than the policy's min_length.
  too_short,
  // More characters than the model allows (check_password's max_length, or 8 digits for a
  // legacy password).
  too_long,
  // A character outside printable ASCII 0x21..0x7E: a space, a control character, or a
  // byte of a non-ASCII (UTF-8) character. Advanced-mode passwords only.
  invalid_character,
  // Fewer character classes than the complexity rule needs.
  too_few_classes,
  // A legacy password with a character other than the digits 0-9 (no sign, space or
  // separator).
  not_numeric,
};

struct PasswordRejection {
  PasswordRule rule;
  // One line for people, naming the rule and its numbers, e.g. "password has 2 of the 4
  // character classes (upper case, lower case, digit, symbol); NERC CIP-007-5 needs at
  // least 3". It never contains the password or any part of it.
  std::string message;
};

// How many of the four character classes `password` uses: ASCII upper case (A-Z), ASCII
// lower case (a-z), digit (0-9), symbol (printable ASCII punctuation: !"#$%&'()*+,-./:;
// <=>?@[\]^_`{|}~). Spaces, control characters and non-ASCII bytes belong to no class.
int character_classes(std::string_view password);

// Whether `password` may be set on an Advanced security account: only printable ASCII
// 0x21..0x7E (no space: a leading or trailing one is invisible and easily lost by a shell,
// a form or a YAML file, and one character set keeps a password typeable on every client
// and in every protocol field), at least policy.min_length and at
// most `max_length` characters, and the complexity rule (NERC: 3 of 4 classes, IEEE: all
// 4). Rules are checked in the order empty, invalid_character, too_short, too_long,
// too_few_classes, and the first that fails is reported.
proto::Result<proto::Ok, PasswordRejection> check_password(std::string_view password, const PasswordPolicy& policy,
                                                           std::size_t max_length);

// Whether `password` may be set on the Legacy security support account (or a Standard mode
// one): 1 to k_legacy_password_max_digits ASCII digits, 0 to 99999999. Compared as text
// later, so leading zeros are kept ("007" is not "7"). Rules are checked in the order
// empty, too_long, not_numeric.
proto::Result<proto::Ok, PasswordRejection> check_legacy_password(std::string_view password);

// Whether `policy` may be configured on a meter whose passwords have at most `max_length`
// characters. Refused, with a message saying why:
//  - a complexity rule when the firmware has none (`complexity_available` false; the
//    feature is password_complexity in the device model). The message then ends with
//    `feature_hint`, e.g. "password complexity enforcement needs firmware 4.6.0 or later
//    on this model", which the caller words from what it knows of the model;
//  - min_length of 0 (an empty password is never allowed);
//  - min_length below k_min_length_with_complexity while a complexity rule is on;
//  - min_length above max_length (no password could be set).
proto::Result<proto::Ok, std::string> validate_policy(const PasswordPolicy& policy, std::size_t max_length,
                                                      bool complexity_available, std::string_view feature_hint);

}  // namespace sec
