#include "cli/password_source.hpp"

#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>

#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace cli;

TEST_CASE("A password file gives its first line, without a carriage return", "[cli][password]") {
  sec::test::TemporaryDirectory scratch("password-file");
  const auto file = scratch.path() / "pw";
  sec::test::write_text(file, "s3cret\r\nsecond line\n");
  CHECK(*read_password_file(file.string(), OpenPasswordFile::refuse) == "s3cret");
  sec::test::write_text(file, "no line break");
  CHECK(*read_password_file(file.string(), OpenPasswordFile::refuse) == "no line break");
  // Longer than any password: read as empty, as meterctl(1) says.
  sec::test::write_text(file, std::string(1025, 'x') + "\n");
  CHECK(read_password_file(file.string(), OpenPasswordFile::refuse)->empty());
  sec::test::write_text(file, std::string(1024, 'x'));
  CHECK(read_password_file(file.string(), OpenPasswordFile::refuse)->size() == 1024);
}

TEST_CASE("A password file others may read is refused where asked, and read with a warning otherwise",
          "[cli][password]") {
  sec::test::TemporaryDirectory scratch("password-mode");
  const auto file = scratch.path() / "pw";
  for (const mode_t mode : {0640, 0604, 0620}) {
    sec::test::write_text(file, "s3cret\n", mode);
    const auto refused = read_password_file(file.string(), OpenPasswordFile::refuse);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == exit_config);
    CHECK_THAT(refused.error().message, Catch::Contains("chmod 600"));
    std::ostringstream warnings;
    auto* const saved = std::cerr.rdbuf(warnings.rdbuf());
    const auto read = read_password_file(file.string(), OpenPasswordFile::warn);
    std::cerr.rdbuf(saved);
    CHECK(*read == "s3cret");
    CHECK_THAT(warnings.str(), Catch::Contains("can be read by other users"));
  }
  const auto missing = read_password_file((scratch.path() / "none").string(), OpenPasswordFile::warn);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == exit_io);
}
