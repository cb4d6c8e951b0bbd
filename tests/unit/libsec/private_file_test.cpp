#include "libsec/private_file.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/types.h>

#include "tests/unit/libsec/libsec_test_support.hpp"

using namespace sec;
using sec::test::TemporaryDirectory;

TEST_CASE("read_file_if_exists tells a missing file from an unreadable one", "[libsec][files]") {
  TemporaryDirectory directory("private-file");
  const auto file = directory.path() / "data";
  CHECK_FALSE(read_file_if_exists(file, 100).value().has_value());

  test::write_text(file, "0123456789");
  CHECK(read_file_if_exists(file, 10).value() == std::optional<std::string>("0123456789"));
  const auto too_large = read_file_if_exists(file, 9);
  REQUIRE_FALSE(too_large);
  CHECK_THAT(too_large.error(), Catch::Contains(file.string() + " is larger than 9 bytes"));

  const auto not_a_file = read_file_if_exists(directory.path(), 100);
  REQUIRE_FALSE(not_a_file);
  CHECK_THAT(not_a_file.error(), Catch::Contains("is not a regular file"));

  // A FIFO in place of the file is refused at once instead of waiting for a writer.
  const auto fifo = directory.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto from_fifo = read_file_if_exists(fifo, 100);
  REQUIRE_FALSE(from_fifo);
  CHECK_THAT(from_fifo.error(), Catch::Contains(fifo.string() + " is not a regular file"));
}

TEST_CASE("write_private_file_atomically replaces a file with a 0600 one", "[libsec][files]") {
  TemporaryDirectory directory("private-file");
  const auto file = directory.path() / "secret";
  test::write_text(file, "old contents", 0644);
  // Even under a permissive umask the file is private.
  const mode_t previous_umask = ::umask(0);
  const auto written = write_private_file_atomically(file, "new contents");
  ::umask(previous_umask);
  REQUIRE(written);
  CHECK(test::read_text(file) == "new contents");
  CHECK(test::file_mode(file) == 0600);
  CHECK(std::distance(std::filesystem::directory_iterator(directory.path()), {}) == 1);

  const auto nowhere = write_private_file_atomically(directory.path() / "missing" / "secret", "x");
  REQUIRE_FALSE(nowhere);
  CHECK_THAT(nowhere.error(), Catch::Contains("cannot create " + (directory.path() / "missing").string()));
}

TEST_CASE("create_private_directory makes new directories 0700 and leaves existing ones alone", "[libsec][files]") {
  TemporaryDirectory directory("private-file");
  ::chmod(directory.path().c_str(), 0755);
  REQUIRE(create_private_directory(directory.path() / "a" / "b"));
  CHECK(test::file_mode(directory.path() / "a") == 0700);
  CHECK(test::file_mode(directory.path() / "a" / "b") == 0700);
  CHECK(test::file_mode(directory.path()) == 0755);
  REQUIRE(create_private_directory(directory.path() / "a" / "b"));  // already there

  test::write_text(directory.path() / "file", "x");
  const auto over_file = create_private_directory(directory.path() / "file");
  REQUIRE_FALSE(over_file);
  CHECK_THAT(over_file.error(), Catch::Contains("is not a directory"));
}
