// Loads a device model document; any input must end in a model or a located error.
#include <cstdlib>
#include <string_view>

#include "libproto/model/device_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto model = proto::model::load_device_model(text, "fuzz.yaml");
  if (model) {
    if (model->firmware.empty() || model->feature_sets.empty()) std::abort();
    const auto capabilities = model->capabilities(model->default_feature_set, model->latest_firmware().version);
    if (!capabilities) std::abort();
  } else if (model.error().message.empty()) {
    std::abort();
  }
  return 0;
}
