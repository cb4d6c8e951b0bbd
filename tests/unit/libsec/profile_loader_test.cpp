#include "libsec/profile_loader.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "libproto/model/yaml_document.hpp"
#include "libsec_test_support.hpp"

using namespace sec;

namespace {

const std::string k_head = "apiVersion: meterctl/v1\nkind: MeterProfile\n";

// Files in memory, keyed by path as the loader asks for them; every read is recorded.
struct MemoryFiles {
  std::map<std::string, std::string> files;
  std::vector<std::string> reads;

  ProfileFileReader reader() {
    return [this](const std::filesystem::path& path) -> proto::Result<std::string, std::string> {
      reads.push_back(path.string());
      const auto found = files.find(path.string());
      if (found == files.end()) return proto::unexpected(path.string() + ": no such file");
      return found->second;
    };
  }
};

}  // namespace

TEST_CASE("A profile without extends loads as it parses", "[libsec][profile-loader]") {
  MemoryFiles disk;
  disk.files["sites/a.yaml"] = k_head + "communications:\n  modbus_tcp: {port: 502}\n";
  const auto loaded = load_profile("sites/a.yaml", disk.reader());
  REQUIRE(loaded);
  CHECK(loaded->profile.communications.modbus_tcp.port == 502);
  CHECK(loaded->files == std::vector<std::filesystem::path>{"sites/a.yaml"});
}

TEST_CASE("extends composes the chain base first, each path relative to its file", "[libsec][profile-loader]") {
  MemoryFiles disk;
  disk.files["fleet/sites/site.yaml"] = k_head + R"(extends: ../regions/north.yaml
communications:
  modbus_tcp: {port: 1502}
security:
  users:
    - name: operator
      permissions: [read]
      password_file: secrets/operator.pw
)";
  disk.files["fleet/regions/north.yaml"] = k_head + R"(extends: ../base.yaml
clock: {time_zone: Europe/Oslo}
communications:
  modbus_tcp: {enabled: true}
)";
  disk.files["fleet/base.yaml"] = k_head + R"(clock: {time_zone: UTC, time_sync: true}
communications:
  modbus_tcp: {enabled: false, port: 502, access: read-only}
security:
  users:
    - name: admin
      permissions: [all]
      password_file: admin.pw
    - name: root
      permissions: [all]
      password_file: /etc/meter/root.pw
)";
  const auto loaded = load_profile("fleet/sites/site.yaml", disk.reader());
  if (!loaded) FAIL(loaded.error());
  const auto& profile = loaded->profile;
  CHECK(loaded->files ==
        std::vector<std::filesystem::path>{"fleet/sites/site.yaml", "fleet/regions/north.yaml", "fleet/base.yaml"});
  CHECK_FALSE(profile.extends);
  CHECK(profile.locations.count("extends") == 0);
  CHECK(profile.communications.modbus_tcp == PortSetting{true, 1502});
  CHECK(profile.security.modbus_access == ModbusAccess::read_only);
  CHECK(profile.clock.time_zone == "Europe/Oslo");
  CHECK(profile.security.time_sync == true);
  REQUIRE(profile.security.users.size() == 3);
  // Password files are resolved against the directory of the file that names them.
  CHECK(profile.security.users[0].password_file == "fleet/admin.pw");
  CHECK(profile.security.users[1].password_file == "/etc/meter/root.pw");
  CHECK(profile.security.users[2].password_file == "fleet/sites/secrets/operator.pw");
  CHECK(profile.location_of("communications.modbus_tcp.port") == "fleet/sites/site.yaml:5:16");
  CHECK(profile.location_of("communications.modbus_tcp.enabled") == "fleet/regions/north.yaml:6:16");
  CHECK(profile.location_of("clock.time_sync").starts_with("fleet/base.yaml:"));
}

TEST_CASE("A cycle of extends is refused, naming the chain", "[libsec][profile-loader]") {
  MemoryFiles disk;
  disk.files["a.yaml"] = k_head + "extends: b.yaml\n";
  disk.files["b.yaml"] = k_head + "metadata: {name: b}\nextends: ./c.yaml\n";
  disk.files["c.yaml"] = k_head + "extends: sub/../a.yaml\n";
  const auto loaded = load_profile("a.yaml", disk.reader());
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error() ==
        "c.yaml:3:1: extends makes a cycle: a.yaml -> b.yaml -> c.yaml -> a.yaml; remove one of "
        "these extends");

  disk.files["self.yaml"] = k_head + "extends: self.yaml\n";
  const auto self = load_profile("self.yaml", disk.reader());
  REQUIRE_FALSE(self);
  CHECK(self.error().starts_with("self.yaml:3:1: extends makes a cycle: self.yaml -> self.yaml"));
}

TEST_CASE("extends may go k_max_extends_depth files deep, no deeper", "[libsec][profile-loader]") {
  MemoryFiles disk;
  const auto name = [](int i) { return "p" + std::to_string(i) + ".yaml"; };
  for (int i = 0; i < k_max_extends_depth; ++i) disk.files[name(i)] = k_head + "extends: " + name(i + 1) + "\n";
  disk.files[name(k_max_extends_depth)] = k_head + "clock: {time_zone: UTC}\n";
  const auto deepest = load_profile(name(0), disk.reader());
  if (!deepest) FAIL(deepest.error());
  CHECK(deepest->files.size() == static_cast<std::size_t>(k_max_extends_depth) + 1);
  CHECK(deepest->profile.clock.time_zone == "UTC");

  disk.files[name(k_max_extends_depth)] = k_head + "extends: " + name(k_max_extends_depth + 1) + "\n";
  disk.files[name(k_max_extends_depth + 1)] = k_head;
  const auto too_deep = load_profile(name(0), disk.reader());
  REQUIRE_FALSE(too_deep);
  CHECK(
      too_deep.error().starts_with(name(k_max_extends_depth) + ":3:1: extends goes deeper than 8 bases (p0.yaml -> "));
}

TEST_CASE("A base that cannot be read is reported where extends names it", "[libsec][profile-loader]") {
  MemoryFiles disk;
  disk.files["site/site.yaml"] = k_head + "metadata: {name: x}\nextends: ../missing.yaml\n";
  const auto loaded = load_profile("site/site.yaml", disk.reader());
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error() ==
        "site/site.yaml:4:1: extends names missing.yaml, which cannot be read: missing.yaml: no "
        "such file");

  const auto first = load_profile("nowhere.yaml", disk.reader());
  REQUIRE_FALSE(first);
  CHECK(first.error() == "nowhere.yaml: no such file");
}

TEST_CASE("A base with an error is reported in its own file", "[libsec][profile-loader]") {
  MemoryFiles disk;
  disk.files["site.yaml"] = k_head + "extends: base.yaml\n";
  disk.files["base.yaml"] = k_head + "clock: {time_zone: Nowhere}\n";
  const auto loaded = load_profile("site.yaml", disk.reader());
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().starts_with("base.yaml:3:20: clock.time_zone is 'Nowhere'"));
}

TEST_CASE("read_profile_file reads a file and refuses one over the YAML size limit", "[libsec][profile-loader]") {
  test::TemporaryDirectory directory("profile-loader");
  const auto small = directory.path() / "small.yaml";
  test::write_text(small, k_head);
  const auto text = read_profile_file(small);
  REQUIRE(text);
  CHECK(*text == k_head);

  const auto large = directory.path() / "large.yaml";
  test::write_text(large, k_head + "# " + std::string(proto::model::k_max_yaml_bytes, 'x') + "\n");
  const auto refused = read_profile_file(large);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().starts_with(large.string() + ": the profile is larger than 1048576 bytes"));

  const auto missing = read_profile_file(directory.path() / "missing.yaml");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().find("cannot open the profile") != std::string::npos);

  const auto loaded = load_profile(small);
  CHECK(loaded);
}
