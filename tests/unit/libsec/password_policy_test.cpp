#include "libsec/password_policy.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sec;

namespace {

// Seed 000, firmware 4.0.0: passwords up to 16 characters; 6 before.
constexpr std::size_t k_max_length = 16;
constexpr std::size_t k_old_max_length = 6;

const PasswordPolicy k_plain{Complexity::none, 6};
const PasswordPolicy k_nerc{Complexity::nerc_cip_007_5, 6};
const PasswordPolicy k_ieee{Complexity::ieee_1686_2013, 6};

PasswordRule rule_of(std::string_view password, const PasswordPolicy& policy, std::size_t max_length = k_max_length) {
  const auto checked = check_password(password, policy, max_length);
  REQUIRE_FALSE(checked);
  return checked.error().rule;
}

bool accepted(std::string_view password, const PasswordPolicy& policy, std::size_t max_length = k_max_length) {
  return check_password(password, policy, max_length).has_value();
}

}  // namespace

TEST_CASE("Complexity names round trip and nothing else parses", "[libsec][password-policy]") {
  for (const Complexity complexity : {Complexity::none, Complexity::nerc_cip_007_5, Complexity::ieee_1686_2013}) {
    const auto parsed = parse_complexity(to_string(complexity));
    REQUIRE(parsed);
    CHECK(*parsed == complexity);
  }
  CHECK(to_string(Complexity::none) == "none");
  CHECK(to_string(Complexity::nerc_cip_007_5) == "nerc-cip-007-5");
  CHECK(to_string(Complexity::ieee_1686_2013) == "ieee-1686-2013");
  CHECK_FALSE(parse_complexity(""));
  CHECK_FALSE(parse_complexity("NERC-CIP-007-5"));
  CHECK_FALSE(parse_complexity("nerc_cip_007_5"));
  CHECK_FALSE(parse_complexity("ieee"));
}

TEST_CASE("The default policy is no complexity and six characters", "[libsec][password-policy]") {
  const PasswordPolicy policy;
  CHECK(policy.complexity == Complexity::none);
  CHECK(policy.min_length == 6);
  CHECK(k_min_length_with_complexity == 6);
  CHECK(k_legacy_password_max_digits == 8);
}

TEST_CASE("character_classes counts upper, lower, digit and symbol", "[libsec][password-policy]") {
  CHECK(character_classes("") == 0);
  CHECK(character_classes("abc") == 1);
  CHECK(character_classes("ABC") == 1);
  CHECK(character_classes("123") == 1);
  CHECK(character_classes("!@#") == 1);
  CHECK(character_classes("aB") == 2);
  CHECK(character_classes("aB3") == 3);
  CHECK(character_classes("aB3~") == 4);
  // Every printable ASCII punctuation character is a symbol.
  for (const char symbol : std::string_view("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")) {
    INFO(symbol);
    CHECK(character_classes(std::string(1, symbol)) == 1);
  }
  // Space, control and non-ASCII bytes belong to no class.
  CHECK(character_classes(" ") == 0);
  CHECK(character_classes("\t\n") == 0);
  CHECK(character_classes("\xC3\xA9") == 0);  // é in UTF-8
}

TEST_CASE("Password length limits: 16 accepted and 17 refused with max 16, 7 refused with max 6",
          "[libsec][password-policy]") {
  CHECK(accepted(std::string(16, 'a'), k_plain, 16));
  CHECK(rule_of(std::string(17, 'a'), k_plain, 16) == PasswordRule::too_long);
  CHECK(accepted(std::string(6, 'a'), k_plain, k_old_max_length));
  CHECK(rule_of(std::string(7, 'a'), k_plain, k_old_max_length) == PasswordRule::too_long);
}

TEST_CASE("Password minimum length follows the policy", "[libsec][password-policy]") {
  CHECK(rule_of("abcde", k_plain) == PasswordRule::too_short);
  CHECK(accepted("abcdef", k_plain));
  const PasswordPolicy eight{Complexity::none, 8};
  CHECK(rule_of("abcdefg", eight) == PasswordRule::too_short);
  CHECK(accepted("abcdefgh", eight));
  const PasswordPolicy one{Complexity::none, 1};
  CHECK(accepted("a", one));
  CHECK(rule_of("", one) == PasswordRule::empty);
  CHECK(rule_of("", k_plain) == PasswordRule::empty);
}

TEST_CASE("NERC CIP-007-5 takes three of four classes and IEEE 1686-2013 needs all four", "[libsec][password-policy]") {
  const std::string two_classes = "abcdefgh";
  const std::string two_classes_mixed = "abcdEFGH";
  const std::string three_classes = "abcdEF12";
  const std::string other_three = "abcd12!!";
  const std::string four_classes = "abcD12!x";

  CHECK(accepted(two_classes, k_plain));
  CHECK(rule_of(two_classes_mixed, k_nerc) == PasswordRule::too_few_classes);
  CHECK(accepted(three_classes, k_nerc));
  CHECK(accepted(other_three, k_nerc));
  CHECK(accepted(four_classes, k_nerc));

  CHECK(rule_of(three_classes, k_ieee) == PasswordRule::too_few_classes);
  CHECK(rule_of(other_three, k_ieee) == PasswordRule::too_few_classes);
  CHECK(accepted(four_classes, k_ieee));
}

TEST_CASE("A class rejection says how many classes there are and how many the rule needs",
          "[libsec][password-policy]") {
  const auto nerc = check_password("abcdEFGH", k_nerc, k_max_length);
  REQUIRE_FALSE(nerc);
  CHECK(nerc.error().message ==
        "password has 2 of the 4 character classes (upper case, lower case, digit, symbol); NERC CIP-007-5 needs at "
        "least 3");
  const auto ieee = check_password("abcdEF12", k_ieee, k_max_length);
  REQUIRE_FALSE(ieee);
  CHECK(ieee.error().message ==
        "password has 3 of the 4 character classes (upper case, lower case, digit, symbol); IEEE 1686-2013 needs all "
        "4");
}

TEST_CASE("Passwords take printable ASCII without space only", "[libsec][password-policy]") {
  CHECK(accepted("!\"#$%&'()*+,-./0", k_plain));
  CHECK(accepted("pq~}|{`_^]\\[@?>=", k_plain, 17));
  for (const std::string_view password :
       {std::string_view("abc def"), std::string_view(" abcdef"), std::string_view("abcdef "),
        std::string_view("abc\tdef"), std::string_view("abcdef\n"), std::string_view("abc\x7f" "def"),
        std::string_view("abc\0def", 7), std::string_view("p\xC3\xA4ssword")}) {
    INFO(password.size());
    CHECK(rule_of(password, k_plain) == PasswordRule::invalid_character);
  }
  // An invalid character is reported before length or classes: it is the first thing to fix.
  CHECK(rule_of("a b", k_ieee) == PasswordRule::invalid_character);
  CHECK(rule_of(std::string(20, ' '), k_plain) == PasswordRule::invalid_character);
}

TEST_CASE("Legacy passwords are 1 to 8 digits", "[libsec][password-policy]") {
  CHECK(check_legacy_password("0"));
  CHECK(check_legacy_password("99999999"));
  CHECK(check_legacy_password("00000007"));
  const auto rule = [](std::string_view password) {
    const auto checked = check_legacy_password(password);
    REQUIRE_FALSE(checked);
    return checked.error().rule;
  };
  CHECK(rule("") == PasswordRule::empty);
  CHECK(rule("123456789") == PasswordRule::too_long);
  CHECK(rule("12a") == PasswordRule::not_numeric);
  CHECK(rule("-1") == PasswordRule::not_numeric);
  CHECK(rule(" 1") == PasswordRule::not_numeric);
  CHECK(rule("1.5") == PasswordRule::not_numeric);
  CHECK(rule("\xD9\xA1") == PasswordRule::not_numeric);  // ARABIC-INDIC DIGIT ONE
}

TEST_CASE("validate_policy refuses complexity the firmware lacks and names the firmware", "[libsec][password-policy]") {
  const std::string hint = "password complexity enforcement needs firmware 4.6.0 or later on this model";
  const auto refused = validate_policy(k_nerc, k_max_length, false, hint);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error(), Catch::Contains(hint));
  CHECK_THAT(refused.error(), Catch::Contains("nerc-cip-007-5"));
  CHECK_FALSE(validate_policy(k_ieee, k_max_length, false, hint));
  // No complexity needs no feature.
  CHECK(validate_policy(k_plain, k_max_length, false, hint));
  CHECK(validate_policy(k_nerc, k_max_length, true, hint));
  CHECK(validate_policy(k_ieee, k_max_length, true, hint));
  // An empty hint still gives a whole sentence.
  const auto without_hint = validate_policy(k_ieee, k_max_length, false, "");
  REQUIRE_FALSE(without_hint);
  CHECK_THAT(without_hint.error(), Catch::Contains("no password complexity enforcement"));
}

TEST_CASE("validate_policy checks the minimum length against complexity and the maximum", "[libsec][password-policy]") {
  CHECK_FALSE(validate_policy(PasswordPolicy{Complexity::none, 0}, k_max_length, true, ""));
  CHECK(validate_policy(PasswordPolicy{Complexity::none, 1}, k_max_length, true, ""));
  CHECK(validate_policy(PasswordPolicy{Complexity::none, 5}, k_max_length, true, ""));

  const auto five = validate_policy(PasswordPolicy{Complexity::nerc_cip_007_5, 5}, k_max_length, true, "");
  REQUIRE_FALSE(five);
  CHECK_THAT(five.error(), Catch::Contains("at least 6"));
  CHECK_FALSE(validate_policy(PasswordPolicy{Complexity::ieee_1686_2013, 5}, k_max_length, true, ""));
  CHECK(validate_policy(PasswordPolicy{Complexity::ieee_1686_2013, 6}, k_max_length, true, ""));

  CHECK(validate_policy(PasswordPolicy{Complexity::none, 16}, 16, true, ""));
  const auto above = validate_policy(PasswordPolicy{Complexity::none, 17}, 16, true, "");
  REQUIRE_FALSE(above);
  CHECK_THAT(above.error(), Catch::Contains("17"));
  CHECK_THAT(above.error(), Catch::Contains("16"));
  // Old firmware: 6 characters at most, so 6 is the only minimum complexity allows.
  CHECK(validate_policy(PasswordPolicy{Complexity::nerc_cip_007_5, 6}, k_old_max_length, true, ""));
  CHECK_FALSE(validate_policy(PasswordPolicy{Complexity::nerc_cip_007_5, 7}, k_old_max_length, true, ""));
}

TEST_CASE("No rejection message contains the password or a piece of it", "[libsec][password-policy]") {
  struct Case {
    std::string password;
    PasswordPolicy policy;
    std::size_t max_length;
  };
  // One case per rule. Random-looking passwords: a message never contains such a run of
  // characters by chance, so finding one means the message echoed the password.
  const std::vector<Case> cases{
      {"Qz7!", k_plain, k_max_length},                              // too short
      {"Qz7!vK9#mW2$xR5%t", k_plain, k_max_length},                 // too long
      {"Qz7 vK9#", k_plain, k_max_length},                          // invalid character
      {"qzjvkwmx", k_nerc, k_max_length},                           // too few classes
      {"Qzjv7kwm", k_ieee, k_max_length},                           // too few classes
      {"Xq9!Zk", PasswordPolicy{Complexity::none, 12}, k_max_length},  // too short
      {"Jw\x01pTz4", k_plain, k_max_length},                       // control character
  };
  for (const auto& [password, policy, max_length] : cases) {
    INFO(password);
    const auto checked = check_password(password, policy, max_length);
    REQUIRE_FALSE(checked);
    const std::string& message = checked.error().message;
    CHECK_FALSE(message.empty());
    // No run of 4 or more characters of the password appears in the message.
    for (std::size_t start = 0; start + 4 <= password.size(); ++start) {
      CHECK(message.find(password.substr(start, 4)) == std::string::npos);
    }
  }
  for (const std::string legacy : {"123456789", "12a4", "98765432109"}) {
    const auto checked = check_legacy_password(legacy);
    REQUIRE_FALSE(checked);
    for (std::size_t start = 0; start + 3 <= legacy.size(); ++start) {
      CHECK(checked.error().message.find(legacy.substr(start, 3)) == std::string::npos);
    }
  }
}
