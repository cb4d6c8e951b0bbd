#include "libsec/legacy_auth.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace sec;

TEST_CASE("Legacy per-request passwords may have at most 6 characters", "[libsec][legacy]") {
  CHECK(k_max_legacy_password_length == 6);
  CHECK(legacy_password_allowed(""));
  CHECK(legacy_password_allowed("0"));
  CHECK(legacy_password_allowed("123456"));
  CHECK(legacy_password_allowed("abcdef"));
  CHECK_FALSE(legacy_password_allowed("1234567"));
  CHECK_FALSE(legacy_password_allowed("12345678"));  // a valid factory password, but it needs a session
  CHECK_FALSE(legacy_password_allowed(std::string(16, 'x')));
}

TEST_CASE("The length is counted in bytes so multi-byte passwords fail closed", "[libsec][legacy]") {
  CHECK_FALSE(legacy_password_allowed("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"));  // four characters, eight bytes
  CHECK(legacy_password_allowed("\xC3\xA9\xC3\xA9\xC3\xA9"));                // three characters, six bytes
}

TEST_CASE("The refusal tells the client to log in", "[libsec][legacy]") {
  CHECK(legacy_password_refusal_message() == "passwords longer than 6 characters need a session (log in first)");
}
