// Deterministic random numbers (xoshiro256**), with a state that checkpoints save and restore exactly.
#pragma once

#include <array>
#include <cstdint>

namespace stepwise {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);

  uint64_t next_u64();
  float uniform();            // [0, 1) with 24 random bits
  double uniform_double();    // [0, 1) with 53 random bits
  float normal();             // standard normal (Box-Muller, one value per call)
  uint64_t below(uint64_t n);  // uniform in [0, n), unbiased

  using State = std::array<uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  State s_{};
};

}  // namespace stepwise
