#include "libsec/legacy_auth.hpp"

namespace sec {

bool legacy_password_allowed(std::string_view password) { return password.size() <= k_max_legacy_password_length; }

std::string legacy_password_refusal_message() {
  // Built from the constant so the message cannot drift from the rule.
  return "passwords longer than " + std::to_string(k_max_legacy_password_length) +
         " characters need a session (log in first)";
}

}  // namespace sec
