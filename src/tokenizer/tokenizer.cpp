// Tokenizer: loading, the encode pipeline (tokenizers' order: added tokens, normalizer, pre-tokenizers,
// model), decode, and batch encoding on threads.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "core/status.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/nfc.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/utf8.h"

namespace stepwise {

struct Tokenizer::OffsetMap {
  const NormalizedText* norm;  // null when the segment was not normalized
  size_t base;                 // where the segment starts in the caller's text

  TokenOffsets operator()(size_t begin, size_t end) const {
    if (!norm) return {base + begin, base + end};
    return {base + norm->input_offset(begin, false), base + norm->input_offset(end, true)};
  }
};

namespace {

// Calls fn(begin, end) for each pre-token of `text` after splits[level..] (each applies to the pieces of the
// one before, as tokenizers' Sequence does).
template <class Fn>
void pre_tokenize(const std::vector<RegexSplitter>& splits, size_t level, std::string_view text, size_t at, Fn& fn) {
  if (level == splits.size()) {
    fn(at, at + text.size());
    return;
  }
  splits[level].split(text,
                      [&](size_t b, size_t e) { pre_tokenize(splits, level + 1, text.substr(b, e - b), at + b, fn); });
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& dir) {
  return Tokenizer(read_tokenizer_files(dir + "/tokenizer.json", dir + "/tokenizer_config.json"));
}

Tokenizer::Tokenizer(const TokenizerSpec& spec)
    : json_path_(spec.json_path),
      bpe_(std::make_unique<ByteLevelBpe>(spec.vocab, spec.merges, spec.ignore_merges, spec.json_path)),
      nfc_(spec.nfc),
      chat_template_(spec.chat_template) {
  for (const SplitSpec& s : spec.splits)
    splits_.emplace_back(s.pattern, s.literal, spec.json_path + ": field " + s.field);

  int32_t size = 0;
  for (const auto& [token, id] : spec.vocab) size = std::max(size, id + 1);
  for (const AddedTokenSpec& t : spec.added_tokens) size = std::max(size, t.id + 1);
  tokens_.resize(size);
  token_bytes_.resize(size);
  known_.assign(size, 0);
  special_.assign(size, 0);
  ids_.reserve(spec.vocab.size() + spec.added_tokens.size());
  for (const auto& [token, id] : spec.vocab) {
    tokens_[id] = token;
    known_[id] = 1;
    ids_[token] = id;
  }
  for (const AddedTokenSpec& t : spec.added_tokens) {
    tokens_[t.id] = t.content;
    known_[t.id] = 1;
    special_[t.id] = t.special;
    ids_[t.content] = t.id;
    (t.normalized && nfc_ ? normalized_added_ : raw_added_).add(t.content, t.id);
  }
  for (int32_t id = 0; id < size; ++id) token_bytes_[id] = byte_level_token_bytes(tokens_[id]);

  const auto config_token = [&](const std::string& token, const char* field) -> std::optional<int32_t> {
    if (token.empty()) return std::nullopt;
    const auto id = token_to_id(token);
    if (!id)
      invalid_argument(spec.config_path, ": field ", field, " is \"", token, "\", which is not a token of ",
                       spec.json_path, "; the two files do not belong together");
    special_[*id] = 1;
    return id;
  };
  eos_id_ = config_token(spec.eos_token, "eos_token");
  pad_id_ = config_token(spec.pad_token, "pad_token");
  bos_id_ = config_token(spec.bos_token, "bos_token");
  for (const std::string& t : spec.additional_special_tokens) config_token(t, "additional_special_tokens");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode(text, &ids, nullptr);
  return ids;
}

void Tokenizer::encode(std::string_view text, std::vector<int32_t>* ids, std::vector<TokenOffsets>* offsets) const {
  const size_t bad = find_invalid_utf8(text);
  if (bad != text.size())
    invalid_argument("text to tokenize is not valid UTF-8 (byte ", bad, " of ", text.size(),
                     "); decode it to UTF-8 first");
  size_t pos = 0;
  AddedTokenMatcher::Match m;
  while (pos < text.size()) {
    const bool found = raw_added_.find(text, pos, &m);
    const size_t end = found ? m.begin : text.size();
    if (end > pos) encode_segment(text.substr(pos, end - pos), pos, ids, offsets);
    if (!found) break;
    ids->push_back(m.id);
    if (offsets) offsets->push_back({m.begin, m.end});
    pos = m.end;
  }
}

void Tokenizer::encode_segment(std::string_view segment, size_t base, std::vector<int32_t>* ids,
                               std::vector<TokenOffsets>* offsets) const {
  thread_local NormalizedText norm;
  if (nfc_) nfc_normalize(segment, &norm);
  const std::string_view text = nfc_ ? std::string_view(norm.text) : segment;
  const OffsetMap map{nfc_ ? &norm : nullptr, base};
  size_t pos = 0;
  AddedTokenMatcher::Match m;
  while (pos < text.size()) {
    const bool found = !normalized_added_.empty() && normalized_added_.find(text, pos, &m);
    const size_t end = found ? m.begin : text.size();
    if (end > pos) encode_words(text.substr(pos, end - pos), pos, map, ids, offsets);
    if (!found) break;
    ids->push_back(m.id);
    if (offsets) offsets->push_back(map(m.begin, m.end));
    pos = m.end;
  }
}

void Tokenizer::encode_words(std::string_view text, size_t at, const OffsetMap& map, std::vector<int32_t>* ids,
                             std::vector<TokenOffsets>* offsets) const {
  thread_local std::vector<uint32_t> ends;
  auto word = [&](size_t begin, size_t end) {
    const std::string_view bytes = text.substr(begin - at, end - begin);
    if (!offsets) {
      bpe_->encode(bytes, ids, nullptr);
      return;
    }
    ends.clear();
    bpe_->encode(bytes, ids, &ends);
    size_t prev = begin;
    for (const uint32_t e : ends) {
      offsets->push_back(map(prev, begin + e));
      prev = begin + e;
    }
  };
  pre_tokenize(splits_, 0, text, at, word);
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          int num_threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads = static_cast<int>(std::min<size_t>(num_threads, texts.size()));
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  size_t error_index = 0;
  std::mutex error_mutex;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < texts.size();) {
      try {
        out[i] = encode(texts[i]);
      } catch (...) {  // the first error ends the batch and is rethrown on the calling thread
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) {
          error = std::current_exception();
          error_index = i;
        }
        next = texts.size();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < num_threads; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const StatusError& e) {
      throw e.with_context("encode_batch: text " + std::to_string(error_index));
    }
  }
  return out;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !known_[id])
    invalid_argument("token id ", id, " is not in the vocabulary of ", json_path_, " (ids 0..", vocab_size() - 1, ")");
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (const int32_t id : ids) {
    check_id(id);
    if (!(skip_special_tokens && special_[id])) bytes += token_bytes_[id];
  }
  std::string text;
  append_utf8_lossy(bytes, true, &text);
  return text;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  check_id(id);
  return tokens_[id];
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  check_id(id);
  return token_bytes_[id];
}

bool Tokenizer::is_special(int32_t id) const {
  check_id(id);
  return special_[id];
}

}  // namespace stepwise
