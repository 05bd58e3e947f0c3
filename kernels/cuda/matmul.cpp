// CUDA matmul through cuBLASLt: row-major C[M, N] = alpha * op(A) @ op(B) + beta * C with bf16 (tensor cores) or
// f32 operands, always accumulating in f32 (CUBLAS_COMPUTE_32F: no TF32 shortcut for f32 operands, which are the
// backend's precise mode). cuBLASLt is column-major and a row-major matrix is the column-major view of its
// transpose, so it computes C^T = op(B)^T @ op(A)^T: B is cuBLASLt's first operand and A its second.
//
// Accumulation lives in the GEMM: weight gradients (beta = 1 into f32) and summed input gradients (beta = 1) read
// C in cuBLASLt's epilogue instead of a separate add pass. (Its other epilogues, bias and GELU/ReLU, have no use in
// Qwen3: no biases, and SwiGLU needs both halves of the gate/up product.)
//
// Descriptors, layouts and the heuristic's choice of algorithm are cached per problem (shapes, transposes, dtypes,
// operand alignments): the heuristic query costs tens of microseconds, more than a small GEMM in decoding.
#include <array>
#include <mutex>
#include <unordered_map>

#include "core/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/cuda_ops.h"

namespace stepwise::kernels::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // what cuBLASLt asks for on Hopper

struct Problem {
  int64_t m, n, k;
  bool trans_a, trans_b;
  DType ab, c;
  uint32_t align_a, align_b, align_c;  // largest power of two (<= 256) dividing each address

  std::array<int64_t, 10> key() const {
    return {m, n, k, trans_a, trans_b, static_cast<int64_t>(ab), static_cast<int64_t>(c), align_a, align_b, align_c};
  }
};
using ProblemKey = std::array<int64_t, 10>;
struct KeyHash {
  size_t operator()(const ProblemKey& key) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : key) h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, out = nullptr;  // cuBLASLt's A (our B), B (our A), C/D
  cublasLtMatmulAlgo_t algo{};
};

constexpr size_t kMaxPlans = 4096;

void destroy(Plan& plan) {
  cublasLtMatrixLayoutDestroy(plan.first);
  cublasLtMatrixLayoutDestroy(plan.second);
  cublasLtMatrixLayoutDestroy(plan.out);
  cublasLtMatmulDescDestroy(plan.desc);
}

uint32_t alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kF32: return CUDA_R_32F;
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF16: return CUDA_R_16F;
    default: fail(StatusCode::kInternal, "matmul on CUDA: no cuBLASLt type for ", dtype_name(t));
  }
}

// Column-major view of a row-major [rows, cols] matrix: cols x rows with leading dimension cols.
cublasLtMatrixLayout_t layout(DType t, int64_t rows, int64_t cols) {
  cublasLtMatrixLayout_t l = nullptr;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, cuda_type(t), static_cast<uint64_t>(cols), static_cast<uint64_t>(rows),
                                          cols));
  return l;
}

Plan make_plan(const Problem& p, int64_t a_rows, int64_t a_cols, int64_t b_rows, int64_t b_cols) {
  Plan plan;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_first = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof(op_first)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof(op_second)));
  plan.first = layout(p.ab, b_rows, b_cols);
  plan.second = layout(p.ab, a_rows, a_cols);
  plan.out = layout(p.c, p.m, p.n);

  cublasLtMatmulPreference_t pref = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t workspace = kWorkspaceBytes;
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                                    sizeof(workspace)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &p.align_b,
                                                    sizeof(uint32_t)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &p.align_a,
                                                    sizeof(uint32_t)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &p.align_c,
                                                    sizeof(uint32_t)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &p.align_c,
                                                    sizeof(uint32_t)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(cublaslt(), plan.desc, plan.first, plan.second, plan.out, plan.out, pref,
                                              1, &result, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  if (found == 0)
    fail(StatusCode::kInternal, "matmul on CUDA: cuBLASLt has no algorithm for [", p.m, " x ", p.k, "] @ [", p.k,
         " x ", p.n, "] with ", dtype_name(p.ab), " operands into ", dtype_name(p.c));
  plan.algo = result.algo;
  return plan;
}

}  // namespace

void matmul(Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha, float beta) {
  if (a.dtype() != b.dtype() || (a.dtype() == DType::kF32 && c.dtype() != DType::kF32) || a.dtype() == DType::kI32)
    fail(StatusCode::kInternal, "matmul on CUDA takes bf16 (or f32) operands of one dtype, into f32 or bf16 (f32 ",
         "operands: f32 only); got ", a.describe(), " @ ", b.describe(), " into ", c.describe());
  const int64_t m = c.size(0), n = c.size(1), k = trans_a ? a.size(0) : a.size(1);
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta * C
    if (beta == 0.0f)
      c.zero();
    else
      scale(c, beta);
    return;
  }
  const Problem p{m, n, k, trans_a, trans_b, a.dtype(), c.dtype(), alignment(a.data()), alignment(b.data()),
                  alignment(c.data())};
  void* workspace = scratch(Scratch::kCublasWorkspace, kWorkspaceBytes);
  static std::mutex mutex;  // guards the cache; held over the (asynchronous) launch, which reads the descriptors
  static std::unordered_map<ProblemKey, Plan, KeyHash> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(p.key());
  if (it == plans.end()) {
    // A model has a few dozen shapes per batch size; unpacked batches of varying length add more. Start over
    // rather than grow without bound.
    if (plans.size() >= kMaxPlans) {
      for (auto& entry : plans) destroy(entry.second);
      plans.clear();
    }
    it = plans.emplace(p.key(), make_plan(p, a.size(0), a.size(1), b.size(0), b.size(1))).first;
  }
  const Plan& plan = it->second;
  CUBLAS_CHECK(cublasLtMatmul(cublaslt(), plan.desc, &alpha, b.data(), plan.first, a.data(), plan.second, &beta,
                              c.data(), plan.out, c.data(), plan.out, &plan.algo, workspace, kWorkspaceBytes,
                              stream()));
}

}  // namespace stepwise::kernels::cuda
