#include "libsec/password_policy.hpp"

#include <algorithm>

namespace sec {

using proto::Ok;
using proto::Result;
using proto::unexpected;

std::string_view to_string(Complexity complexity) {
  switch (complexity) {
    case Complexity::none: return "none";
    case Complexity::nerc_cip_007_5: return "nerc-cip-007-5";
    case Complexity::ieee_1686_2013: return "ieee-1686-2013";
  }
  return "unknown-complexity";
}

std::optional<Complexity> parse_complexity(std::string_view text) {
  for (const Complexity complexity : {Complexity::none, Complexity::nerc_cip_007_5, Complexity::ieee_1686_2013}) {
    if (to_string(complexity) == text) return complexity;
  }
  return std::nullopt;
}

namespace {

constexpr int k_character_class_count = 4;

// Written out rather than <cctype>: those functions follow the C locale of the process,
// and a password must mean the same on every host.
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_printable_non_space(char c) { return c >= 0x21 && c <= 0x7E; }
bool is_symbol(char c) { return is_printable_non_space(c) && !is_upper(c) && !is_lower(c) && !is_digit(c); }

// The number of classes each rule needs, and the rule's name as the standards write it.
int classes_needed(Complexity complexity) {
  switch (complexity) {
    case Complexity::none: return 0;
    case Complexity::nerc_cip_007_5: return 3;
    case Complexity::ieee_1686_2013: return k_character_class_count;
  }
  return k_character_class_count;  // an unknown rule fails closed
}

std::string_view standard_name(Complexity complexity) {
  switch (complexity) {
    case Complexity::none: return "no complexity rule";
    case Complexity::nerc_cip_007_5: return "NERC CIP-007-5";
    case Complexity::ieee_1686_2013: return "IEEE 1686-2013";
  }
  return "the complexity rule";
}

PasswordRejection rejection(PasswordRule rule, std::string message) { return {rule, std::move(message)}; }

}  // namespace

int character_classes(std::string_view password) {
  const bool upper = std::any_of(password.begin(), password.end(), is_upper);
  const bool lower = std::any_of(password.begin(), password.end(), is_lower);
  const bool digit = std::any_of(password.begin(), password.end(), is_digit);
  const bool symbol = std::any_of(password.begin(), password.end(), is_symbol);
  return int{upper} + int{lower} + int{digit} + int{symbol};
}

Result<Ok, PasswordRejection> check_password(std::string_view password, const PasswordPolicy& policy,
                                             std::size_t max_length) {
  // Every message below is built from the policy and counts only: rejections are logged.
  if (password.empty()) return unexpected(rejection(PasswordRule::empty, "password is empty"));
  if (!std::all_of(password.begin(), password.end(), is_printable_non_space)) {
    return unexpected(rejection(PasswordRule::invalid_character,
                                "password may contain only printable ASCII characters other than space "
                                "(0x21 to 0x7E): no spaces, control characters or non-ASCII characters"));
  }
  // Only ASCII is left, so bytes are characters.
  if (password.size() < policy.min_length) {
    return unexpected(rejection(PasswordRule::too_short, "password is shorter than the minimum length of " +
                                                             std::to_string(policy.min_length) + " characters"));
  }
  if (password.size() > max_length) {
    return unexpected(rejection(PasswordRule::too_long, "password is longer than the maximum length of " +
                                                            std::to_string(max_length) + " characters"));
  }
  const int needed = classes_needed(policy.complexity);
  const int present = character_classes(password);
  if (present < needed) {
    const std::string requirement = needed == k_character_class_count
                                        ? "needs all " + std::to_string(needed)
                                        : "needs at least " + std::to_string(needed);
    return unexpected(rejection(
        PasswordRule::too_few_classes,
        "password has " + std::to_string(present) + " of the " + std::to_string(k_character_class_count) +
            " character classes (upper case, lower case, digit, symbol); " +
            std::string(standard_name(policy.complexity)) + " " + requirement));
  }
  return Ok{};
}

Result<Ok, PasswordRejection> check_legacy_password(std::string_view password) {
  if (password.empty()) {
    return unexpected(rejection(PasswordRule::empty, "legacy password is empty; it is a number from 0 to 99999999"));
  }
  if (password.size() > k_legacy_password_max_digits) {
    return unexpected(rejection(PasswordRule::too_long, "legacy password is longer than " +
                                                            std::to_string(k_legacy_password_max_digits) +
                                                            " digits; it is a number from 0 to 99999999"));
  }
  if (!std::all_of(password.begin(), password.end(), is_digit)) {
    return unexpected(rejection(PasswordRule::not_numeric,
                                "legacy password may contain only the digits 0 to 9; it is a number from 0 to "
                                "99999999"));
  }
  return Ok{};
}

Result<Ok, std::string> validate_policy(const PasswordPolicy& policy, std::size_t max_length,
                                        bool complexity_available, std::string_view feature_hint) {
  const bool complexity_on = policy.complexity != Complexity::none;
  if (complexity_on && !complexity_available) {
    std::string message = "password complexity " + std::string(to_string(policy.complexity)) +
                          " cannot be set: the meter's firmware has no password complexity enforcement";
    if (!feature_hint.empty()) message += "; " + std::string(feature_hint);
    return unexpected(std::move(message));
  }
  if (policy.min_length == 0) return unexpected(std::string("minimum password length must be at least 1"));
  if (complexity_on && policy.min_length < k_min_length_with_complexity) {
    return unexpected("minimum password length must be at least " + std::to_string(k_min_length_with_complexity) +
                      " with password complexity " + std::string(to_string(policy.complexity)) + " (it is " +
                      std::to_string(policy.min_length) + ")");
  }
  if (policy.min_length > max_length) {
    return unexpected("minimum password length " + std::to_string(policy.min_length) +
                      " is above this meter's maximum password length of " + std::to_string(max_length));
  }
  return Ok{};
}

}  // namespace sec
