// AdamW's hyperparameters: the optimizer's own struct, and the SFT config's optimizer section reads into it
// (train/train_config.cpp declares each field's key, range and doc; the defaults are here, once).
#pragma once

namespace stepwise {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // applied to tensors with ndim >= 2 only
  float clip_norm = 1.0f;     // <= 0 disables clipping
};

}  // namespace stepwise
