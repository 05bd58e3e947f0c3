// Reading and checking the SFT run configuration (yaml-cpp).
#include "train/train_config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/status.h"

namespace stepwise {

namespace {

constexpr const char* kSections[] = {"run", "model", "data", "batch", "optimizer", "train", "eval", "checkpoint"};
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

struct Context {
  std::string source;
  std::set<std::string> overridden;         // "section.key" set by --set
  std::map<std::string, int> section_line;  // where each section's name is written

  std::string where(const std::string& path, const YAML::Node& node) const {
    if (overridden.count(path)) return "--set " + path;
    if (const auto it = section_line.find(path); it != section_line.end())
      return source + ":" + std::to_string(it->second);
    if (node.IsDefined() && node.Mark().line >= 0) return source + ":" + std::to_string(node.Mark().line + 1);
    return source;
  }
};

const char* kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "a scalar";
  }
}

// The keys of one section: each read with its type and range; finish() rejects the keys nobody read.
class SectionReader {
 public:
  SectionReader(const YAML::Node& node, std::string name, const Context& ctx)
      : node_(node), name_(std::move(name)), ctx_(ctx) {
    if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap())
      invalid_argument(ctx_.where(name_, node_), ": ", name_, " must be a mapping of keys, got ", kind(node_));
  }

  std::string str(const char* key, const std::string& fallback, bool required = false) {
    const std::optional<YAML::Node> n = value(key, required);
    return n ? n->as<std::string>() : fallback;
  }
  int64_t integer(const char* key, int64_t fallback, int64_t lo, int64_t hi = kMaxInt) {
    const std::optional<YAML::Node> n = value(key, false);
    if (!n) return fallback;
    int64_t v = 0;
    if (!YAML::convert<int64_t>::decode(*n, v)) bad(key, *n, "an integer");
    if (v < lo || v > hi) out_of_range(key, *n, std::to_string(lo), std::to_string(hi));
    return v;
  }
  double number(const char* key, double fallback, double lo, double hi, bool required = false) {
    const std::optional<YAML::Node> n = value(key, required);
    if (!n) return fallback;
    double v = 0;
    if (!YAML::convert<double>::decode(*n, v) || !std::isfinite(v)) bad(key, *n, "a number");
    if (v < lo || v > hi) out_of_range(key, *n, fmt(lo), fmt(hi));
    return v;
  }
  bool boolean(const char* key, bool fallback) {
    const std::optional<YAML::Node> n = value(key, false);
    if (!n) return fallback;
    bool v = false;
    if (!YAML::convert<bool>::decode(*n, v)) bad(key, *n, "true or false");
    return v;
  }
  std::string where(const char* key) const { return ctx_.where(path(key), node_.IsMap() ? node_[key] : node_); }

  void finish() const {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (read_.count(key)) continue;
      std::string known;
      for (const std::string& k : read_) known += (known.empty() ? "" : ", ") + k;
      invalid_argument(ctx_.where(path(key), kv.first), ": unknown key ", path(key), " (", name_, " has: ", known,
                       ")");
    }
  }

 private:
  std::string path(const std::string& key) const { return name_ + "." + key; }
  // The scalar at `key`, or nothing when absent (an error when required).
  std::optional<YAML::Node> value(const char* key, bool required) {
    read_.insert(key);
    const YAML::Node n = node_.IsMap() ? node_[key] : YAML::Node();
    if (!n.IsDefined() || n.IsNull()) {
      if (required) invalid_argument(ctx_.where(name_, node_), ": ", path(key), " is required");
      return std::nullopt;
    }
    if (!n.IsScalar()) bad(key, n, "a single value");
    return n;
  }
  [[noreturn]] void bad(const char* key, const YAML::Node& n, const char* expected) const {
    invalid_argument(ctx_.where(path(key), n), ": ", path(key), " must be ", expected, ", got ",
                     n.IsScalar() ? "'" + n.Scalar() + "'" : std::string(kind(n)));
  }
  [[noreturn]] void out_of_range(const char* key, const YAML::Node& n, const std::string& lo,
                                 const std::string& hi) const {
    invalid_argument(ctx_.where(path(key), n), ": ", path(key), " = ", n.Scalar(), " is out of range [", lo, ", ",
                     hi, "]");
  }
  static std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

  YAML::Node node_;
  std::string name_;
  const Context& ctx_;
  std::set<std::string> read_;
};

void apply_override(YAML::Node& root, const std::string& text, Context& ctx) {
  const size_t eq = text.find('=');
  const std::string path = text.substr(0, eq);
  const size_t dot = path.find('.');
  if (eq == std::string::npos || dot == std::string::npos || path.find('.', dot + 1) != std::string::npos)
    invalid_argument("--set ", text, ": expected section.key=value (e.g. --set optimizer.lr=3e-4)");
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    invalid_argument("--set ", text, ": the value is not valid YAML (", e.msg, ")");
  }
  const std::string section = path.substr(0, dot), key = path.substr(dot + 1);
  if (!root[section].IsMap()) root[section] = YAML::Node(YAML::NodeType::Map);
  root[section][key] = value;
  ctx.overridden.insert(path);
}

std::string fmt_double(double v) {  // the shortest text that reads back as v
  char buf[40];
  for (int p = 6; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

TrainConfig parse_train_config(const std::string& yaml_text, const std::string& source,
                               const std::vector<std::string>& overrides) {
  Context ctx;
  ctx.source = source;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    invalid_argument(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) invalid_argument(source, ": the config must be a mapping of sections (run:, model:, ...)");
  for (const std::string& o : overrides) apply_override(root, o, ctx);
  for (const auto& kv : root) {
    const std::string name = kv.first.as<std::string>();
    if (kv.first.Mark().line >= 0) ctx.section_line[name] = kv.first.Mark().line + 1;
    bool known = false;
    for (const char* s : kSections) known |= name == s;
    if (!known) {
      std::string list;
      for (const char* s : kSections) list += (list.empty() ? "" : ", ") + std::string(s);
      invalid_argument(ctx.where(name, kv.first), ": unknown section ", name, " (sections: ", list, ")");
    }
  }

  TrainConfig c;
  c.source = source;
  {
    SectionReader r(root["run"], "run", ctx);
    c.run.output_dir = r.str("output_dir", "", true);
    c.run.seed = static_cast<uint64_t>(r.integer("seed", 1234, 0, std::numeric_limits<int64_t>::max()));
    const std::string device = r.str("device", "cpu");
    if (device != "cpu" && device != "cuda")
      invalid_argument(r.where("device"), ": run.device must be cpu or cuda, got '", device, "'");
    c.run.device = device == "cuda" ? Device::kCUDA : Device::kCPU;
    c.run.tp = static_cast<int>(r.integer("tp", 1, 1, 4096));
    c.run.dp = static_cast<int>(r.integer("dp", 1, 0, 1 << 20));
    c.run.zero1 = r.boolean("zero1", false);
    r.finish();
  }
  {
    SectionReader r(root["model"], "model", ctx);
    c.model.config = r.str("config", "", true);
    c.model.init = r.str("init", "random");
    if (c.model.init != "random" && c.model.init.rfind("hf:", 0) != 0 && c.model.init.rfind("checkpoint:", 0) != 0)
      invalid_argument(r.where("init"), ": model.init must be random, hf:DIR or checkpoint:DIR, got '",
                       c.model.init, "'");
    c.model.init_std = r.number("init_std", 0.02, 1e-6, 1.0);
    r.finish();
  }
  {
    SectionReader r(root["data"], "data", ctx);
    c.data.train = r.str("train", "", true);
    c.data.eval = r.str("eval", "");
    r.finish();
  }
  {
    SectionReader r(root["batch"], "batch", ctx);
    c.batch.micro_batch_rows = r.integer("micro_batch_rows", 1, 1, 1 << 16);
    c.batch.row_length = r.integer("row_length", 2048, 2, 1 << 24);
    c.batch.grad_accum_steps = r.integer("grad_accum_steps", 1, 1, 1 << 16);
    r.finish();
  }
  {
    SectionReader r(root["optimizer"], "optimizer", ctx);
    LrSchedule& s = c.optimizer.schedule;
    s.lr = r.number("lr", 0, 0, 10, true);
    s.min_lr = r.number("min_lr", 0, 0, 10);
    if (s.min_lr > s.lr)
      invalid_argument(r.where("min_lr"), ": optimizer.min_lr (", s.min_lr, ") must not exceed optimizer.lr (", s.lr,
                       ")");
    s.warmup_steps = r.integer("warmup_steps", 0, 0);
    const std::string decay = r.str("decay", "cosine");
    try {
      s.decay = parse_lr_decay(decay);
    } catch (const StatusError& e) {
      invalid_argument(r.where("decay"), ": optimizer.decay: ", e.what());
    }
    c.optimizer.weight_decay = r.number("weight_decay", 0.1, 0, 10);
    c.optimizer.beta1 = r.number("beta1", 0.9, 0, 0.999999);
    c.optimizer.beta2 = r.number("beta2", 0.95, 0, 0.999999999);
    c.optimizer.eps = r.number("eps", 1e-8, 1e-30, 1);
    c.optimizer.clip_norm = r.number("clip_norm", 1.0, 0, 1e9);
    r.finish();
  }
  {
    SectionReader r(root["train"], "train", ctx);
    c.train.steps = r.integer("steps", 0, 0, std::numeric_limits<int64_t>::max());
    c.train.epochs = r.number("epochs", 0, 0, 1e6);
    if ((c.train.steps > 0) == (c.train.epochs > 0))
      invalid_argument(r.where(c.train.steps > 0 ? "epochs" : "steps"),
                       ": give exactly one of train.steps and train.epochs (a positive number)");
    c.train.max_bad_steps = r.integer("max_bad_steps", 3, 1);
    c.train.log_every = r.integer("log_every", 1, 1);
    r.finish();
  }
  {
    SectionReader r(root["eval"], "eval", ctx);
    c.eval.every = r.integer("every", 0, 0, std::numeric_limits<int64_t>::max());
    c.eval.max_batches = r.integer("max_batches", 0, 0, std::numeric_limits<int64_t>::max());
    if (c.eval.every > 0 && c.data.eval.empty())
      invalid_argument(r.where("every"), ": eval.every needs data.eval (a held-out token dataset)");
    r.finish();
  }
  {
    SectionReader r(root["checkpoint"], "checkpoint", ctx);
    c.checkpoint.every = r.integer("every", 0, 0, std::numeric_limits<int64_t>::max());
    c.checkpoint.keep_last = r.integer("keep_last", 3, 1);
    r.finish();
  }
  return c;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) fail(StatusCode::kNotFound, "cannot read config ", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_train_config(text.str(), path, overrides);
}

std::string TrainConfig::to_yaml() const {
  const LrSchedule& s = optimizer.schedule;
  std::ostringstream os;
  os << "# resolved configuration (from " << source << ")\n"
     << "run:\n  output_dir: " << YAML::Node(run.output_dir) << "\n  seed: " << run.seed
     << "\n  device: " << (run.device == Device::kCUDA ? "cuda" : "cpu") << "\n  tp: " << run.tp
     << "\n  dp: " << run.dp << "\n  zero1: " << (run.zero1 ? "true" : "false") << "\n"
     << "model:\n  config: " << YAML::Node(model.config) << "\n  init: " << YAML::Node(model.init)
     << "\n  init_std: " << fmt_double(model.init_std) << "\n"
     << "data:\n  train: " << YAML::Node(data.train) << "\n";
  if (!data.eval.empty()) os << "  eval: " << YAML::Node(data.eval) << "\n";
  os << "batch:\n  micro_batch_rows: " << batch.micro_batch_rows << "\n  row_length: " << batch.row_length
     << "\n  grad_accum_steps: " << batch.grad_accum_steps << "\n"
     << "optimizer:\n  lr: " << fmt_double(s.lr) << "\n  min_lr: " << fmt_double(s.min_lr)
     << "\n  warmup_steps: " << s.warmup_steps << "\n  decay: " << lr_decay_name(s.decay)
     << "\n  weight_decay: " << fmt_double(optimizer.weight_decay) << "\n  beta1: " << fmt_double(optimizer.beta1)
     << "\n  beta2: " << fmt_double(optimizer.beta2) << "\n  eps: " << fmt_double(optimizer.eps)
     << "\n  clip_norm: " << fmt_double(optimizer.clip_norm) << "\n"
     << "train:\n";
  if (train.steps > 0) os << "  steps: " << train.steps << "\n";
  else os << "  epochs: " << fmt_double(train.epochs) << "\n";
  os << "  max_bad_steps: " << train.max_bad_steps << "\n  log_every: " << train.log_every << "\n"
     << "eval:\n  every: " << eval.every << "\n  max_batches: " << eval.max_batches << "\n"
     << "checkpoint:\n  every: " << checkpoint.every << "\n  keep_last: " << checkpoint.keep_last << "\n";
  return os.str();
}

}  // namespace stepwise
