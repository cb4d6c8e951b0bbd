#include "firmware/package_installer.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "firmware/boot_record.hpp"
#include "upgrade_test_support.hpp"

using namespace meterd;
using namespace upgrade_test;
using proto::model::Version;

namespace {

// A meter running ION7400 4.0.0 on 2026-06-01 that trusts one vendor key.
struct Installer {
  TemporaryDirectory state;
  sec::KeyHandle key = new_key();
  InstallTarget target;
  Bytes payload = bytes_of("#!/bin/sh\necho this stands in for meterd\n");

  Installer() {
    trust(state.path, key.get());
    target.state_dir = state.path;
    target.model = *proto::model::find_device_model("ION7400");
    target.running = Version{4, 0, 0};
    target.today = date(2026, 6, 1);
    target.factory_executable = "/usr/sbin/meterd";
    target.now = 1780272000;
  }

  Bytes package(const std::string& version = "4.6.0") const { return sign(manifest(version), payload, key.get()); }

  proto::Result<InstalledPackage, PackageRefusal> install(const Bytes& package, const std::string& announced = {}) {
    const auto progress = upload(state.path, package, announced);
    return install_package(UploadStore(state.path).package_file(), progress, target);
  }

  std::optional<BootRecord> record() const {
    auto loaded = load_boot_record(state.path);
    REQUIRE(loaded);
    return *loaded;
  }

  std::filesystem::path slot_file(Slot slot, std::string_view name) const {
    return slot_directory(state.path, slot) / name;
  }
};

// Where the parts of a package start (meter-firmware-package(5), LAYOUT).
std::size_t payload_offset(const Bytes& package) {
  const auto manifest_length =
      (std::to_integer<std::size_t>(package[8]) << 24) | (std::to_integer<std::size_t>(package[9]) << 16) |
      (std::to_integer<std::size_t>(package[10]) << 8) | std::to_integer<std::size_t>(package[11]);
  return sec::k_package_header_bytes + manifest_length + sec::k_payload_length_bytes;
}

std::string refusal_of(const proto::Result<InstalledPackage, PackageRefusal>& result) {
  REQUIRE_FALSE(result);
  return result.error().message;
}

// A refused package leaves no slot and no boot record behind.
void check_nothing_installed(const Installer& installer) {
  CHECK_FALSE(std::filesystem::exists(slot_directory(installer.state.path, Slot::a)));
  CHECK_FALSE(std::filesystem::exists(slot_directory(installer.state.path, Slot::b)));
  CHECK_FALSE(installer.record());
}

}  // namespace

TEST_CASE("A signed package installs into the inactive slot and the boot record names it", "[firmware][upgrade]") {
  Installer installer;
  const auto package = installer.package();
  const auto installed = installer.install(package);
  REQUIRE(installed);
  CHECK(installed->slot == Slot::b);
  CHECK(installed->manifest.firmware_version == Version{4, 6, 0});

  const auto executable = installer.slot_file(Slot::b, k_slot_executable_name);
  CHECK(read_file(executable) == text_of(installer.payload));
  CHECK(file_mode(executable) == 0755);
  CHECK_FALSE(std::filesystem::exists(installer.slot_file(Slot::b, "meterd.tmp")));
  const auto manifest_text = read_file(installer.slot_file(Slot::b, k_slot_manifest_name));
  CHECK(manifest_text == *sec::encode_manifest(installed->manifest) + "\n");

  const auto record = installer.record();
  REQUIRE(record);
  CHECK(record->active == Slot::a);
  CHECK_FALSE(record->trial);
  REQUIRE(record->slot(Slot::a));
  CHECK(record->slot(Slot::a)->factory);
  CHECK(record->slot(Slot::a)->executable == "/usr/sbin/meterd");
  const auto& slot_b = record->slot(Slot::b);
  REQUIRE(slot_b);
  CHECK_FALSE(slot_b->factory);
  CHECK(slot_b->version == Version{4, 6, 0});
  CHECK(slot_b->executable == std::filesystem::absolute(executable).string());
  CHECK(slot_b->installed_at == "2026-06-01T00:00:00Z");
  CHECK(slot_b->key_id == sec::signing_key_id(installer.key.get()));
  CHECK(slot_b->payload_sha256 == sec::sha256_hex(installer.payload));
}

TEST_CASE("A package goes to slot a when slot b is the active one, replacing what was there", "[firmware][upgrade]") {
  Installer installer;
  BootRecord record;
  record.active = Slot::b;
  record.slot(Slot::a) = SlotRecord{true, std::nullopt, "/usr/sbin/meterd", "2026-01-01T00:00:00Z", "", ""};
  record.slot(Slot::b) = SlotRecord{false,
                                    Version{4, 0, 0},
                                    "/somewhere/slot-b/meterd",
                                    "2026-02-01T00:00:00Z",
                                    "0123456789abcdef",
                                    std::string(64, '0')};
  REQUIRE(save_boot_record(installer.state.path, record));
  const auto installed = installer.install(installer.package());
  REQUIRE(installed);
  CHECK(installed->slot == Slot::a);
  const auto after = installer.record();
  REQUIRE(after);
  CHECK(after->active == Slot::b);
  CHECK(after->slot(Slot::b) == record.slot(Slot::b));
  REQUIRE(after->slot(Slot::a));
  CHECK_FALSE(after->slot(Slot::a)->factory);
  CHECK(after->slot(Slot::a)->version == Version{4, 6, 0});
  CHECK(read_file(installer.slot_file(Slot::a, k_slot_executable_name)) == text_of(installer.payload));
}

TEST_CASE("A package that differs from what upgrade.begin announced is refused", "[firmware][upgrade]") {
  Installer installer;
  auto package = installer.package();
  const auto announced = sec::sha256_hex(package);
  package[payload_offset(package)] ^= std::byte{0x01};
  CHECK_THAT(refusal_of(installer.install(package, announced)), Catch::Contains("upgrade.begin announced"));
  check_nothing_installed(installer);
}

TEST_CASE("Packages that fail verification are refused and nothing is installed", "[firmware][upgrade]") {
  Installer installer;
  auto package = installer.package();
  std::string expected;
  SECTION("a bit flipped in the payload") {
    package[payload_offset(package) + 3] ^= std::byte{0x40};
    expected = "payload's SHA-256";
  }
  SECTION("a bit flipped in the signature") {
    package.back() ^= std::byte{0x01};
    expected = "signature does not verify";
  }
  SECTION("signed by a key the meter does not trust") {
    const auto stranger = new_key();
    package = sign(manifest("4.6.0"), installer.payload, stranger.get());
    expected = "not among the keys offered";
  }
  SECTION("a trusted key's id on another key's signature") {
    const auto stranger = new_key();
    const auto forged = sec::decode_firmware_package(sign(manifest("4.6.0"), installer.payload, stranger.get()));
    REQUIRE(forged);
    auto claimed = forged->manifest;
    claimed.key_id = sec::signing_key_id(installer.key.get());
    auto encoded = sec::encode_firmware_package(claimed, installer.payload, forged->signature);
    REQUIRE(encoded);
    package = std::move(*encoded);
    expected = "signature does not verify";
  }
  SECTION("a payload longer than the manifest declares") {
    const auto at = payload_offset(package);
    package.insert(package.begin() + static_cast<std::ptrdiff_t>(at), std::byte{'!'});
    package[at - 1] = static_cast<std::byte>(std::to_integer<unsigned>(package[at - 1]) + 1);
    expected = "payload length field says";
  }
  SECTION("bytes after the signature") {
    package.push_back(std::byte{0});
    expected = "follow the signature";
  }
  SECTION("not a package at all") {
    package = bytes_of("just some bytes that are long enough to be uploaded");
    expected = "not a firmware package";
  }
  SECTION("a package cut short") {
    package.resize(package.size() - 10);
    expected = "ends inside the signature";
  }
  const auto refused = installer.install(package);
  CHECK_THAT(refusal_of(refused), Catch::Contains(expected));
  CHECK(refused.error().kind == PackageRefusal::refused);
  check_nothing_installed(installer);
}

TEST_CASE("Packages this meter may not run are refused and nothing is installed", "[firmware][upgrade]") {
  Installer installer;
  Bytes package;
  std::string expected;
  SECTION("another model") {
    package = sign(manifest("3.0.0", "ION9000"), installer.payload, installer.key.get());
    expected = "the package is for ION9000; this meter is an ION7400";
  }
  SECTION("expired by the meter's clock") {
    auto old = manifest("4.6.0");
    old.released = date(2024, 1, 1);
    old.expires = date(2026, 5, 31);
    package = sign(old, installer.payload, installer.key.get());
    expected = "expired on 2026-05-31";
  }
  SECTION("the version it runs") {
    package = installer.package("4.0.0");
    expected = "already runs firmware 4.0.0";
  }
  SECTION("a version its model does not list") {
    package = installer.package("4.7.0");
    expected = "has no firmware 4.7.0";
  }
  SECTION("a downgrade below the model's rollback floor") {
    package = installer.package("3.0.0");
    expected = "cannot be downgraded, so 3.0.0 is refused";
  }
  CHECK_THAT(refusal_of(installer.install(package)), Catch::Contains(expected));
  check_nothing_installed(installer);
}

TEST_CASE("A refused package leaves the slots and the boot record as they were", "[firmware][upgrade]") {
  Installer installer;
  REQUIRE(installer.install(installer.package()));
  const auto before = installer.record();
  const auto executable = read_file(installer.slot_file(Slot::b, k_slot_executable_name));
  const auto manifest_text = read_file(installer.slot_file(Slot::b, k_slot_manifest_name));

  SECTION("below the boot record's rollback floor") {
    auto record = *before;
    record.rollback_floor = Version{4, 6, 0};
    REQUIRE(save_boot_record(installer.state.path, record));
    installer.target.running = Version{3, 0, 0};
    auto refused = installer.install(installer.package("4.0.0"));
    CHECK_THAT(refusal_of(refused), Catch::Contains("4.6.0"));
    CHECK(installer.record() == record);
  }
  SECTION("a bad signature") {
    auto package = installer.package();
    package.back() ^= std::byte{0x80};
    CHECK(installer.install(package).error().kind == PackageRefusal::refused);
    CHECK(installer.record() == before);
  }
  CHECK(read_file(installer.slot_file(Slot::b, k_slot_executable_name)) == executable);
  CHECK(read_file(installer.slot_file(Slot::b, k_slot_manifest_name)) == manifest_text);
}

TEST_CASE("No package is installed while a trial is pending", "[firmware][upgrade]") {
  Installer installer;
  REQUIRE(installer.install(installer.package()));
  auto record = *installer.record();
  record.trial = TrialRecord{Slot::b, 1, 3, 60, Version{4, 0, 0}, Version{4, 6, 0}, std::nullopt, 1780272000};
  REQUIRE(save_boot_record(installer.state.path, record));
  const auto refused = installer.install(installer.package());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == PackageRefusal::busy);
  CHECK(installer.record() == record);
}

TEST_CASE("The trust store is every .pub file of trusted-keys, and a broken one is reported", "[firmware][upgrade]") {
  TemporaryDirectory state;
  auto none = load_trusted_keys(state.path);
  REQUIRE(none);
  CHECK(none->empty());
  const auto first = new_key();
  const auto second = new_key();
  trust(state.path, first.get(), "a");
  trust(state.path, second.get(), "b");
  std::ofstream(state.path / "trusted-keys" / "README") << "not a key, not a .pub";
  auto keys = load_trusted_keys(state.path);
  REQUIRE(keys);
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].id == sec::signing_key_id(first.get()));
  CHECK((*keys)[1].id == sec::signing_key_id(second.get()));
  std::ofstream(state.path / "trusted-keys" / "c.pub") << "-----BEGIN PUBLIC KEY-----\nbroken\n";
  auto broken = load_trusted_keys(state.path);
  REQUIRE_FALSE(broken);
  CHECK_THAT(broken.error(), Catch::Contains("c.pub"));
}

TEST_CASE("A meter that trusts no key refuses every package, saying where keys go", "[firmware][upgrade]") {
  Installer installer;
  std::filesystem::remove_all(installer.state.path / "trusted-keys");
  CHECK_THAT(refusal_of(installer.install(installer.package())), Catch::Contains("trusted-keys"));
  check_nothing_installed(installer);
}
