#include "cli/users_commands.hpp"

#include <catch2/catch.hpp>

using namespace cli;
using nlohmann::json;

TEST_CASE("Permission lists become the kebab-case names, in the seed's order, each once", "[cli][users]") {
  const auto names = permission_names("security-config, read,read");
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"read", "security-config"});

  const auto all = permission_names("all");
  REQUIRE(all);
  CHECK(all->size() == 7);
  CHECK(all->front() == "time-sync");

  for (const auto* wrong : {"", "read,", "Read", "admin", "read;time-sync"}) {
    const auto refused = permission_names(wrong);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == exit_usage);
  }
}

TEST_CASE("A user row lists permissions with commas and says whether the password is the factory one", "[cli][users]") {
  CHECK(user_row(json{{"name", "User1"}, {"permissions", {"read", "time-sync"}}, {"default_credential", true}}) ==
        std::vector<std::string>{"User1", "read,time-sync", "yes"});
  CHECK(user_row(json{{"name", "bob"}, {"permissions", json::array()}, {"default_credential", false}}) ==
        std::vector<std::string>{"bob", "", "no"});
  // Every permission: "all", which is also what `users add --grant` takes.
  const json admin = {{"name", "admin"}, {"permissions", *permission_names("all")}, {"default_credential", false}};
  CHECK(user_row(admin)[1] == "all");
}

TEST_CASE("A lockout row says how long a lockout lasts, and nothing for failures below the limit", "[cli][users]") {
  CHECK(lockout_row(json{{"user", "bob"},
                         {"protocol", "native"},
                         {"connection", "tls"},
                         {"failures", 5},
                         {"locked", true},
                         {"until_unlocked", false},
                         {"remaining_s", 120}}) == std::vector<std::string>{"bob", "native", "tls", "5", "yes", "120"});
  CHECK(lockout_row(json{{"user", "bob"}, {"locked", true}, {"until_unlocked", true}, {"remaining_s", 0}})[5] ==
        "until unlocked");
  CHECK(lockout_row(json{{"user", "bob"}, {"failures", 2}, {"locked", false}, {"remaining_s", 0}})[5].empty());
}
