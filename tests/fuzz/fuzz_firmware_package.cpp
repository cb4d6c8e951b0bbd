// Decodes a firmware package (meter-firmware-package(5)). Where it decodes, encoding the
// manifest, payload and signature again must give back the input byte for byte: one
// package, one encoding. The streaming verifier, fed the same bytes in two chunks, must
// agree with the decoder on every structural error, and on success may only refuse the
// hash or the signature.
//
// The seed corpus is signed with the RFC 8032 section 7.1 TEST 1 key, which this target
// trusts, so the signature path runs to the end on the seeds and their mutations.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <openssl/evp.h>

#include "libsec/firmware_package.hpp"

namespace {

const std::vector<sec::SigningPublicKey>& trusted_keys() {
  static const auto keys = [] {
    // RFC 8032 section 7.1, TEST 1, secret key.
    static const unsigned char secret[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
                                             0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
                                             0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
    sec::KeyHandle key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, secret, sizeof secret));
    if (!key) std::abort();
    auto id = sec::signing_key_id(key.get());
    std::vector<sec::SigningPublicKey> list;
    list.push_back(sec::SigningPublicKey{std::move(key), std::move(id), "rfc8032-test-1"});
    return list;
  }();
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span input(reinterpret_cast<const std::byte*>(data), size);
  const auto decoded = sec::decode_firmware_package(input);

  sec::PackageVerifier verifier;
  const auto split = size == 0 ? 0 : data[0] % (size + 1);
  auto fed = verifier.update(input.first(split));
  if (fed) fed = verifier.update(input.subspan(split));
  const auto verified = verifier.finish(trusted_keys());

  if (!decoded) {
    if (sec::to_string(decoded.error().error) == "unknown" || decoded.error().message.empty()) std::abort();
    if (verified || verified.error().error != decoded.error().error) std::abort();
    return 0;
  }
  const auto encoded = sec::encode_firmware_package(decoded->manifest, decoded->payload, decoded->signature);
  if (!encoded || encoded->size() != size || !std::equal(encoded->begin(), encoded->end(), input.begin())) std::abort();
  if (verified) {
    if (!(verified->manifest == decoded->manifest) || verified->package_length != size) std::abort();
  } else {
    const auto error = verified.error().error;
    if (error != sec::PackageError::payload_hash_mismatch && error != sec::PackageError::unknown_key &&
        error != sec::PackageError::bad_signature) {
      std::abort();
    }
  }
  return 0;
}
