// NFC by runs (see nfc.h): ASCII is copied as is, each run of non-ASCII text goes through utf8proc.
#include "tokenizer/nfc.h"

#include <algorithm>
#include <cstdint>

#include <utf8proc.h>

#include "core/status.h"

namespace stepwise {
namespace {

bool is_ascii(char c) { return static_cast<uint8_t>(c) < 0x80; }

// An ASCII character a following combining mark may compose with (e.g. 'e' + U+0301, '=' + U+0338).
bool may_compose_forward(char c) { return c > 0x20 && c != 0x7F; }

void append_nfc(std::string_view run, std::string* out) {
  thread_local std::vector<utf8proc_int32_t> buffer;
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(run.data());
  const auto len = static_cast<utf8proc_ssize_t>(run.size());
  if (buffer.size() < run.size() + 4) buffer.resize(run.size() + 4);
  utf8proc_ssize_t n = utf8proc_decompose(bytes, len, buffer.data(), buffer.size(), options);
  if (n > static_cast<utf8proc_ssize_t>(buffer.size())) {
    buffer.resize(n);
    n = utf8proc_decompose(bytes, len, buffer.data(), buffer.size(), options);
  }
  if (n >= 0) n = utf8proc_normalize_utf32(buffer.data(), n, options);
  if (n >= 0) n = utf8proc_reencode(buffer.data(), n, options);  // UTF-8 bytes, written over the buffer
  SW_CHECK(n >= 0, "utf8proc failed on valid UTF-8: ", utf8proc_errmsg(n));
  out->append(reinterpret_cast<const char*>(buffer.data()), n);
}

}  // namespace

void nfc_normalize(std::string_view text, NormalizedText* out) {
  out->text.clear();
  out->changed.clear();
  const size_t n = text.size();
  size_t copied = 0;  // input bytes [0, copied) are in out->text
  size_t i = 0;
  while (true) {
    while (i < n && is_ascii(text[i])) ++i;
    if (i == n) break;
    const size_t run_begin = i > 0 && may_compose_forward(text[i - 1]) ? i - 1 : i;
    size_t run_end = i;
    while (run_end < n && !is_ascii(text[run_end])) ++run_end;
    out->text.append(text, copied, run_begin - copied);
    const size_t norm_begin = out->text.size();
    const std::string_view run = text.substr(run_begin, run_end - run_begin);
    append_nfc(run, &out->text);
    if (std::string_view(out->text).substr(norm_begin) != run)
      out->changed.push_back({norm_begin, out->text.size(), run_begin, run_end});
    copied = i = run_end;
  }
  out->text.append(text, copied, n - copied);
}

size_t NormalizedText::input_offset(size_t pos, bool is_end) const {
  const auto after =
      std::upper_bound(changed.begin(), changed.end(), pos, [](size_t p, const Run& r) { return p < r.norm_begin; });
  if (after == changed.begin()) return pos;
  const Run& r = *(after - 1);
  if (pos == r.norm_begin) return r.raw_begin;
  if (pos < r.norm_end) return is_end ? r.raw_end : r.raw_begin;
  return pos - r.norm_end + r.raw_end;
}

}  // namespace stepwise
