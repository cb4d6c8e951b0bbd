#pragma once
// Legacy per-request password authentication: a request that carries a user and password
// instead of a session token, as old clients of the ION protocol do. Firmware 4.0.0
// raised the password limit from 6 to 16 characters and kept the old path for the old
// length only (seed 000, "Longer passwords": "Longer passwords cannot be used over
// non-ION session connections"). A longer password must log in and use a session.
//
// The check is on length only and runs before the password is verified, so refusing a
// long password reveals nothing about whether it is right.

#include <cstddef>
#include <string>
#include <string_view>

namespace sec {

// Seed 000, firmware 4.0.0, "Longer passwords": the maximum was 6 characters before the
// increase to 16, and longer passwords cannot be used without a session.
inline constexpr std::size_t k_max_legacy_password_length = 6;

// Whether `password` may be sent with each request, outside a session. Counts bytes: the
// old protocol's password field is bytes, and a non-ASCII password of 6 characters or
// fewer but more than 6 bytes is refused, which fails closed (it can still log in).
//
// Note that the factory account's legacy password may have up to 8 digits (seed 004,
// "Legacy security support", see security_config.hpp); one of 7 or 8 digits also needs a
// session.
bool legacy_password_allowed(std::string_view password);

// The message a server sends with the refusal (native protocol error
// password_needs_session): "passwords longer than 6 characters need a session (log in
// first)".
std::string legacy_password_refusal_message();

}  // namespace sec
