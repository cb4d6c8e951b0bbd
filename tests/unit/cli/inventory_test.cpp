#include "cli/inventory.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>

using namespace cli;

namespace {

const char* const k_inventory = R"(apiVersion: meterctl/v1
kind: Inventory
defaults:
  profile: site.yaml
  port: 7700
  tls: false
  credentials: {user: User1, password_file: secrets/user1.pw}
  tags: {site: north, role: feeder}
meters:
  - name: feeder-01
    address: 127.0.0.1
  - name: feeder-02
    address: 10.0.0.2
    port: 7701
    tls: true
    tags: {role: incomer}
    credentials: {password_env: FEEDER_02_PW}
    profile: /etc/meters/other.yaml
  - name: feeder-03
    address: meter3.example.net
    overrides:
      communications:
        modbus_tcp: {unit_id: 3}
)";

Inventory parse(std::string_view text, const std::filesystem::path& file = "fleet/inventory.yaml") {
  auto inventory = parse_inventory(text, file);
  if (!inventory) FAIL(inventory.error());
  return *inventory;
}

std::string parse_error(std::string_view text) {
  auto inventory = parse_inventory(text, "inv.yaml");
  if (inventory) FAIL("accepted:\n" << text);
  return inventory.error();
}

// An inventory of `names`, one meter each, in that order.
Inventory inventory_of(const std::vector<std::string>& names) {
  Inventory inventory;
  for (const auto& name : names) {
    InventoryMeter meter;
    meter.name = name;
    meter.address = "127.0.0.1";
    inventory.meters.push_back(meter);
  }
  return inventory;
}

std::vector<std::string> names_of(const std::vector<InventoryMeter>& meters) {
  std::vector<std::string> names;
  for (const auto& meter : meters) names.push_back(meter.name);
  return names;
}

EnvironmentLookup environment_of(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    const auto found = variables.find(std::string(name));
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

}  // namespace

TEST_CASE("An inventory's defaults apply to every meter and a meter's own keys win", "[cli][inventory]") {
  const auto inventory = parse(k_inventory);
  REQUIRE(inventory.meters.size() == 3);

  const auto& first = inventory.meters[0];
  CHECK(first.name == "feeder-01");
  CHECK(first.address == "127.0.0.1");
  CHECK(first.port == 7700);
  CHECK_FALSE(first.tls);
  CHECK(first.tags == std::map<std::string, std::string>{{"site", "north"}, {"role", "feeder"}});
  CHECK(first.credentials.user == "User1");
  // Relative paths are taken from the inventory's directory.
  CHECK(first.credentials.password_file == std::filesystem::path("fleet/secrets/user1.pw"));
  CHECK(first.profile == std::filesystem::path("fleet/site.yaml"));
  CHECK_FALSE(first.overrides);
  CHECK(first.location == "fleet/inventory.yaml:10:5");

  const auto& second = inventory.meters[1];
  CHECK(second.port == 7701);
  CHECK(second.tls);
  // Tags merge key by key; credentials are replaced as a whole.
  CHECK(second.tags == std::map<std::string, std::string>{{"site", "north"}, {"role", "incomer"}});
  CHECK(second.credentials.user.empty());
  CHECK_FALSE(second.credentials.password_file);
  CHECK(second.credentials.password_env == "FEEDER_02_PW");
  CHECK(second.profile == std::filesystem::path("/etc/meters/other.yaml"));

  const auto& third = inventory.meters[2];
  REQUIRE(third.overrides);
  CHECK(third.overrides->communications.modbus_unit_id == 3);
  // The overrides keep their place in the inventory, for the errors found later.
  CHECK(third.overrides->location_of("communications.modbus_tcp.unit_id").rfind("fleet/inventory.yaml:", 0) == 0);
}

TEST_CASE("Without defaults a meter uses TLS on meterd's TLS port, else the plain port", "[cli][inventory]") {
  const auto inventory = parse(
      "apiVersion: meterctl/v1\nkind: Inventory\nmeters:\n"
      "  - {name: a, address: 10.0.0.1}\n"
      "  - {name: b, address: 10.0.0.2, tls: false}\n"
      "  - {name: c, address: 'fe80::1', tls: false, port: 1}\n");
  CHECK(inventory.meters[0].tls);
  CHECK(inventory.meters[0].port == k_inventory_secure_port);
  CHECK(inventory.meters[1].port == k_inventory_plain_port);
  CHECK(inventory.meters[2].address == "fe80::1");
  CHECK(inventory.meters[2].port == 1);
  CHECK_FALSE(inventory.meters[0].profile);
  CHECK(inventory.meters[0].credentials == InventoryCredentials{});
}

TEST_CASE("Inventory errors name file, line and column", "[cli][inventory]") {
  const std::string head = "apiVersion: meterctl/v1\nkind: Inventory\n";
  CHECK(parse_error(head + "meters:\n  - name: a\n    address: x\n    colour: red\n") ==
        "inv.yaml:6:5: unknown key 'colour' in meter; expected one of: name, address, port, tls, tags, credentials, "
        "profile, overrides");
  CHECK(parse_error(head + "meters:\n  - name: a\n    address: x\n    port: 70000\n").rfind("inv.yaml:6:11: ", 0) == 0);
  CHECK(parse_error(head + "meters:\n  - name: 'bad name'\n    address: x\n").rfind("inv.yaml:4:11: ", 0) == 0);
  CHECK(parse_error(head + "meters:\n  - name: a\n    address: x\n  - name: a\n    address: y\n") ==
        "inv.yaml:6:11: meter 'a' is already listed at inv.yaml:4:5");
  CHECK(parse_error(head + "meters:\n  - name: a\n").rfind("inv.yaml:4:5: ", 0) == 0);  // no address
  CHECK(parse_error(head + "meters:\n  - name: a\n    address: 'a b'\n").rfind("inv.yaml:5:14: ", 0) == 0);
  CHECK(parse_error(head + "meters:\n  - name: a\n    address: x\n    tls: maybe\n").rfind("inv.yaml:6:10: ", 0) == 0);
  CHECK(parse_error("apiVersion: meterctl/v2\nkind: Inventory\nmeters: []\n").rfind("inv.yaml:1:13: ", 0) == 0);
  CHECK(parse_error("apiVersion: meterctl/v1\nkind: MeterProfile\nmeters: []\n").rfind("inv.yaml:2:7: ", 0) == 0);
  CHECK(parse_error(head + "meters: {a: b}\n").rfind("inv.yaml:3:9: ", 0) == 0);
  CHECK(
      parse_error(head + "meters:\n  - name: a\n    address: x\n    credentials: {password_file: a, password_env: B}\n")
          .rfind("inv.yaml:6:51: ", 0) == 0);
  CHECK(parse_error(head + "meters:\n  - name: a\n    address: x\n    credentials: {password_env: 1X}\n")
            .rfind("inv.yaml:6:33: ", 0) == 0);
  CHECK(parse_error(head + "meters:\n  - name: a\n    address: x\n    tags: {name: b}\n").rfind("inv.yaml:6:12: ", 0) ==
        0);
  CHECK(parse_error(head + "defaults:\n  overrides: {}\nmeters: []\n").rfind("inv.yaml:4:3: ", 0) == 0);
  CHECK(parse_error("meters: [\n").rfind("inv.yaml:", 0) == 0);
  CHECK(parse_error("").rfind("inv.yaml", 0) == 0);
}

TEST_CASE("Errors inside a meter's overrides point into the inventory", "[cli][inventory]") {
  const std::string head = "apiVersion: meterctl/v1\nkind: Inventory\nmeters:\n  - name: a\n    address: x\n";
  // Block style: the profile parser sees the overrides at their own lines and columns.
  const auto block = parse_error(head + "    overrides:\n      communications:\n        modbus_tcp: {unit_id: 300}\n");
  CHECK(block.rfind("inv.yaml:8:", 0) == 0);
  // Flow style: located at the overrides themselves.
  const auto flow = parse_error(head + "    overrides: {communications: {modbus_tcp: {unit_id: 300}}}\n");
  CHECK(flow.rfind("inv.yaml:6:16: ", 0) == 0);
  // The overrides are profile keys, not a profile.
  CHECK(parse_error(head + "    overrides:\n      apiVersion: meterctl/v1\n").rfind("inv.yaml:7:7: ", 0) == 0);
  CHECK(parse_error(head + "    overrides:\n      extends: base.yaml\n").rfind("inv.yaml:7:7: ", 0) == 0);
}

TEST_CASE("Overrides in flow style parse like block style, password files from the inventory", "[cli][inventory]") {
  const std::string head = "apiVersion: meterctl/v1\nkind: Inventory\nmeters:\n  - name: a\n    address: x\n";
  const auto block = parse(head +
                           "    overrides:\n"
                           "      # a comment at any indentation\n"
                           "      security:\n"
                           "        users:\n"
                           "# flush left\n"
                           "          - {name: op, permissions: [read], password_file: op.pw}\n"
                           "  - name: b\n    address: y\n");
  const auto flow =
      parse(head + "    overrides: {security: {users: [{name: op, permissions: [read], password_file: op.pw}]}}\n");
  REQUIRE(block.meters.size() == 2);
  CHECK_FALSE(block.meters[1].overrides);
  REQUIRE(block.meters[0].overrides);
  REQUIRE(flow.meters[0].overrides);
  const auto& users = block.meters[0].overrides->security.users;
  REQUIRE(users.size() == 1);
  CHECK(users[0].password_file == "fleet/op.pw");
  CHECK(flow.meters[0].overrides->security.users.at(0).password_file == "fleet/op.pw");
  CHECK(sec::flatten_profile(*block.meters[0].overrides) == sec::flatten_profile(*flow.meters[0].overrides));
}

TEST_CASE("Meter names are file-name-safe words of 1 to 64 characters", "[cli][inventory]") {
  CHECK(valid_meter_name("feeder-01"));
  CHECK(valid_meter_name("a.b_c-D9"));
  CHECK(valid_meter_name(std::string(64, 'x')));
  CHECK_FALSE(valid_meter_name(std::string(65, 'x')));
  CHECK_FALSE(valid_meter_name(""));
  CHECK_FALSE(valid_meter_name("a b"));
  CHECK_FALSE(valid_meter_name("a/b"));
  CHECK_FALSE(valid_meter_name("é"));
}

TEST_CASE("Selectors (--select) match tags and names, all selectors at once, with patterns", "[cli][inventory]") {
  const auto inventory = parse(k_inventory);
  const auto select = [&](std::vector<std::string> texts) {
    std::vector<Selector> selectors;
    for (const auto& text : texts) {
      auto selector = parse_selector(text);
      REQUIRE(selector);
      selectors.push_back(*selector);
    }
    return names_of(select_meters(inventory, selectors, std::nullopt));
  };
  CHECK(select({}) == std::vector<std::string>{"feeder-01", "feeder-02", "feeder-03"});
  CHECK(select({"role=feeder"}) == std::vector<std::string>{"feeder-01", "feeder-03"});
  CHECK(select({"role=feeder", "name=*-03"}) == std::vector<std::string>{"feeder-03"});
  CHECK(select({"name=feeder-0[12]"}) == std::vector<std::string>{"feeder-01", "feeder-02"});
  CHECK(select({"site=nor*"}).size() == 3);
  CHECK(select({"site=south"}).empty());
  CHECK(select({"building=a"}).empty());  // a meter without the tag does not match

  CHECK(*parse_selector("role=feeder") == Selector{"role", "feeder"});
  CHECK(*parse_selector("a=b=c") == Selector{"a", "b=c"});
  CHECK_FALSE(parse_selector("role"));
  CHECK_FALSE(parse_selector("=x"));
  CHECK_FALSE(parse_selector("role="));
  CHECK_FALSE(parse_selector("ro le=x"));
}

TEST_CASE("FNV-1a 64 gives the published values", "[cli][inventory]") {
  // draft-eastlake-fnv test vectors.
  CHECK(fnv1a_64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a_64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("Shards partition the inventory, and a meter keeps its shard whatever the others", "[cli][inventory]") {
  std::vector<std::string> names;
  for (int i = 0; i < 500; ++i) names.push_back("meter-" + std::to_string(i));
  const auto inventory = inventory_of(names);

  for (unsigned count : {1U, 2U, 3U, 7U, 64U}) {
    std::multiset<std::string> seen;
    std::map<std::string, unsigned> shard_of;
    for (unsigned index = 1; index <= count; ++index) {
      for (const auto& name : names_of(select_meters(inventory, {}, Shard{index, count}))) {
        seen.insert(name);
        shard_of[name] = index;
      }
    }
    // Every meter exactly once.
    CHECK(seen == std::multiset<std::string>(names.begin(), names.end()));

    // Shuffled, and with half the meters gone and others added: the same shard each.
    auto shuffled = names;
    std::mt19937 random(count);
    std::shuffle(shuffled.begin(), shuffled.end(), random);
    shuffled.resize(shuffled.size() / 2);
    for (int i = 0; i < 100; ++i) shuffled.push_back("new-" + std::to_string(i));
    const auto other = inventory_of(shuffled);
    for (unsigned index = 1; index <= count; ++index) {
      for (const auto& name : names_of(select_meters(other, {}, Shard{index, count}))) {
        if (name.rfind("new-", 0) == 0) continue;
        CHECK(shard_of.at(name) == index);
      }
    }
  }
  // Spread: with 4 shards of 500 meters, none is empty or holds most of them.
  for (unsigned index = 1; index <= 4; ++index) {
    const auto size = select_meters(inventory, {}, Shard{index, 4}).size();
    CHECK(size > 60);
    CHECK(size < 200);
  }
}

TEST_CASE("Shard specifications (--shard K/N) are parsed strictly", "[cli][inventory]") {
  CHECK(*parse_shard("1/1") == Shard{1, 1});
  CHECK(*parse_shard("3/4") == Shard{3, 4});
  CHECK(to_string(Shard{3, 4}) == "3/4");
  for (const auto* bad : {"0/4", "5/4", "1/0", "4", "/4", "1/", "a/b", "1/4x", "-1/4", " 1/4", "1/100001"}) {
    INFO(bad);
    CHECK_FALSE(parse_shard(bad));
  }
}

TEST_CASE("The shard comes from --shard, then GitLab's variables, then a Kubernetes index", "[cli][inventory]") {
  const auto none = environment_of({});
  const auto gitlab = environment_of({{"CI_NODE_INDEX", "2"}, {"CI_NODE_TOTAL", "5"}});
  const auto kubernetes = environment_of({{"JOB_COMPLETION_INDEX", "0"}});

  CHECK(*resolve_shard(std::nullopt, std::nullopt, none) == std::nullopt);
  CHECK(*resolve_shard(std::string("1/3"), std::nullopt, gitlab) == Shard{1, 3});
  CHECK(*resolve_shard(std::nullopt, std::nullopt, gitlab) == Shard{2, 5});
  CHECK(*resolve_shard(std::nullopt, 5U, gitlab) == Shard{2, 5});
  CHECK(*resolve_shard(std::nullopt, 3U, kubernetes) == Shard{1, 3});
  CHECK(*resolve_shard(std::nullopt, 3U, environment_of({{"JOB_COMPLETION_INDEX", "2"}})) == Shard{3, 3});
  // GitLab sets CI_NODE_TOTAL=1 in every job that is not parallel.
  CHECK(*resolve_shard(std::nullopt, std::nullopt, environment_of({{"CI_NODE_TOTAL", "1"}})) == std::nullopt);

  CHECK_FALSE(resolve_shard(std::string("1/3"), 3U, none));
  CHECK_FALSE(resolve_shard(std::string("4/3"), std::nullopt, none));
  CHECK_FALSE(resolve_shard(std::nullopt, 3U, none));                  // no JOB_COMPLETION_INDEX
  CHECK_FALSE(resolve_shard(std::nullopt, std::nullopt, kubernetes));  // no --shard-count
  CHECK_FALSE(resolve_shard(std::nullopt, 3U, environment_of({{"JOB_COMPLETION_INDEX", "3"}})));
  CHECK_FALSE(resolve_shard(std::nullopt, 3U, environment_of({{"JOB_COMPLETION_INDEX", "x"}})));
  CHECK_FALSE(resolve_shard(std::nullopt, 4U, gitlab));  // disagrees with CI_NODE_TOTAL
  CHECK_FALSE(resolve_shard(std::nullopt, std::nullopt, environment_of({{"CI_NODE_INDEX", "1"}})));
  CHECK_FALSE(
      resolve_shard(std::nullopt, std::nullopt, environment_of({{"CI_NODE_INDEX", "6"}, {"CI_NODE_TOTAL", "5"}})));
  CHECK_FALSE(
      resolve_shard(std::nullopt, std::nullopt, environment_of({{"CI_NODE_INDEX", "0"}, {"CI_NODE_TOTAL", "5"}})));
  const auto error = resolve_shard(std::nullopt, std::nullopt, kubernetes);
  CHECK(error.error().find("--shard-count") != std::string::npos);
}

TEST_CASE("An inventory's rollout section gives the waves and the failure threshold", "[cli][inventory]") {
  const std::string head = "apiVersion: meterctl/v1\nkind: Inventory\n";
  const std::string meters = "meters:\n  - name: m1\n    address: 10.0.0.1\n";
  const auto inventory = parse(head + "rollout:\n  waves: [1, \"5%\", \"100%\"]\n  max_failures: \"5%\"\n" + meters);
  REQUIRE(inventory.rollout);
  REQUIRE(inventory.rollout->waves);
  CHECK(*inventory.rollout->waves == std::vector<Portion>{{false, 1}, {true, 500}, {true, 10000}});
  CHECK(*inventory.rollout->max_failures == Portion{true, 500});
  CHECK(parse(head + "rollout:\n  max_failures: 2\n" + meters).rollout->max_failures == Portion{false, 2});
  CHECK_FALSE(parse(head + meters).rollout);

  CHECK(parse_error(head + "rollout:\n  waves: [1, \"0%\"]\n" + meters).find("inv.yaml:4:14: a rollout.waves step holds a meter or more") == 0);
  CHECK(parse_error(head + "rollout:\n  waves: 1\n" + meters).find("must be a list of steps") != std::string::npos);
  CHECK(parse_error(head + "rollout:\n  max_failures: lots\n" + meters).find("rollout.max_failures 'lots'") !=
        std::string::npos);
  CHECK(parse_error(head + "rollout:\n  wave: [1]\n" + meters).find("wave") != std::string::npos);
}
