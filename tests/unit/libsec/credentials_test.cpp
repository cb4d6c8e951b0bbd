#include "libsec/credentials.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sec;

TEST_CASE("A new meter accepts User1 with password 0 and reports the default credential", "[libsec][credentials]") {
  FactoryCredentials credentials;
  CHECK(credentials.is_default_credential());
  const auto result = credentials.verify("User1", "0");
  CHECK(result);
  CHECK(result.accepted);
  CHECK(result.default_credential);
}

TEST_CASE("A wrong password is refused", "[libsec][credentials]") {
  FactoryCredentials credentials;
  const std::vector<std::string> wrong = {"", "1", "00", "0 ", " 0", std::string("0\0", 2), "99999999", "000000000"};
  for (const auto& password : wrong) {
    const auto result = credentials.verify("User1", password);
    CHECK_FALSE(result);
    CHECK_FALSE(result.default_credential);
  }
}

TEST_CASE("An unknown user is refused exactly like a wrong password", "[libsec][credentials]") {
  FactoryCredentials credentials;
  const std::vector<std::string> unknown_users = {"",       "user1", "USER1", "User",
                                                  "User12", "User2", "admin", std::string(200, 'U')};
  for (const auto& user : unknown_users) {
    const auto result = credentials.verify(user, "0");
    CHECK_FALSE(result.accepted);
    CHECK_FALSE(result.default_credential);
  }
  const auto unknown = credentials.verify("admin", "1");
  const auto wrong = credentials.verify("User1", "1");
  CHECK(unknown.accepted == wrong.accepted);
  CHECK(unknown.default_credential == wrong.default_credential);
}

TEST_CASE("A password kept from before the upgrade replaces the default", "[libsec][credentials]") {
  auto credentials = FactoryCredentials::with_password("12345678");
  REQUIRE(credentials);
  CHECK_FALSE(credentials->is_default_credential());
  const auto accepted = credentials->verify("User1", "12345678");
  CHECK(accepted);
  CHECK_FALSE(accepted.default_credential);
  // Prefixes and extensions of the stored password do not match.
  for (const char* password : {"0", "1234567", "123456789", "12345679", "012345678"}) {
    CHECK_FALSE(credentials->verify("User1", password));
  }

  // Used through the interface the user store will implement.
  CredentialVerifier& verifier = *credentials;
  CHECK(verifier.verify("User1", "12345678"));
  CHECK_FALSE(verifier.verify("User2", "12345678"));
}

TEST_CASE("Factory passwords are 1 to 8 digits", "[libsec][credentials]") {
  CHECK(check_factory_password("0"));
  CHECK(check_factory_password("99999999"));
  CHECK(check_factory_password("007"));
  CHECK(FactoryCredentials::with_password("0")->is_default_credential());

  const auto empty = FactoryCredentials::with_password("");
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == CredentialError::empty_password);
  const auto long_password = FactoryCredentials::with_password("123456789");
  REQUIRE_FALSE(long_password);
  CHECK(long_password.error() == CredentialError::password_too_long);
  for (const char* password : {"-1", "12a4", "1 2", "+5", "1.5"}) {
    const auto result = check_factory_password(password);
    REQUIRE_FALSE(result);
    CHECK(result.error() == CredentialError::password_not_numeric);
  }
  const std::error_code code = CredentialError::password_too_long;
  CHECK(code.category() == credential_category());
  CHECK(code.message() == std::string(to_string(CredentialError::password_too_long)));
}
