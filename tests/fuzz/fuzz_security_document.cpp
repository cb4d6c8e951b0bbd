// Parses arbitrary text as a security configuration document. Whatever parses must apply
// to the factory configuration without crashing, and the exported form of any
// configuration must parse again.
#include <cstdlib>
#include <string_view>

#include "libsec/security_document.hpp"

namespace {

sec::SecurityLimits limits() {
  sec::SecurityLimits result;
  result.modes = {sec::SecurityMode::legacy, sec::SecurityMode::advanced};
  result.complexity_available = true;
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto document = sec::parse_security_document(text, "fuzz.yaml");
  if (!document) return 0;
  static const auto factory = [] {
    // A fixed, valid PHC string: the fuzzer must not spend its time in scrypt.
    auto config = sec::factory_security_config(limits(), "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
                                                          "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g");
    config.hashing = {sec::ScryptParams{4, 8, 1}, true};
    return config;
  }();
  const auto applied = sec::apply_security_document(factory, {}, *document, {}, limits());
  if (!applied) return 0;
  const auto exported = sec::format_security_document(applied->config, applied->settings, "fuzz");
  if (!sec::parse_security_document(exported, "exported.yaml")) std::abort();
  return 0;
}
