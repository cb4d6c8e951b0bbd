#include "libsec/password_hash.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace sec;

namespace {

// Cheap parameters for everything that does not test the cost itself: 128 KiB, about a
// millisecond.
constexpr ScryptParams k_cheap{10, 8, 1};

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

std::vector<std::uint8_t> counting_bytes(std::size_t size, std::uint8_t first = 0) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(first + i * 37);
  return bytes;
}

// The passlib documentation's example for passlib.hash.scrypt with rounds=8 (password
// "password"): a string written by another implementation.
constexpr std::string_view k_passlib_example =
    "$scrypt$ln=8,r=8,p=1$WKs1xljLudd6z9kbY0wpJQ$yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuQ";
constexpr std::string_view k_example_params = "ln=8,r=8,p=1";
constexpr std::string_view k_example_salt = "WKs1xljLudd6z9kbY0wpJQ";
constexpr std::string_view k_example_hash = "yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuQ";

std::string phc_text(std::string_view params, std::string_view salt = k_example_salt,
                     std::string_view hash = k_example_hash) {
  return "$scrypt$" + std::string(params) + "$" + std::string(salt) + "$" + std::string(hash);
}

PhcError parse_error(std::string_view text) {
  const auto parsed = parse_phc(text);
  REQUIRE_FALSE(parsed);
  return parsed.error();
}

}  // namespace

TEST_CASE("scrypt_derive matches RFC 7914 section 12 for the empty password and salt", "[libsec][password]") {
  const auto derived = scrypt_derive("", {}, ScryptParams{4, 1, 1}, 64);
  REQUIRE(derived);
  CHECK(*derived == from_hex("77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
                             "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"));
}

TEST_CASE("scrypt_derive matches RFC 7914 section 12 for password and NaCl at N=1024 r=8 p=16",
          "[libsec][password]") {
  const auto salt = bytes_of("NaCl");
  const auto derived = scrypt_derive("password", salt, ScryptParams{10, 8, 16}, 64);
  REQUIRE(derived);
  CHECK(*derived == from_hex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                             "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"));
}

TEST_CASE("scrypt_derive matches RFC 7914 section 12 for pleaseletmein and SodiumChloride at N=16384",
          "[libsec][password]") {
  const auto salt = bytes_of("SodiumChloride");
  const auto derived = scrypt_derive("pleaseletmein", salt, ScryptParams{14, 8, 1}, 64);
  REQUIRE(derived);
  CHECK(*derived == from_hex("7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
                             "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"));
}

TEST_CASE("The RFC 7914 vector at N=2^20 r=8 needs more than 1 GiB and is refused before any work",
          "[libsec][password]") {
  const ScryptParams rfc_largest{20, 8, 1};
  CHECK(scrypt_memory_bytes(rfc_largest) > (std::uint64_t{1} << 30));
  CHECK_FALSE(params_in_bounds(rfc_largest));
  const auto salt = bytes_of("SodiumChloride");
  const auto derived = scrypt_derive("pleaseletmein", salt, rfc_largest, 64);
  REQUIRE_FALSE(derived);
  CHECK(derived.error() == HashError::bad_parameters);
}

TEST_CASE("scrypt_derive refuses an output of 0 bytes or more than k_max_derived_bytes", "[libsec][password]") {
  const auto salt = counting_bytes(16);
  for (const std::size_t length : {std::size_t{0}, k_max_derived_bytes + 1}) {
    const auto derived = scrypt_derive("secret", salt, k_cheap, length);
    REQUIRE_FALSE(derived);
    CHECK(derived.error() == HashError::bad_parameters);
  }
  const auto longest = scrypt_derive("secret", salt, k_cheap, k_max_derived_bytes);
  REQUIRE(longest);
  CHECK(longest->size() == k_max_derived_bytes);
}

TEST_CASE("scrypt_derive gives a longer output that starts with the shorter one", "[libsec][password]") {
  // scrypt's last step is PBKDF2, whose output blocks do not depend on the length asked.
  const auto salt = counting_bytes(16);
  const auto short_output = scrypt_derive("secret", salt, k_cheap, 32);
  const auto long_output = scrypt_derive("secret", salt, k_cheap, 64);
  REQUIRE(short_output);
  REQUIRE(long_output);
  CHECK(std::equal(short_output->begin(), short_output->end(), long_output->begin()));
}

TEST_CASE("A PHC string round-trips through format_phc and parse_phc for every salt and hash length",
          "[libsec][password]") {
  for (std::size_t salt_size = k_min_salt_bytes; salt_size <= k_max_salt_bytes; ++salt_size) {
    for (const std::size_t hash_size : {k_min_hash_bytes, std::size_t{17}, std::size_t{18}, k_hash_bytes,
                                        k_max_hash_bytes}) {
      const PhcHash original{ScryptParams{13, 8, 10}, counting_bytes(salt_size, 1), counting_bytes(hash_size, 200)};
      const std::string text = format_phc(original);
      CHECK(text.size() <= k_max_phc_length);
      const auto parsed = parse_phc(text);
      REQUIRE(parsed);
      CHECK(parsed->params == original.params);
      CHECK(parsed->salt == original.salt);
      CHECK(parsed->hash == original.hash);
      CHECK(format_phc(*parsed) == text);
    }
  }
}

TEST_CASE("format_phc writes unpadded standard Base64 in the order ln, r, p", "[libsec][password]") {
  std::vector<std::uint8_t> hash(32);
  for (std::size_t i = 0; i < hash.size(); ++i) hash[i] = static_cast<std::uint8_t>(i);
  const std::vector<std::uint8_t> salt(hash.begin(), hash.begin() + 16);
  CHECK(format_phc(PhcHash{k_default_scrypt, salt, hash}) ==
        "$scrypt$ln=17,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
  CHECK(format_phc(PhcHash{ScryptParams{20, 32, 16}, std::vector<std::uint8_t>(8, 0xFF), hash}).starts_with(
      "$scrypt$ln=20,r=32,p=16$//////////8$"));
}

TEST_CASE("parse_phc reads a string written by passlib and verify_password checks it", "[libsec][password]") {
  const auto parsed = parse_phc(k_passlib_example);
  REQUIRE(parsed);
  CHECK(parsed->params == ScryptParams{8, 8, 1});
  CHECK(parsed->salt.size() == 16);
  CHECK(parsed->hash.size() == 32);
  CHECK(format_phc(*parsed) == k_passlib_example);
  CHECK(verify_password("password", k_passlib_example));
  CHECK_FALSE(verify_password("Password", k_passlib_example));
}

TEST_CASE("parse_phc refuses other algorithms as unsupported", "[libsec][password]") {
  CHECK(parse_error("$argon2id$v=19$m=65536,t=2,p=1$gZiV/M1gPc22ElAH/Jh1Hw$CWOrkoo7oJBQ/iyh7uJ0LO2aLEfrHwTWllSAxT0zRno") ==
        PhcError::unsupported_algorithm);
  CHECK(parse_error("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW") == PhcError::unsupported_algorithm);
  CHECK(parse_error("$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D") ==
        PhcError::unsupported_algorithm);
  CHECK(parse_error("$scrypt-x$" + std::string(k_example_params) + "$" + std::string(k_example_salt) + "$" +
                    std::string(k_example_hash)) == PhcError::unsupported_algorithm);
  CHECK(parse_error("$pbkdf2-sha256") == PhcError::unsupported_algorithm);
}

TEST_CASE("parse_phc refuses an algorithm name that is not a PHC identifier as malformed", "[libsec][password]") {
  CHECK(parse_error("$SCRYPT$" + std::string(k_example_params) + "$" + std::string(k_example_salt) + "$" +
                    std::string(k_example_hash)) == PhcError::malformed);
  CHECK(parse_error("$$ln=8,r=8,p=1$salt$hash") == PhcError::malformed);
  CHECK(parse_error("$" + std::string(33, 'a') + "$x") == PhcError::malformed);
  CHECK(parse_error("scrypt$ln=8,r=8,p=1$" + std::string(k_example_salt) + "$" + std::string(k_example_hash)) ==
        PhcError::malformed);
}

TEST_CASE("parse_phc refuses missing, misnamed, extra and reordered parameters", "[libsec][password]") {
  for (const std::string_view params :
       {"", "ln=8", "ln=8,r=8", "r=8,p=1", "ln=8,r=8,p=1,", ",ln=8,r=8,p=1", "ln=8,r=8,p=1,x=2", "ln=8,p=1,r=8",
        "r=8,ln=8,p=1", "p=1,r=8,ln=8", "n=256,r=8,p=1", "N=8,r=8,p=1", "ln=8,,r=8,p=1", "ln=8;r=8;p=1",
        "ln8,r=8,p=1", "ln==8,r=8,p=1", "ln=,r=8,p=1", "ln=8,r=8,p=", "LN=8,r=8,p=1", "ln=8,r=8,p=1,p=1"}) {
    INFO("params: " << params);
    CHECK(parse_error(phc_text(params)) == PhcError::malformed);
  }
}

TEST_CASE("parse_phc refuses parameter values that are not plain decimal", "[libsec][password]") {
  for (const std::string_view params :
       {"ln=08,r=8,p=1", "ln=8,r=08,p=1", "ln=8,r=8,p=01", "ln=00,r=8,p=1", "ln=+8,r=8,p=1", "ln=-8,r=8,p=1",
        "ln= 8,r=8,p=1", "ln=8 ,r=8,p=1", "ln=8,r=8,p=1 ", "ln=0x8,r=8,p=1", "ln=8.0,r=8,p=1", "ln=1e1,r=8,p=1",
        "ln=eight,r=8,p=1", "ln=000000000000000000008,r=8,p=1"}) {
    INFO("params: " << params);
    CHECK(parse_error(phc_text(params)) == PhcError::malformed);
  }
}

TEST_CASE("parse_phc refuses well-formed parameters outside the bounds", "[libsec][password]") {
  for (const std::string_view params :
       {"ln=0,r=8,p=1", "ln=21,r=8,p=1", "ln=255,r=8,p=1", "ln=256,r=8,p=1", "ln=8,r=0,p=1", "ln=8,r=33,p=1",
        "ln=8,r=8,p=0", "ln=8,r=8,p=17", "ln=16,r=1,p=1", "ln=20,r=8,p=1", "ln=19,r=16,p=1",
        "ln=99999999999999999999999,r=8,p=1", "ln=8,r=4294967297,p=1", "ln=8,r=8,p=18446744073709551617"}) {
    INFO("params: " << params);
    CHECK(parse_error(phc_text(params)) == PhcError::bad_parameters);
  }
  // The edges that are inside.
  for (const std::string_view params : {"ln=1,r=1,p=1", "ln=15,r=1,p=1", "ln=20,r=7,p=16", "ln=19,r=15,p=16",
                                        "ln=10,r=32,p=16"}) {
    INFO("params: " << params);
    CHECK(parse_phc(phc_text(params)));
  }
}

TEST_CASE("parse_phc refuses salts that are too short, too long or not canonical Base64", "[libsec][password]") {
  const std::vector<std::string> salts{
      "",
      std::string(10, 'A'),                                       // 7 bytes
      std::string(87, 'A'),                                       // 65 bytes
      "WKs1xljLudd6z9kbY0wpJQ==",                                 // padded
      "WKs1xljLudd6z9kbY0wpJR",                                   // non-zero bits after the last byte
      "WKs1xljLudd6z9kbY0wpJ",                                    // 21 characters: 1 modulo 4
      "WKs1xljLudd6z9kbY0wp-Q",                                   // URL-safe alphabet
      "WKs1xljLudd6z9kbY0wp_Q",
      "WKs1xljLudd6z9kbY0wp.Q",                                   // crypt's alphabet
      "WKs1xljLudd6 z9kbY0wpJQ",
      "WKs1xljLudd6z9kbY0wpJQ\n",
  };
  for (const std::string& salt : salts) {
    INFO("salt: " << salt);
    CHECK(parse_error(phc_text(k_example_params, salt)) == PhcError::bad_salt);
  }
  // 8 and 64 bytes are inside.
  CHECK(parse_phc(phc_text(k_example_params, "AAAAAAAAAAA")));
  CHECK(parse_phc(phc_text(k_example_params, std::string(86, 'A'))));
}

TEST_CASE("parse_phc refuses hashes that are too short, too long or not canonical Base64", "[libsec][password]") {
  const std::vector<std::string> hashes{
      "",
      std::string(20, 'A'),                                       // 15 bytes
      std::string(87, 'A'),                                       // 65 bytes
      "yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuQ=",             // padded
      "yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuR",              // non-zero bits after the last byte
      "yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuQAA",            // 45 characters: 1 modulo 4
      "yCR4iDZYDKv-iEJj6yHY0lv_epnfB6f_w1EbXrsJOuQ",              // URL-safe alphabet
      "yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuQ ",             // trailing garbage
      std::string("yCR4iDZYDKv+iEJj6yHY0lv/epnfB6f/w1EbXrsJOuQ\0", 44),
  };
  for (const std::string& hash : hashes) {
    INFO("hash: " << hash);
    CHECK(parse_error(phc_text(k_example_params, k_example_salt, hash)) == PhcError::bad_hash);
  }
  CHECK(parse_phc(phc_text(k_example_params, k_example_salt, std::string(22, 'A'))));
  CHECK(parse_phc(phc_text(k_example_params, k_example_salt, std::string(86, 'A'))));
}

TEST_CASE("parse_phc refuses missing fields, extra fields and overlong strings as malformed", "[libsec][password]") {
  const std::string example(k_passlib_example);
  for (const std::string& text :
       {std::string(), std::string("$"), std::string("$scrypt"), std::string("$scrypt$"),
        std::string("$scrypt$ln=8,r=8,p=1"), std::string("$scrypt$ln=8,r=8,p=1$") + std::string(k_example_salt),
        example + "$", example + "$extra", " " + example, "$scrypt$$" + std::string(k_example_salt) + "$" +
        std::string(k_example_hash), "$scrypt$ln=8,r=8,p=1$$" + std::string(k_example_salt) + "$" +
        std::string(k_example_hash)}) {
    INFO("text: " << text);
    CHECK(parse_error(text) == PhcError::malformed);
  }
  // The length limit comes first: at k_max_phc_length a string is judged on its fields
  // (here, a salt too long), one character more and it is refused unread.
  const std::string prefix = "$scrypt$ln=8,r=8,p=1$";
  const std::string suffix = "$" + std::string(k_example_hash);
  const std::string at_limit = prefix + std::string(k_max_phc_length - prefix.size() - suffix.size(), 'A') + suffix;
  REQUIRE(at_limit.size() == k_max_phc_length);
  CHECK(parse_error(at_limit) == PhcError::bad_salt);
  CHECK(parse_error(prefix + std::string(k_max_phc_length + 1 - prefix.size() - suffix.size(), 'A') + suffix) ==
        PhcError::malformed);
  CHECK(parse_error(std::string(100000, '$')) == PhcError::malformed);
}

TEST_CASE("Every prefix of a PHC string that cuts before 16 bytes of hash is refused", "[libsec][password]") {
  const std::string example(k_passlib_example);
  const std::size_t hash_start = example.rfind('$') + 1;
  // 22 characters are the first that can hold 16 bytes; any longer prefix is a valid
  // string with a shorter hash (or a Base64 error), which the other tests cover.
  for (std::size_t length = 0; length < hash_start + 22; ++length) {
    INFO("prefix length " << length);
    CHECK_FALSE(parse_phc(std::string_view(example).substr(0, length)));
  }
}

TEST_CASE("Error texts are sentences that do not echo the input and map onto error codes", "[libsec][password]") {
  for (const PhcError error : {PhcError::malformed, PhcError::unsupported_algorithm, PhcError::bad_parameters,
                               PhcError::bad_salt, PhcError::bad_hash}) {
    const std::string_view text = to_string(error);
    CHECK(text.size() > 20);
    CHECK(text.find("unknown") == std::string_view::npos);
    const std::error_code code = error;
    CHECK(code.category() == phc_category());
    CHECK(code.message() == text);
    CHECK(code.value() != 0);
  }
  for (const HashError error : {HashError::crypto_failure, HashError::bad_parameters}) {
    const std::string_view text = to_string(error);
    CHECK(text.size() > 20);
    const std::error_code code = error;
    CHECK(code.category() == hash_category());
    CHECK(code.message() == text);
  }
  const std::string secret_salt = "c2VjcmV0c2VjcmV0c2Vj";
  const auto refused = parse_phc(phc_text(k_example_params, secret_salt + "!"));
  REQUIRE_FALSE(refused);
  CHECK(std::string(to_string(refused.error())).find(secret_salt) == std::string::npos);
}

TEST_CASE("verify_password accepts the right password and refuses wrong ones", "[libsec][password]") {
  const auto stored = hash_password("correct horse battery staple", k_cheap);
  REQUIRE(stored);
  CHECK(verify_password("correct horse battery staple", *stored));
  CHECK_FALSE(verify_password("correct horse battery stapl", *stored));
  CHECK_FALSE(verify_password("correct horse battery staple ", *stored));
  CHECK_FALSE(verify_password("Correct horse battery staple", *stored));
  CHECK_FALSE(verify_password("", *stored));
}

TEST_CASE("A trailing NUL does not change the hash, as HMAC pads its key with zeros", "[libsec][password]") {
  // Pinned so that nobody mistakes it for a bug here: RFC 7914 keys HMAC-SHA256 with the
  // password, and HMAC zero-pads keys to 64 bytes. The password policy admits no NUL.
  const auto stored = hash_password("secret", k_cheap);
  REQUIRE(stored);
  CHECK(verify_password(std::string_view("secret\0", 7), *stored));
  CHECK(verify_password(std::string_view("secret\0\0\0", 9), *stored));
  CHECK_FALSE(verify_password(std::string_view("secret\x01", 7), *stored));
}

TEST_CASE("verify_password handles empty, long and non-ASCII passwords as bytes", "[libsec][password]") {
  const std::string long_password(4096, 'x');
  const std::string non_ascii = "p\xC3\xA4sswort\xE2\x82\xAC";
  for (const std::string& password : {std::string(), long_password, non_ascii}) {
    const auto stored = hash_password(password, k_cheap);
    REQUIRE(stored);
    CHECK(verify_password(password, *stored));
    CHECK_FALSE(verify_password(password + "x", *stored));
  }
}

TEST_CASE("verify_password refuses a stored string that does not parse, whatever the password",
          "[libsec][password]") {
  const auto stored = hash_password("secret", k_cheap);
  REQUIRE(stored);
  CHECK_FALSE(verify_password("secret", ""));
  CHECK_FALSE(verify_password("secret", stored->substr(0, stored->size() - 1) + "!"));
  CHECK_FALSE(verify_password("secret", "$argon2id" + stored->substr(7)));
  CHECK_FALSE(verify_password("secret", *stored + "$"));
  // Same salt and hash, other parameters: parses, but derives another value.
  std::string other = *stored;
  other.replace(other.find("ln=10"), 5, "ln=11");
  CHECK_FALSE(verify_password("secret", other));
}

TEST_CASE("hash_password at the default parameters writes ln=17,r=8,p=1 and a 16-byte salt",
          "[libsec][password]") {
  // The one test at full cost (128 MiB, about 0.3 s): it proves that maxmem lets OpenSSL
  // go past its 32 MiB default.
  const auto stored = hash_password("meter operator", k_default_scrypt);
  REQUIRE(stored);
  CHECK(stored->starts_with("$scrypt$ln=17,r=8,p=1$"));
  const auto parsed = parse_phc(*stored);
  REQUIRE(parsed);
  CHECK(parsed->params == k_default_scrypt);
  CHECK(parsed->salt.size() == k_salt_bytes);
  CHECK(parsed->hash.size() == k_hash_bytes);
  CHECK(stored->size() == 8 + 13 + 1 + 22 + 1 + 43);
  CHECK_FALSE(needs_rehash(*stored, k_default_scrypt));
}

TEST_CASE("Two hashes of one password differ in salt and hash", "[libsec][password]") {
  const auto first = hash_password("same password", k_cheap);
  const auto second = hash_password("same password", k_cheap);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first != *second);
  const auto first_parsed = parse_phc(*first);
  const auto second_parsed = parse_phc(*second);
  REQUIRE(first_parsed);
  REQUIRE(second_parsed);
  CHECK(first_parsed->salt != second_parsed->salt);
  CHECK(first_parsed->hash != second_parsed->hash);
  CHECK(verify_password("same password", *first));
  CHECK(verify_password("same password", *second));
}

TEST_CASE("hash_password refuses parameters outside the bounds", "[libsec][password]") {
  for (const ScryptParams params : {ScryptParams{0, 8, 1}, ScryptParams{21, 8, 1}, ScryptParams{20, 8, 1},
                                    ScryptParams{10, 0, 1}, ScryptParams{10, 33, 1}, ScryptParams{10, 8, 0},
                                    ScryptParams{10, 8, 17}, ScryptParams{16, 1, 1}}) {
    INFO(describe(params));
    const auto stored = hash_password("secret", params);
    REQUIRE_FALSE(stored);
    CHECK(stored.error() == HashError::bad_parameters);
  }
}

TEST_CASE("needs_rehash asks for a new hash when the parameters or sizes differ", "[libsec][password]") {
  const auto stored = hash_password("secret", k_cheap);
  REQUIRE(stored);
  CHECK_FALSE(needs_rehash(*stored, k_cheap));
  CHECK(needs_rehash(*stored, k_default_scrypt));
  CHECK(needs_rehash(*stored, ScryptParams{9, 8, 1}));   // weaker
  CHECK(needs_rehash(*stored, ScryptParams{10, 8, 2}));  // p differs
  CHECK(needs_rehash(*stored, ScryptParams{10, 16, 1}));  // r differs
  // The passlib string has 16-byte salt and 32-byte hash: only the parameters count.
  CHECK_FALSE(needs_rehash(k_passlib_example, ScryptParams{8, 8, 1}));
  // A shorter salt or hash than hash_password writes.
  CHECK(needs_rehash(format_phc(PhcHash{k_cheap, counting_bytes(8), counting_bytes(32)}), k_cheap));
  CHECK(needs_rehash(format_phc(PhcHash{k_cheap, counting_bytes(16), counting_bytes(16)}), k_cheap));
  // Nothing to keep.
  CHECK(needs_rehash("", k_cheap));
  CHECK(needs_rehash("$argon2id$v=19$m=65536,t=2,p=1$gZiV/M1gPc22ElAH/Jh1Hw$CWOrkoo7oJBQ", k_cheap));
}

TEST_CASE("meets_owasp_minimum accepts each OWASP variant and anything stronger", "[libsec][password]") {
  for (const ScryptParams params : {ScryptParams{17, 8, 1}, ScryptParams{16, 8, 2}, ScryptParams{15, 8, 3},
                                    ScryptParams{14, 8, 5}, ScryptParams{13, 8, 10}}) {
    INFO(describe(params));
    CHECK(meets_owasp_minimum(params));
    CHECK(meets_owasp_minimum(ScryptParams{static_cast<std::uint8_t>(params.log2_n + 1), params.r, params.p}));
    CHECK(meets_owasp_minimum(ScryptParams{params.log2_n, params.r * 2, params.p}));
    CHECK(meets_owasp_minimum(ScryptParams{params.log2_n, params.r, params.p + 1}));
  }
  CHECK(meets_owasp_minimum(k_default_scrypt));
}

TEST_CASE("meets_owasp_minimum refuses parameters weaker than every OWASP variant", "[libsec][password]") {
  for (const ScryptParams params :
       {k_fleet_scrypt, ScryptParams{16, 8, 1}, ScryptParams{15, 8, 2}, ScryptParams{14, 8, 4},
        ScryptParams{13, 8, 9}, ScryptParams{12, 8, 16}, ScryptParams{17, 7, 1}, ScryptParams{20, 4, 16},
        ScryptParams{10, 8, 16}}) {
    INFO(describe(params));
    CHECK_FALSE(meets_owasp_minimum(params));
  }
}

TEST_CASE("scrypt_memory_bytes counts what OpenSSL allocates and describe shows it", "[libsec][password]") {
  // 128 * r * (N + 2) for the table, 128 * r * p for the input blocks.
  CHECK(scrypt_memory_bytes(k_default_scrypt) == 1024 * ((std::uint64_t{1} << 17) + 2) + 1024);
  CHECK(scrypt_memory_bytes(k_default_scrypt) > 32 * 1024 * 1024);  // OpenSSL's default cap
  CHECK(scrypt_memory_bytes(ScryptParams{4, 1, 1}) == 128 * 18 + 128);
  CHECK(scrypt_memory_bytes(ScryptParams{255, 0xFFFFFFFF, 0xFFFFFFFF}) == std::numeric_limits<std::uint64_t>::max());
  CHECK(describe(k_default_scrypt) == "scrypt N=2^17 r=8 p=1 (128 MiB)");
  CHECK(describe(k_fleet_scrypt) == "scrypt N=2^12 r=8 p=1 (4 MiB)");
  CHECK(describe(k_cheap) == "scrypt N=2^10 r=8 p=1 (1 MiB)");
  CHECK(describe(ScryptParams{4, 1, 1}) == "scrypt N=2^4 r=1 p=1 (3 KiB)");
}

TEST_CASE("params_in_bounds holds the documented edges", "[libsec][password]") {
  CHECK(params_in_bounds(k_default_scrypt));
  CHECK(params_in_bounds(k_fleet_scrypt));
  CHECK(params_in_bounds(ScryptParams{1, 1, 1}));
  CHECK(params_in_bounds(ScryptParams{15, 1, 1}));
  CHECK_FALSE(params_in_bounds(ScryptParams{16, 1, 1}));  // RFC 7914: N < 2^(16 r)
  CHECK(params_in_bounds(ScryptParams{16, 2, 1}));
  CHECK(params_in_bounds(ScryptParams{19, 8, 16}));       // 512 MiB
  CHECK_FALSE(params_in_bounds(ScryptParams{20, 8, 1}));  // just over 1 GiB
  CHECK(params_in_bounds(ScryptParams{20, 7, 16}));
  CHECK(params_in_bounds(ScryptParams{10, 32, 16}));
  CHECK_FALSE(params_in_bounds(ScryptParams{0, 8, 1}));
  CHECK_FALSE(params_in_bounds(ScryptParams{21, 1, 1}));
  CHECK_FALSE(params_in_bounds(ScryptParams{10, 0, 1}));
  CHECK_FALSE(params_in_bounds(ScryptParams{10, 33, 1}));
  CHECK_FALSE(params_in_bounds(ScryptParams{10, 8, 0}));
  CHECK_FALSE(params_in_bounds(ScryptParams{10, 8, 17}));
}

TEST_CASE("unknown_user_hash gives a new string with the given parameters that no password verifies",
          "[libsec][password]") {
  std::set<std::string> seen;
  for (int i = 0; i < 8; ++i) {
    const std::string decoy = unknown_user_hash(k_cheap);
    const auto parsed = parse_phc(decoy);
    REQUIRE(parsed);
    CHECK(parsed->params == k_cheap);
    CHECK(parsed->salt.size() == k_salt_bytes);
    CHECK(parsed->hash.size() == k_hash_bytes);
    CHECK_FALSE(needs_rehash(decoy, k_cheap));
    seen.insert(decoy);
  }
  CHECK(seen.size() == 8);
  const std::string decoy = unknown_user_hash(k_cheap);
  for (const std::string_view guess : {"", "0", "password", "User1"}) CHECK_FALSE(verify_password(guess, decoy));
  CHECK(unknown_user_hash(k_default_scrypt).starts_with("$scrypt$ln=17,r=8,p=1$"));
  // Out-of-bounds parameters give a string nothing accepts.
  CHECK_FALSE(parse_phc(unknown_user_hash(ScryptParams{20, 8, 1})));
}

TEST_CASE("hash_password and verify_password can run on several threads at once", "[libsec][password]") {
  constexpr int k_threads = 4;
  constexpr int k_rounds = 3;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([t, &failures] {
      const std::string password = "thread password " + std::to_string(t);
      for (int i = 0; i < k_rounds; ++i) {
        const auto stored = hash_password(password, k_cheap);
        if (!stored || !verify_password(password, *stored) || verify_password(password + "!", *stored) ||
            !parse_phc(unknown_user_hash(k_cheap))) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures.load() == 0);
}
