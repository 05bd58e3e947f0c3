// Fuzz target: model.safetensors.index.json. The model folder holds two valid shards and a symlink to a third
// file outside it; a fourth file sits beside the folder. Whatever the index says, an opened checkpoint may only
// hold tensors of files inside the folder (the outside files' tensor "outside" never appears), and every tensor
// it lists must read.
#include <filesystem>

#include "fuzz_util.h"
#include "io/safetensors.h"

using namespace stepwise;

namespace {

Tensor values(std::vector<float> v, Shape shape) { return Tensor::from_vector(v, std::move(shape)); }

// scratch/model/{model-00001-of-00002, model-00002-of-00002}.safetensors, scratch/model/link.safetensors ->
// scratch/outside.safetensors.
std::string make_model_folder(const fuzz::ScratchDir& scratch) {
  const std::string model = scratch.path() + "/model";
  std::filesystem::create_directory(model);
  write_safetensors(model + "/model-00001-of-00002.safetensors",
                    {{"a", values({1, 2, 3, 4}, {2, 2})}, {"b", values({5, 6}, {2}).to_dtype(DType::kBF16)}});
  write_safetensors(model + "/model-00002-of-00002.safetensors", {{"c", values({7, 8, 9}, {3})}});
  write_safetensors(scratch.path() + "/outside.safetensors", {{"outside", values({-1}, {1})}});
  std::filesystem::create_symlink("../outside.safetensors", model + "/link.safetensors");
  return model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::ScratchDir scratch;
  static const std::string model = make_model_folder(scratch);
  scratch.write("model/model.safetensors.index.json", data, size);
  fuzz::refusing_with_status_errors([&] {
    const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(model);
    for (const std::string& name : ckpt.names()) {
      if (name == "outside") fuzz::finding("the index reached a file outside the model folder");
      Tensor t = Tensor::empty(ckpt.shape(name), DType::kF32);
      ckpt.read_f32(name, t);
    }
  });
  return 0;
}
