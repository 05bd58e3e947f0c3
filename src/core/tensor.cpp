// Tensor views, allocation and cross-device / cross-format copies.
#include "core/tensor.h"

#include <sstream>

#include "core/memory.h"
#include "core/status.h"

namespace stepwise {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor::Tensor(void* data, Shape shape, DType dtype, Device device, std::shared_ptr<void> owner)
    : data_(data), shape_(std::move(shape)), dtype_(dtype), device_(device), owner_(std::move(owner)) {
  for (int64_t d : shape_) SW_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape_));
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  auto owner = allocate_bytes(bytes, device);
  void* p = owner.get();
  return Tensor(p, std::move(shape), dtype, device, std::move(owner));
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  t.zero();
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, Shape shape) {
  SW_CHECK(shape_numel(shape) == static_cast<int64_t>(values.size()), "shape ", shape_str(shape), " vs ",
           values.size(), " values");
  Tensor t = empty(std::move(shape), DType::kF32);
  copy_bytes(t.data(), Device::kCPU, values.data(), Device::kCPU, t.nbytes());
  return t;
}

Tensor Tensor::from_vector(const std::vector<int32_t>& values, Shape shape) {
  SW_CHECK(shape_numel(shape) == static_cast<int64_t>(values.size()), "shape ", shape_str(shape), " vs ",
           values.size(), " values");
  Tensor t = empty(std::move(shape), DType::kI32);
  copy_bytes(t.data(), Device::kCPU, values.data(), Device::kCPU, t.nbytes());
  return t;
}

int64_t Tensor::size(int dim) const {
  const int n = ndim();
  const int d = dim < 0 ? dim + n : dim;
  SW_CHECK(d >= 0 && d < n, "dimension ", dim, " of ", describe());
  return shape_[d];
}

Tensor Tensor::reshape(Shape shape) const {
  SW_CHECK(shape_numel(shape) == numel(), "cannot reshape ", describe(), " to ", shape_str(shape));
  return Tensor(data_, std::move(shape), dtype_, device_, owner_);
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  SW_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], "rows [", begin, ", ", end, ") of ",
           describe());
  Shape s = shape_;
  s[0] = end - begin;
  const size_t row_bytes = shape_[0] ? nbytes() / static_cast<size_t>(shape_[0]) : 0;
  return Tensor(static_cast<char*>(data_) + begin * row_bytes, std::move(s), dtype_, device_, owner_);
}

Tensor Tensor::flat_rows() const {
  SW_CHECK(ndim() >= 1, "flat_rows of a scalar");
  const int64_t d = shape_.back();
  return reshape({d ? numel() / d : 0, d});
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor out = empty(shape_, dtype_, device);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to_dtype(DType dtype) const {
  if (dtype == dtype_) return *this;
  SW_CHECK(is_cpu(), "to_dtype runs on the CPU; got ", describe());
  Tensor out = empty(shape_, dtype, Device::kCPU);
  convert_floats(out.data(), dtype, data_, dtype_, numel());
  return out;
}

void Tensor::copy_from(const Tensor& src) {
  SW_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "copy ", src.describe(), " into ", describe());
  copy_bytes(data_, device_, src.data_, src.device_, nbytes());
}

void Tensor::zero() { zero_bytes(data_, device_, nbytes()); }

std::vector<float> Tensor::to_f32_vector() const {
  Tensor host = to(Device::kCPU).to_dtype(DType::kF32);
  const float* p = host.data_as<float>();
  return std::vector<float>(p, p + numel());
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " on " + device_name(device_);
}

void Tensor::check_dtype(DType expected) const {
  if (expected != dtype_) fail(StatusCode::kInternal, "expected a ", dtype_name(expected), " tensor, got ", describe());
}

void convert_floats(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n) {
  auto load = [&](int64_t i) -> float {
    switch (src_dtype) {
      case DType::kF32: return static_cast<const float*>(src)[i];
      case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
      case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
      default: fail(StatusCode::kInternal, "convert_floats from ", dtype_name(src_dtype));
    }
  };
  switch (dst_dtype) {
    case DType::kF32:
      for (int64_t i = 0; i < n; ++i) static_cast<float*>(dst)[i] = load(i);
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(load(i));
      break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_f16(load(i));
      break;
    default: fail(StatusCode::kInternal, "convert_floats to ", dtype_name(dst_dtype));
  }
}

}  // namespace stepwise
