#include "cli/upgrade_commands.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include "cli/exit_codes.hpp"
#include "libsec/signing_key.hpp"

using namespace cli;
using namespace std::chrono;

namespace {

sec::Date date(int y, unsigned m, unsigned d) { return sec::Date{year(y), month(m), day(d)}; }

class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::random_device entropy;
    path_ = std::filesystem::temp_directory_path() /
            ("meterctl-upgrade-" + std::to_string(entropy()) + std::to_string(entropy()));
    std::filesystem::create_directories(path_);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_public_key(const std::filesystem::path& file) {
  const auto key = sec::generate_signing_key().value();
  std::ofstream(file) << sec::signing_public_key_pem(key.get()).value();
}

}  // namespace

TEST_CASE("pack takes the features from the model's release of that version", "[cli][upgrade]") {
  PackRequest request;
  request.model = "ion7400";
  request.version = "V004.006.000";
  const auto manifest = manifest_for(request, date(2025, 4, 1));
  REQUIRE(manifest);
  CHECK(manifest->model == "ION7400");
  CHECK(manifest->firmware_version == proto::model::Version{4, 6, 0});
  CHECK(manifest->features == std::vector<std::string>{"bacnet", "password_complexity", "modbus_unix_time"});
  CHECK(manifest->released == date(2025, 4, 1));
  CHECK(manifest->expires == date(2027, 4, 1));
  CHECK(manifest->min_meterctl_version == meterctl_version());
}

TEST_CASE("pack's dates and minimum meterctl version come from the options when given", "[cli][upgrade]") {
  PackRequest request;
  request.model = "ION8650";
  request.version = "4.40.1";
  request.released = "2021-01-15";
  request.expires = "2021-06-30";
  request.min_meterctl = "0.0.1";
  const auto manifest = manifest_for(request, date(2030, 1, 1));
  REQUIRE(manifest);
  CHECK(manifest->released == date(2021, 1, 15));
  CHECK(manifest->expires == date(2021, 6, 30));
  CHECK(manifest->min_meterctl_version == proto::model::Version{0, 0, 1});

  request.expires = "2021-01-15";
  const auto not_after = manifest_for(request, date(2030, 1, 1));
  REQUIRE_FALSE(not_after);
  CHECK(not_after.error().code == exit_data);
  request.expires = "2021-13-01";
  CHECK_FALSE(manifest_for(request, date(2030, 1, 1)));
  request.expires.reset();
  request.min_meterctl = "latest";
  CHECK_FALSE(manifest_for(request, date(2030, 1, 1)));
}

TEST_CASE("pack names the known models and versions when given others", "[cli][upgrade]") {
  PackRequest request;
  request.model = "ION1234";
  request.version = "4.6.0";
  const auto model = manifest_for(request, date(2025, 4, 1));
  REQUIRE_FALSE(model);
  CHECK(model.error().code == exit_data);
  CHECK_THAT(model.error().message, Catch::Contains("ION7400") && Catch::Contains("PM8000"));

  request.model = "ION7400";
  request.version = "4.7.0";
  const auto version = manifest_for(request, date(2025, 4, 1));
  REQUIRE_FALSE(version);
  CHECK(version.error().code == exit_data);
  CHECK_THAT(version.error().message, Catch::Contains("3.0.0, 4.0.0, 4.6.0"));

  // A model file's path is no model name: a package must name a model every verifier knows.
  request.model = "profiles/models/ION7400.yaml";
  request.version = "4.6.0";
  CHECK_FALSE(manifest_for(request, date(2025, 4, 1)));
}

TEST_CASE("The trusted keys are every .pub file of the directory", "[cli][upgrade]") {
  ScratchDirectory scratch;
  const auto directory = scratch.path() / "trusted-keys";
  const auto missing = load_trusted_keys(directory);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == exit_config);
  CHECK_THAT(missing.error().message, Catch::Contains(directory.string()));

  std::filesystem::create_directories(directory);
  std::ofstream(directory / "README") << "not a key\n";
  CHECK(load_trusted_keys(directory).error().code == exit_config);

  write_public_key(directory / "b.pub");
  write_public_key(directory / "a.pub");
  const auto keys = load_trusted_keys(directory);
  REQUIRE(keys);
  REQUIRE(keys->size() == 2);
  CHECK(keys->at(0).source == (directory / "a.pub").string());
  CHECK(sec::is_valid_key_id(keys->at(1).id));

  std::ofstream(directory / "broken.pub") << "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  const auto broken = load_trusted_keys(directory);
  REQUIRE_FALSE(broken);
  CHECK(broken.error().code == exit_config);
  CHECK_THAT(broken.error().message, Catch::Contains("broken.pub"));
}

TEST_CASE("A bad signature or an unknown key is a denial; anything else about a package, bad data", "[cli][upgrade]") {
  CHECK(exit_code_for(sec::PackageError::bad_signature) == exit_denied);
  CHECK(exit_code_for(sec::PackageError::unknown_key) == exit_denied);
  CHECK(exit_code_for(sec::PackageError::truncated) == exit_data);
  CHECK(exit_code_for(sec::PackageError::expired) == exit_data);
  CHECK(exit_code_for(sec::PackageError::requires_newer_meterctl) == exit_data);
}

TEST_CASE("verify shows the manifest with its own keys", "[cli][upgrade]") {
  sec::FirmwareManifest manifest;
  manifest.model = "ION7400";
  manifest.firmware_version = {4, 6, 0};
  manifest.min_meterctl_version = {0, 1, 0};
  manifest.released = date(2025, 4, 1);
  manifest.expires = date(2027, 4, 1);
  manifest.features = {"bacnet"};
  manifest.key_id = "0123456789abcdef";
  manifest.payload_length = 10;
  const auto document = manifest_document(manifest);
  CHECK(document.at("firmware_version_vendor") == "V004.006.000");
  CHECK(document.at("payload_length") == 10);
  CHECK(document.size() == 10);
  const auto rows = manifest_rows(manifest);
  REQUIRE(rows.size() == 10);
  CHECK(rows[0] == std::vector<std::string>{"model", "ION7400"});
}
