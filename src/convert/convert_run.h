// `stepwise convert` on one rank or many (mpirun): HF -> native, native -> HF, native -> native (another TP x DP
// layout, AdamW moments and ZeRO-1 slices re-laid), HF -> HF (another dtype or shard size).
//
// Every rank opens the input (mmap: only what it reads is read), checks its share of the input's checksums, and
// writes its share of the output files (whole files, balanced by bytes) into OUTPUT.partial through a bounded
// buffer (convert/shard_writer.h), then re-reads each against the checksum computed while writing. The ranks then
// share (bytes, XXH3) of every file; the first rank of each host writes the small files (config.json, the index,
// the manifest naming which rank and host wrote each file) and renames OUTPUT.partial to OUTPUT. A directory named
// OUTPUT is therefore always complete; a killed run leaves only OUTPUT.partial, which the next run removes.
// --output may be node-local: each host's directory holds the files its ranks wrote, and the manifest names them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convert/checkpoint_layout.h"
#include "distributed/process_grid.h"

namespace stepwise {

struct ConvertOptions {
  std::string input, output;
  ConvertTarget target;
  std::string tokenizer;  // a folder whose tokenizer and generation-config files go into a Hugging Face output
  int64_t buffer_bytes = 64ll << 20;
  bool overwrite = false;  // replace an existing OUTPUT (only once the new one is complete)
  bool progress = true;    // rank 0's progress line on stderr
};

struct ConvertReport {
  std::string input_dir, input_format;
  bool zero1 = false;  // the layout written (native): ZeRO-1 optimizer slices
  int64_t bytes = 0;  // all ranks' files
  int files = 0;
  double seconds = 0;
  std::vector<int64_t> peak_rss;      // per rank, bytes (VmHWM)
  std::vector<int64_t> baseline_rss;  // per rank, before converting
};

// Collective over grid.world.
ConvertReport run_convert(const ConvertOptions& options, const ProcessGrid& grid);

// The name of the manifest in a Hugging Face output (a native checkpoint's is manifest.json).
extern const char* const kHfManifestName;

struct VerifyReport {
  int checked = 0;                  // files whose size and checksum match
  std::vector<std::string> remote;  // listed files absent here, written on another host
};
// Checks every file a checkpoint's manifest lists that is on this host: size, checksum, and that safetensors
// headers parse. DATA_LOSS naming the first bad or missing file.
VerifyReport verify_converted(const std::string& dir);

}  // namespace stepwise
