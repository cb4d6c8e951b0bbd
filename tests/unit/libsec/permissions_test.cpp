#include "libsec/permissions.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sec;

namespace {

const std::vector<std::string_view> k_kebab_names{"time-sync", "read",      "peak-demand-reset", "comm-config",
                                                  "test-mode", "full-meter-config", "security-config"};

}  // namespace

// Usable in constant expressions, so a default grant can be a constexpr constant.
static_assert(PermissionSet::all().bits() == 0x7F);
static_assert(PermissionSet{}.empty());
static_assert(PermissionSet::of({Permission::read, Permission::time_sync}).bits() == 0x03);
static_assert(PermissionSet::from_bits(0xFF) == PermissionSet::all());

TEST_CASE("The seven permissions of seed 004 in the seed's order with their names", "[libsec][permissions]") {
  const std::vector<std::string_view> display{"Time Sync", "Read",      "Peak Demand Reset", "Comm Config",
                                              "Test Mode", "Full Meter Config", "Security Config"};
  REQUIRE(k_all_permissions.size() == 7);
  for (std::size_t i = 0; i < k_all_permissions.size(); ++i) {
    CHECK(static_cast<std::size_t>(k_all_permissions[i]) == i);
    CHECK(to_string(k_all_permissions[i]) == k_kebab_names[i]);
    CHECK(display_name(k_all_permissions[i]) == display[i]);
  }
}

TEST_CASE("parse_permission reads each kebab name and nothing else", "[libsec][permissions]") {
  for (const Permission permission : k_all_permissions) {
    const auto parsed = parse_permission(to_string(permission));
    REQUIRE(parsed);
    CHECK(*parsed == permission);
  }
  CHECK_FALSE(parse_permission(""));
  CHECK_FALSE(parse_permission("Read"));
  CHECK_FALSE(parse_permission("READ"));
  CHECK_FALSE(parse_permission("time_sync"));
  CHECK_FALSE(parse_permission("Time Sync"));
  CHECK_FALSE(parse_permission(" read"));
  CHECK_FALSE(parse_permission("all"));
}

TEST_CASE("A PermissionSet adds and removes single permissions", "[libsec][permissions]") {
  PermissionSet set;
  CHECK(set.empty());
  set.add(Permission::read);
  set.add(Permission::read);
  set.add(Permission::test_mode);
  CHECK(set.has(Permission::read));
  CHECK(set.has(Permission::test_mode));
  CHECK_FALSE(set.has(Permission::security_config));
  CHECK_FALSE(set.empty());
  set.remove(Permission::read);
  set.remove(Permission::comm_config);  // absent: no change
  CHECK_FALSE(set.has(Permission::read));
  CHECK(set == PermissionSet::of({Permission::test_mode}));
  set.remove(Permission::test_mode);
  CHECK(set.empty());
  CHECK(set == PermissionSet{});
}

TEST_CASE("PermissionSet with and without leave the original set alone", "[libsec][permissions]") {
  const auto readers = PermissionSet::of({Permission::read, Permission::time_sync});
  const auto operators = PermissionSet::of({Permission::read, Permission::peak_demand_reset});
  const auto both = readers.with(operators);
  CHECK(both == PermissionSet::of({Permission::read, Permission::time_sync, Permission::peak_demand_reset}));
  CHECK(readers.without(operators) == PermissionSet::of({Permission::time_sync}));
  CHECK(readers == PermissionSet::of({Permission::time_sync, Permission::read}));
  CHECK(PermissionSet::all().without(PermissionSet::all()).empty());
  CHECK(PermissionSet{}.with(PermissionSet::all()) == PermissionSet::all());
}

TEST_CASE("PermissionSet all holds every permission", "[libsec][permissions]") {
  const auto all = PermissionSet::all();
  for (const Permission permission : k_all_permissions) CHECK(all.has(permission));
  CHECK(all.names() == k_kebab_names);
  CHECK(all == PermissionSet::of({Permission::time_sync, Permission::read, Permission::peak_demand_reset,
                                  Permission::comm_config, Permission::test_mode, Permission::full_meter_config,
                                  Permission::security_config}));
}

TEST_CASE("PermissionSet bits put permission n at bit n and from_bits drops bit 7", "[libsec][permissions]") {
  CHECK(PermissionSet::of({Permission::time_sync}).bits() == 0x01);
  CHECK(PermissionSet::of({Permission::read}).bits() == 0x02);
  CHECK(PermissionSet::of({Permission::security_config}).bits() == 0x40);
  CHECK(PermissionSet::from_bits(0xFF) == PermissionSet::all());
  CHECK(PermissionSet::from_bits(0x80).empty());
  CHECK(PermissionSet::from_bits(0x82) == PermissionSet::of({Permission::read}));
  for (unsigned bits = 0; bits < 0x80; ++bits) {
    CHECK(PermissionSet::from_bits(static_cast<std::uint8_t>(bits)).bits() == bits);
  }
}

TEST_CASE("PermissionSet names follow k_all_permissions order whatever the insertion order",
          "[libsec][permissions]") {
  const auto set = PermissionSet::of({Permission::security_config, Permission::read, Permission::time_sync});
  CHECK(set.names() == std::vector<std::string_view>{"time-sync", "read", "security-config"});
  CHECK(PermissionSet{}.names().empty());
}

TEST_CASE("parse_permission_list reads comma-separated names with optional spaces", "[libsec][permissions]") {
  const auto expected = PermissionSet::of({Permission::read, Permission::time_sync});
  for (const std::string_view text : {"read,time-sync", "read, time-sync", " read ,\ttime-sync ", "time-sync,read",
                                      "read,time-sync,read"}) {
    INFO(text);
    const auto parsed = parse_permission_list(text);
    REQUIRE(parsed);
    CHECK(*parsed == expected);
  }
  const auto single = parse_permission_list("security-config");
  REQUIRE(single);
  CHECK(*single == PermissionSet::of({Permission::security_config}));
}

TEST_CASE("parse_permission_list takes all for every permission", "[libsec][permissions]") {
  for (const std::string_view text : {"all", " all ", "all,read", "read, all"}) {
    INFO(text);
    const auto parsed = parse_permission_list(text);
    REQUIRE(parsed);
    CHECK(*parsed == PermissionSet::all());
  }
  CHECK_FALSE(parse_permission_list("ALL"));
}

TEST_CASE("parse_permission_list names the bad item and lists the valid names", "[libsec][permissions]") {
  const auto parsed = parse_permission_list("read,reed,time-sync");
  REQUIRE_FALSE(parsed);
  const std::string& message = parsed.error();
  CHECK_THAT(message, Catch::Contains("\"reed\""));
  for (const auto name : k_kebab_names) CHECK_THAT(message, Catch::Contains(std::string(name)));
  CHECK_THAT(message, Catch::Contains("all"));
}

TEST_CASE("parse_permission_list refuses empty lists and empty items", "[libsec][permissions]") {
  for (const std::string_view text : {"", "   ", "read,", ",read", "read,,time-sync", "read, ,time-sync"}) {
    INFO(text);
    const auto parsed = parse_permission_list(text);
    REQUIRE_FALSE(parsed);
    CHECK_THAT(parsed.error(), Catch::Contains("empty"));
    CHECK_THAT(parsed.error(), Catch::Contains("time-sync"));
  }
  const auto third = parse_permission_list("read,time-sync,");
  REQUIRE_FALSE(third);
  CHECK_THAT(third.error(), Catch::Contains("position 3"));
}

TEST_CASE("parse_permission_list shows a bad item without control characters and cut short",
          "[libsec][permissions]") {
  const auto escaped = parse_permission_list("read\x1b[2J");
  REQUIRE_FALSE(escaped);
  CHECK(escaped.error().find('\x1b') == std::string::npos);
  CHECK_THAT(escaped.error(), Catch::Contains("\"read?[2J\""));

  const std::string long_item(500, 'x');
  const auto long_list = parse_permission_list(long_item);
  REQUIRE_FALSE(long_list);
  CHECK(long_list.error().find(long_item.substr(0, 41)) == std::string::npos);
  CHECK_THAT(long_list.error(), Catch::Contains("...\""));
}
