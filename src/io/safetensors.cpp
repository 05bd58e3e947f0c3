// safetensors: memory-mapped reading with a validated header, conversion to f32 / f64 / i64, tensor-parallel
// slices that touch only the bytes they need, sharded checkpoints (index.json + shards), and atomic writing.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/contained_path.h"
#include "io/json_file.h"
#include "io/os_error.h"

namespace stepwise {

// Tensor bytes are used in place from the mapped file, and safetensors stores them little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "stepwise reads safetensors in place: little-endian only");

namespace {

struct StDTypeInfo {
  StDType dtype;
  const char* name;
  size_t size;
};
constexpr StDTypeInfo kStDTypes[] = {
    {StDType::kF64, "F64", 8}, {StDType::kF32, "F32", 4}, {StDType::kF16, "F16", 2}, {StDType::kBF16, "BF16", 2},
    {StDType::kI64, "I64", 8}, {StDType::kI32, "I32", 4}, {StDType::kI16, "I16", 2}, {StDType::kI8, "I8", 1},
    {StDType::kU8, "U8", 1},   {StDType::kBool, "BOOL", 1}};

const StDTypeInfo& st_dtype_info(StDType dtype) {
  for (const StDTypeInfo& d : kStDTypes)
    if (d.dtype == dtype) return d;
  fail(StatusCode::kInternal, "unknown StDType ", static_cast<int>(dtype));
}

// A header that contradicts itself or the file: the file is damaged, or not safetensors at all.
template <class... Args>
[[noreturn]] void corrupt(const std::string& path, const Args&... args) {
  fail(StatusCode::kDataLoss, path, ": ", args...);
}

StTensorInfo parse_header_entry(const std::string& path, const std::string& name, const nlohmann::json& entry) {
  if (!entry.is_object()) corrupt(path, "tensor '", name, "': header entry is a JSON ", entry.type_name());
  auto field = [&](const char* key) -> const nlohmann::json& {
    const auto it = entry.find(key);
    if (it == entry.end()) corrupt(path, "tensor '", name, "': header entry has no \"", key, "\"");
    return *it;
  };
  StTensorInfo info;
  info.name = name;

  const nlohmann::json& dtype = field("dtype");
  if (!dtype.is_string()) corrupt(path, "tensor '", name, "': dtype ", dtype.dump(), " is not a string");
  const auto known = std::find_if(std::begin(kStDTypes), std::end(kStDTypes),
                                  [&](const StDTypeInfo& d) { return dtype.get<std::string>() == d.name; });
  if (known == std::end(kStDTypes)) {
    std::string names;
    for (const StDTypeInfo& d : kStDTypes) names += std::string(names.empty() ? "" : ", ") + d.name;
    invalid_argument(path, ": tensor '", name, "' has dtype ", dtype.get<std::string>(),
                     ", which stepwise cannot read (it reads ", names, ")");
  }
  info.dtype = known->dtype;

  const nlohmann::json& shape = field("shape");
  if (!shape.is_array()) corrupt(path, "tensor '", name, "': shape ", shape.dump(), " is not a list");
  uint64_t nbytes = known->size;  // shape x dtype, guarded against overflow by a lying header
  for (const nlohmann::json& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      corrupt(path, "tensor '", name, "': shape ", shape.dump(), " is not a list of non-negative integers");
    if (__builtin_mul_overflow(nbytes, d.get<uint64_t>(), &nbytes))
      corrupt(path, "tensor '", name, "': shape ", shape.dump(), " is too large");
    info.shape.push_back(d.get<int64_t>());
  }

  const nlohmann::json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    corrupt(path, "tensor '", name, "': data_offsets ", offsets.dump(), " is not a pair of non-negative integers");
  info.begin = offsets[0].get<uint64_t>();
  info.end = offsets[1].get<uint64_t>();
  if (info.begin > info.end)
    corrupt(path, "tensor '", name, "': data_offsets [", info.begin, ", ", info.end, "] run backwards");
  if (info.end - info.begin != nbytes)
    corrupt(path, "tensor '", name, "': data_offsets [", info.begin, ", ", info.end, "] span ", info.end - info.begin,
            " bytes, but shape ", shape_str(info.shape), " of ", known->name, " needs ", nbytes);
  return info;
}

// The data section must be exactly the tensors' bytes back to back, as the reference implementation requires:
// a tensor past the end means truncation, and overlaps, gaps or trailing bytes mean offsets that lie.
void check_data_layout(const std::string& path, const std::map<std::string, StTensorInfo>& tensors,
                       size_t data_size) {
  std::vector<const StTensorInfo*> order;
  for (const auto& entry : tensors) {
    const StTensorInfo& t = entry.second;
    if (t.end > data_size)
      corrupt(path, "tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, "] run past the end of the ",
              data_size, "-byte data section (file truncated, or a wrong header)");
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const StTensorInfo* a, const StTensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  size_t covered = 0;
  const StTensorInfo* prev = nullptr;
  for (const StTensorInfo* t : order) {
    if (t->begin < covered)
      corrupt(path, "tensor '", t->name, "' (bytes [", t->begin, ", ", t->end, ")) overlaps tensor '", prev->name,
              "' (bytes [", prev->begin, ", ", prev->end, "))");
    if (t->begin > covered)
      corrupt(path, "tensor '", t->name, "' starts at byte ", t->begin, " of the data section, but the tensors ",
              "before it end at byte ", covered, " (tensors must be contiguous)");
    covered = t->end;
    prev = t;
  }
  if (covered != data_size)
    corrupt(path, "the data section has ", data_size - covered, " bytes after its last tensor",
            prev ? " '" + prev->name + "'" : std::string());
}

void parse_header(const std::string& path, const char* text, size_t length, size_t data_size,
                  std::map<std::string, StTensorInfo>& tensors, std::map<std::string, std::string>& metadata) {
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, text + length);
  } catch (const nlohmann::json::exception& e) {  // syntax, and numbers out of range (406: "1e999")
    corrupt(path, "header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object()) corrupt(path, "header is a JSON ", header.type_name(), ", not an object");
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      if (!item.value().is_object()) corrupt(path, "__metadata__ is not an object");
      for (const auto& m : item.value().items()) {
        if (!m.value().is_string()) corrupt(path, "__metadata__ entry '", m.key(), "' is not a string");
        metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    tensors.emplace(item.key(), parse_header_entry(path, item.key(), item.value()));
  }
  check_data_layout(path, tensors, data_size);
}

// Converts n elements, from element `first` on, of a floating-point tensor to T (float or double).
template <class T>
void load_floats(const SafetensorsFile& file, const StTensorInfo& info, size_t first, size_t n, T* dst,
                 const char* reader) {
  const uint8_t* src = file.bytes(info) + first * st_dtype_size(info.dtype);
  switch (info.dtype) {
    case StDType::kF32:
      if constexpr (std::is_same_v<T, float>) {
        std::memcpy(dst, src, n * sizeof(float));
      } else {
        for (size_t i = 0; i < n; ++i) {
          float v;
          std::memcpy(&v, src + 4 * i, 4);  // memcpy: tensor data need not be aligned in the file
          dst[i] = v;
        }
      }
      return;
    case StDType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = static_cast<T>(v);
      }
      return;
    case StDType::kBF16:
    case StDType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = info.dtype == StDType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
      }
      return;
    default:
      invalid_argument(file.path(), ": tensor '", info.name, "' is ", st_dtype_name(info.dtype), "; ", reader,
                       " reads F32, BF16, F16 or F64");
  }
}

void check_f32_destination(const SafetensorsFile& file, const StTensorInfo& info, const Tensor& dst,
                           const char* reader) {
  if (!dst.is_cpu() || dst.dtype() != DType::kF32 || (!dst.defined() && dst.numel() > 0))
    invalid_argument(file.path(), ": tensor '", info.name, "': ", reader, " fills a CPU f32 tensor, got ",
                     dst.defined() ? dst.describe() : "an undefined tensor");
}

// The shard a sharded checkpoint's index names, inside the index's folder; a missing one is NOT_FOUND naming
// index, shard and tensor.
std::shared_ptr<SafetensorsFile> open_shard(const std::string& index_path, const std::string& shard,
                                            const std::string& tensor) {
  const std::string shard_path = contained_path(parent_directory(index_path), shard, index_path,
                                                "weight_map entry for tensor '" + tensor + "'");
  struct stat st;
  if (::stat(shard_path.c_str(), &st) != 0)
    fail(StatusCode::kNotFound, index_path, ": shard ", shard, " (holding tensor '", tensor, "') is missing: ",
         shard_path, ": ", std::strerror(errno));
  return SafetensorsFile::open(shard_path);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

const char* st_dtype_name(StDType dtype) { return st_dtype_info(dtype).name; }
size_t st_dtype_size(StDType dtype) { return st_dtype_info(dtype).size; }

StDType st_dtype_of(DType dtype) {
  switch (dtype) {
    case DType::kF32: return StDType::kF32;
    case DType::kBF16: return StDType::kBF16;
    case DType::kF16: return StDType::kF16;
    case DType::kI32: return StDType::kI32;
  }
  fail(StatusCode::kInternal, "no safetensors dtype for ", dtype_name(dtype));
}

std::optional<DType> tensor_dtype_of(StDType dtype) {
  switch (dtype) {
    case StDType::kF32: return DType::kF32;
    case StDType::kBF16: return DType::kBF16;
    case StDType::kF16: return DType::kF16;
    default: return std::nullopt;
  }
}

void read_tensor_exact(const SafetensorsFile& file, const std::string& name, Tensor& dst, StatusCode code,
                       const std::string& hint) {
  if (!file.has(name)) fail(code, file.path(), ": tensor '", name, "' is missing (", hint, ")");
  const StTensorInfo& info = file.info(name);
  if (info.shape != dst.shape() || tensor_dtype_of(info.dtype) != dst.dtype())
    fail(code, file.path(), ": tensor '", name, "' is ", st_dtype_name(info.dtype), shape_str(info.shape),
         ", expected ", dst.describe(), " (", hint, ")");
  Tensor host = Tensor::empty(dst.shape(), dst.dtype());
  std::memcpy(host.data(), file.bytes(info), host.nbytes());
  dst.copy_from(host);
}

// ---- SafetensorsFile ----

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_os_error("cannot open safetensors file", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail_os_error("cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    invalid_argument(path, ": not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    corrupt(path, "file has ", size, " bytes, too few for a safetensors header (an 8-byte length, then JSON)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file's pages reachable
  if (map == MAP_FAILED) fail_os_error("cannot mmap", path, err);
  file->map_ = map;  // unmapped by the destructor from here on, including on a header error below
  file->map_size_ = size;

  const uint8_t* base = static_cast<const uint8_t*>(map);
  uint64_t header_length;
  std::memcpy(&header_length, base, 8);
  if (header_length > size - 8)
    corrupt(path, "header length ", header_length, " (the first 8 bytes) exceeds the ", size - 8,
            " bytes that follow it: the file is truncated or not safetensors");
  file->data_ = base + 8 + header_length;
  parse_header(path, reinterpret_cast<const char*>(base + 8), header_length, size - 8 - header_length, file->tensors_,
               file->metadata_);
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const StTensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(StatusCode::kNotFound, path_, ": no tensor '", name, "'");
  return it->second;
}

const uint8_t* SafetensorsFile::bytes(const StTensorInfo& info) const { return data_ + info.begin; }

// ---- SafetensorsCheckpoint ----

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) fail_os_error("no safetensors checkpoint at", path, errno);
  std::string file = path;
  if (S_ISDIR(st.st_mode)) {
    file = path + "/model.safetensors.index.json";
    if (!file_exists(file)) file = path + "/model.safetensors";
    if (!file_exists(file))
      fail(StatusCode::kNotFound, path, ": holds neither model.safetensors nor model.safetensors.index.json");
  }

  SafetensorsCheckpoint ckpt;
  ckpt.source_ = file;
  if (!ends_with(file, ".index.json")) {
    ckpt.files_.push_back(SafetensorsFile::open(file));
    for (const auto& entry : ckpt.files_[0]->tensors()) ckpt.index_[entry.first] = 0;
    return ckpt;
  }

  const nlohmann::json index = read_json_file(file, StatusCode::kDataLoss);
  const auto weight_map = index.is_object() ? index.find("weight_map") : index.end();
  if (weight_map == index.end() || !weight_map->is_object()) corrupt(file, "no \"weight_map\" object");
  std::map<std::string, size_t> shard_position;
  for (const auto& item : weight_map->items()) {
    const std::string& tensor = item.key();
    if (!item.value().is_string()) corrupt(file, "weight_map entry for tensor '", tensor, "' is not a file name");
    const std::string shard = item.value().get<std::string>();
    const auto [it, added] = shard_position.emplace(shard, ckpt.files_.size());
    if (added) ckpt.files_.push_back(open_shard(file, shard, tensor));
    if (!ckpt.files_[it->second]->has(tensor))
      corrupt(file, "weight_map puts tensor '", tensor, "' in ", shard, ", which does not hold it");
    ckpt.index_[tensor] = it->second;
  }
  return ckpt;
}

void SafetensorsFile::release_pages() const { ::madvise(map_, map_size_, MADV_DONTNEED); }

const SafetensorsFile& SafetensorsCheckpoint::file_of(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) fail(StatusCode::kNotFound, source_, ": no tensor '", name, "'");
  return *files_[it->second];
}

bool SafetensorsCheckpoint::has(const std::string& name) const { return index_.count(name) > 0; }
Shape SafetensorsCheckpoint::shape(const std::string& name) const { return file_of(name).info(name).shape; }
StDType SafetensorsCheckpoint::dtype(const std::string& name) const { return file_of(name).info(name).dtype; }

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& entry : index_) out.push_back(entry.first);
  return out;
}

void SafetensorsCheckpoint::read_f32(const std::string& name, Tensor& dst) const {
  const SafetensorsFile& file = file_of(name);
  const StTensorInfo& info = file.info(name);
  check_f32_destination(file, info, dst, "read_f32");
  if (dst.shape() != info.shape)
    invalid_argument(file.path(), ": tensor '", name, "' has shape ", shape_str(info.shape),
                     ", but the destination has shape ", shape_str(dst.shape()));
  load_floats(file, info, 0, static_cast<size_t>(dst.numel()), dst.data_as<float>(), "read_f32");
}

void SafetensorsCheckpoint::read_f32_slice(const std::string& name, Tensor& dst, int dim, int64_t start) const {
  const SafetensorsFile& file = file_of(name);
  const StTensorInfo& info = file.info(name);
  check_f32_destination(file, info, dst, "read_f32_slice");
  const Shape& full = info.shape;
  const int ndim = static_cast<int>(full.size());
  bool fits = dst.ndim() == ndim && dim >= 0 && dim < ndim;
  for (int d = 0; fits && d < ndim; ++d) fits = d == dim || dst.shape()[d] == full[d];
  if (!fits || start < 0 || start > full[dim] - dst.shape()[dim])
    invalid_argument(file.path(), ": tensor '", name, "' has shape ", shape_str(full), "; cannot read a block of ",
                     "shape ", shape_str(dst.shape()), " from index ", start, " of dimension ", dim);
  // The block is `outer` runs of len x inner contiguous elements, one per index of the dimensions before `dim`.
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= full[d];
  for (int d = dim + 1; d < ndim; ++d) inner *= full[d];
  const int64_t len = dst.shape()[dim];
  float* out = dst.data_as<float>();
  for (int64_t o = 0; o < outer; ++o)
    load_floats(file, info, static_cast<size_t>((o * full[dim] + start) * inner), static_cast<size_t>(len * inner),
                out + o * len * inner, "read_f32_slice");
}

std::vector<double> SafetensorsCheckpoint::read_f64(const std::string& name) const {
  const SafetensorsFile& file = file_of(name);
  const StTensorInfo& info = file.info(name);
  std::vector<double> out(static_cast<size_t>(shape_numel(info.shape)));
  load_floats(file, info, 0, out.size(), out.data(), "read_f64");
  return out;
}

std::vector<int64_t> SafetensorsCheckpoint::read_i64(const std::string& name) const {
  const SafetensorsFile& file = file_of(name);
  const StTensorInfo& info = file.info(name);
  std::vector<int64_t> out(static_cast<size_t>(shape_numel(info.shape)));
  const uint8_t* src = file.bytes(info);
  if (info.dtype == StDType::kI64) {
    std::memcpy(out.data(), src, out.size() * sizeof(int64_t));
  } else if (info.dtype == StDType::kI32) {
    for (size_t i = 0; i < out.size(); ++i) {
      int32_t v;
      std::memcpy(&v, src + 4 * i, 4);
      out[i] = v;
    }
  } else {
    invalid_argument(file.path(), ": tensor '", name, "' is ", st_dtype_name(info.dtype),
                     "; read_i64 reads I64 or I32");
  }
  return out;
}

// ---- writing ----

std::string safetensors_header(const std::string& path, const std::vector<StHeaderEntry>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();  // keeps the caller's tensor order
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const StHeaderEntry& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__" || header.contains(t.name))
      invalid_argument(path, ": cannot write tensor '", t.name, "': the name is empty, reserved or repeated");
    const size_t end = offset + static_cast<size_t>(shape_numel(t.shape)) * st_dtype_size(t.dtype);
    header[t.name] = {{"dtype", st_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // spaces keep the data section 8-byte aligned, as the format allows
  const uint64_t length = text.size();
  return std::string(reinterpret_cast<const char*>(&length), sizeof length) + text;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<StHeaderEntry> entries;
  std::vector<Tensor> host;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined() && tensor.numel() > 0) invalid_argument(path, ": tensor '", name, "' is undefined");
    host.push_back(tensor.to(Device::kCPU));
    entries.push_back({name, st_dtype_of(tensor.dtype()), tensor.shape()});
  }
  const std::string header = safetensors_header(path, entries, metadata);
  write_file_atomic(path, [&](std::FILE* f) {
    std::fwrite(header.data(), 1, header.size(), f);
    for (const Tensor& t : host)
      if (t.nbytes() > 0) std::fwrite(t.data(), 1, t.nbytes(), f);
  });
}

}  // namespace stepwise
