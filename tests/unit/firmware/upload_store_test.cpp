#include "firmware/upload_store.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "upgrade_test_support.hpp"

using namespace meterd;
using namespace upgrade_test;

namespace {

const std::string k_hash_a(64, 'a');
const std::string k_hash_b(64, 'b');

std::span<const std::byte> span_of(const Bytes& bytes) { return bytes; }

}  // namespace

TEST_CASE("An upload resumes at the bytes on disk when the store is opened again", "[firmware][upgrade]") {
  TemporaryDirectory state;
  const auto data = bytes_of("0123456789abcdefghij");
  {
    UploadStore store(state.path);
    auto begun = store.begin(data.size(), k_hash_a);
    REQUIRE(begun);
    CHECK(begun->offset == 0);
    auto appended = store.append(0, span_of(data).first(7));
    REQUIRE(appended);
    CHECK(appended->offset == 7);
  }
  // A meterd killed and started again: nothing but the files remains.
  UploadStore reopened(state.path);
  const auto current = reopened.current();
  REQUIRE(current);
  CHECK(*current == UploadProgress{data.size(), k_hash_a, 7});
  auto resumed = reopened.begin(data.size(), k_hash_a);
  REQUIRE(resumed);
  CHECK(resumed->offset == 7);
  auto rest = reopened.append(7, span_of(data).subspan(7));
  REQUIRE(rest);
  CHECK(rest->offset == data.size());
  CHECK(read_file(reopened.package_file()) == text_of(data));
  CHECK(file_mode(reopened.package_file()) == 0600);
}

TEST_CASE("A chunk at another offset than the end is refused and names the offset expected", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  REQUIRE(store.begin(100, k_hash_a));
  REQUIRE(store.append(0, bytes_of("0123456789")));
  for (const std::uint64_t wrong : {0U, 5U, 11U, 99U}) {
    auto appended = store.append(wrong, bytes_of("x"));
    REQUIRE_FALSE(appended);
    CHECK(appended.error().kind == UploadError::invalid_argument);
    CHECK_THAT(appended.error().message, Catch::Contains("expected offset 10"));
  }
  CHECK(read_file(store.package_file()) == "0123456789");
  CHECK(store.current()->offset == 10);
}

TEST_CASE("An upload never grows past its announced length", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  REQUIRE(store.begin(12, k_hash_a));
  REQUIRE(store.append(0, bytes_of("0123456789")));
  auto overflow = store.append(10, bytes_of("abc"));
  REQUIRE_FALSE(overflow);
  CHECK(overflow.error().kind == UploadError::invalid_argument);
  CHECK_THAT(overflow.error().message, Catch::Contains("past the announced length of 12"));
  CHECK(read_file(store.package_file()) == "0123456789");
  auto last = store.append(10, bytes_of("ab"));
  REQUIRE(last);
  CHECK(last->offset == 12);
  CHECK_FALSE(store.append(12, bytes_of("c")));
}

TEST_CASE("upgrade.begin with another hash or length starts a new upload", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  REQUIRE(store.begin(20, k_hash_a));
  REQUIRE(store.append(0, bytes_of("01234")));

  auto other_hash = store.begin(20, k_hash_b);
  REQUIRE(other_hash);
  CHECK(other_hash->offset == 0);
  CHECK(other_hash->sha256 == k_hash_b);
  CHECK(read_file(store.package_file()).empty());

  REQUIRE(store.append(0, bytes_of("01234")));
  auto other_length = store.begin(21, k_hash_b);
  REQUIRE(other_length);
  CHECK(other_length->offset == 0);
  CHECK(store.current()->length == 21);
}

TEST_CASE("upgrade.begin refuses lengths no package has and hashes that are no SHA-256", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  for (const std::uint64_t length : {std::uint64_t{0}, k_max_package_bytes + 1, ~std::uint64_t{0}}) {
    auto begun = store.begin(length, k_hash_a);
    REQUIRE_FALSE(begun);
    CHECK(begun.error().kind == UploadError::invalid_argument);
  }
  CHECK(store.begin(k_max_package_bytes, k_hash_a));
  for (const auto& hash : {std::string(), std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'g')}) {
    auto begun = store.begin(10, hash);
    REQUIRE_FALSE(begun);
    CHECK_THAT(begun.error().message, Catch::Contains("sha256"));
  }
  // Upper case names the same upload as lower case.
  auto upper = store.begin(10, std::string(64, 'A'));
  REQUIRE(upper);
  CHECK(upper->sha256 == std::string(64, 'a'));
  REQUIRE(store.append(0, bytes_of("abc")));
  CHECK(store.begin(10, std::string(64, 'a'))->offset == 3);
}

TEST_CASE("A chunk without an upload is refused", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  CHECK_FALSE(store.current());
  auto appended = store.append(0, bytes_of("x"));
  REQUIRE_FALSE(appended);
  CHECK_THAT(appended.error().message, Catch::Contains("upgrade.begin"));
}

TEST_CASE("Discarding removes the upload directory", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  auto none = store.discard();
  REQUIRE(none);
  CHECK_FALSE(*none);
  REQUIRE(store.begin(10, k_hash_a));
  REQUIRE(store.append(0, bytes_of("abc")));
  auto discarded = store.discard();
  REQUIRE(discarded);
  CHECK(*discarded);
  CHECK_FALSE(std::filesystem::exists(upload_directory(state.path)));
  CHECK_FALSE(store.current());
  CHECK(store.begin(10, k_hash_a)->offset == 0);
}

TEST_CASE("An upload record that makes no sense counts as no upload", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  REQUIRE(store.begin(5, k_hash_a));
  REQUIRE(store.append(0, bytes_of("abcde")));
  SECTION("a package.part longer than its record") { std::ofstream(store.package_file(), std::ios::app) << "f"; }
  SECTION("a record that is not JSON") { std::ofstream(store.record_file(), std::ios::trunc) << "{\"length\": 5, "; }
  SECTION("a record with a length out of range") {
    std::ofstream(store.record_file(), std::ios::trunc) << "{\"length\": 0, \"sha256\": \"" << k_hash_a << "\"}";
  }
  CHECK_FALSE(store.current());
  auto begun = store.begin(5, k_hash_a);
  REQUIRE(begun);
  CHECK(begun->offset == 0);
}

TEST_CASE("An upload whose package.part was never created starts at 0", "[firmware][upgrade]") {
  TemporaryDirectory state;
  UploadStore store(state.path);
  REQUIRE(store.begin(5, k_hash_a));
  std::filesystem::remove(store.package_file());
  const auto current = store.current();
  REQUIRE(current);
  CHECK(current->offset == 0);
  CHECK(store.append(0, bytes_of("ab"))->offset == 2);
}
