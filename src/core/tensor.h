// Tensor: a typed, shaped view of contiguous row-major memory on one device.
// A tensor either owns its memory (shared with its views) or points into memory owned elsewhere
// (a planned arena, a memory-mapped checkpoint). Ops live in kernels/, not here.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace stepwise {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);

struct bf16_t { uint16_t bits; };  // storage type of DType::kBF16 elements
struct f16_t { uint16_t bits; };   // storage type of DType::kF16 elements

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kF32; }
template <> constexpr DType dtype_of<bf16_t>() { return DType::kBF16; }
template <> constexpr DType dtype_of<f16_t>() { return DType::kF16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kI32; }

class Tensor {
 public:
  Tensor() = default;
  Tensor(void* data, Shape shape, DType dtype, Device device, std::shared_ptr<void> owner = nullptr);

  static Tensor empty(Shape shape, DType dtype, Device device = Device::kCPU);
  static Tensor zeros(Shape shape, DType dtype, Device device = Device::kCPU);
  // A CPU tensor holding a copy of `values` (f32 or i32).
  static Tensor from_vector(const std::vector<float>& values, Shape shape);
  static Tensor from_vector(const std::vector<int32_t>& values, Shape shape);

  bool defined() const { return data_ != nullptr; }
  void* data() const { return data_; }
  template <class T>
  T* data_as() const {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(data_);
  }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cpu() const { return device_ == Device::kCPU; }

  Tensor reshape(Shape shape) const;              // same elements, new shape
  Tensor rows(int64_t begin, int64_t end) const;  // slice of the leading dimension
  Tensor flat_rows() const;                        // [.., D] -> [N, D]

  // Copies of the tensor elsewhere or in another float format (f32/bf16/f16 on the CPU).
  Tensor to(Device device) const;
  Tensor to_dtype(DType dtype) const;
  void copy_from(const Tensor& src);  // same shape and dtype; any devices
  void zero();
  std::vector<float> to_f32_vector() const;

  std::string describe() const;  // "f32[3, 4] on cpu"
  void check_dtype(DType expected) const;

 private:
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCPU;
  std::shared_ptr<void> owner_;
};

// Elementwise float-format conversion on the CPU (f32/bf16/f16 in either direction), n elements.
void convert_floats(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n);

}  // namespace stepwise
