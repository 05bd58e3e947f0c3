// GenerateRequest -> GenerationRequest, chunks -> GenerateResponse, StatusError -> grpc::Status.
#include "serve/request_mapping.h"

#include <cmath>

#include "core/status.h"
#include "serve/served_model.h"

namespace stepwise::serve {

namespace {

void finite(float v, const char* field) {
  if (!std::isfinite(v)) invalid_argument(field, ": must be a finite number, got ", v);
}

}  // namespace

std::vector<ChatMessage> to_chat_messages(const google::protobuf::RepeatedPtrField<v1::ChatMessage>& messages) {
  std::vector<ChatMessage> out;
  for (const v1::ChatMessage& m : messages) out.push_back(ChatMessage{m.role(), m.content(), std::nullopt, {}});
  return out;
}

GenerationRequest to_generation_request(const v1::GenerateRequest& r, const ServedModel& model) {
  const int inputs = !r.prompt().empty() + (r.prompt_ids_size() > 0) + (r.messages_size() > 0);
  if (inputs != 1)
    invalid_argument(inputs == 0 ? "no input" : "several inputs",
                     ": give exactly one of prompt, prompt_ids or messages");
  for (const auto& [v, field] : {std::pair{r.temperature(), "temperature"}, {r.top_p(), "top_p"},
                                 {r.min_p(), "min_p"}, {r.repetition_penalty(), "repetition_penalty"},
                                 {r.presence_penalty(), "presence_penalty"},
                                 {r.frequency_penalty(), "frequency_penalty"}})
    finite(v, field);
  if (r.max_tokens() < 0) invalid_argument("max_tokens: must be >= 0 (0: ", kDefaultMaxTokens, "), got ", r.max_tokens());
  if (r.n() < 0) invalid_argument("n: must be >= 0 (0: 1), got ", r.n());
  if (r.has_thinking_budget() && r.thinking_budget() < 0)
    invalid_argument("thinking_budget: must be >= 0 (unset: unlimited), got ", r.thinking_budget());
  if (r.top_k() < 0) invalid_argument("top_k: must be >= 0 (0: no limit), got ", r.top_k());

  GenerationRequest g;
  g.max_tokens = r.max_tokens() > 0 ? r.max_tokens() : kDefaultMaxTokens;
  g.n = r.n() > 0 ? r.n() : 1;
  g.sampling.temperature = r.temperature();
  g.sampling.top_k = r.top_k();
  g.sampling.top_p = r.has_top_p() ? r.top_p() : 1.0f;
  g.sampling.min_p = r.min_p();
  g.sampling.repetition_penalty = r.has_repetition_penalty() ? r.repetition_penalty() : 1.0f;
  g.sampling.presence_penalty = r.presence_penalty();
  g.sampling.frequency_penalty = r.frequency_penalty();
  g.sampling.seed = r.seed();
  g.sampling.logprobs = r.logprobs();
  g.stop.assign(r.stop().begin(), r.stop().end());
  g.stop_token_ids.assign(r.stop_token_ids().begin(), r.stop_token_ids().end());
  g.ignore_eos = r.ignore_eos();
  g.thinking_budget = r.has_thinking_budget() ? r.thinking_budget() : -1;
  g.thinking_early_stop = kThinkingEarlyStopText;

  const Tokenizer* tokenizer = model.tokenizer.get();
  if ((!r.prompt().empty() || r.messages_size() > 0) && !tokenizer)
    invalid_argument(r.prompt().empty() ? "messages" : "prompt", ": model '", model.name,
                     "' is served without a tokenizer; send prompt_ids");
  if (r.messages_size() > 0) {
    if (!model.chat) invalid_argument("messages: model '", model.name, "' has no chat template");
    try {
      return chat_request(*model.chat, *tokenizer, to_chat_messages(r.messages()),
                          !r.has_enable_thinking() || r.enable_thinking(), std::move(g));
    } catch (const StatusError& e) {
      throw e.with_context("messages");
    }
  }
  if (!r.prompt().empty()) {
    try {
      g.prompt = tokenizer->encode(r.prompt());
    } catch (const StatusError& e) {
      throw e.with_context("prompt");
    }
  } else {
    g.prompt.assign(r.prompt_ids().begin(), r.prompt_ids().end());
  }
  // A raw prompt has no template: its reasoning is split only where a thinking budget needs to follow it.
  g.split_reasoning = g.thinking_budget >= 0 && tokenizer && find_think_tokens(*tokenizer).has_value();
  return g;
}

GenerationChunk to_generation_chunk(const v1::GenerateResponse& r) {
  GenerationChunk c;
  c.index = r.index();
  c.token_ids.assign(r.token_ids().begin(), r.token_ids().end());
  c.text = r.text();
  c.reasoning_text = r.reasoning_text();
  for (const v1::Logprob& lp : r.logprobs()) {
    SampledToken t;
    t.token = lp.token_id();
    t.logprob = lp.logprob();
    for (const v1::TokenLogprob& x : lp.top()) t.top.push_back({x.token_id(), x.logprob()});
    c.logprobs.push_back(t);
  }
  const std::string& f = r.finish_reason();
  c.finish = f.empty()           ? FinishReason::kNone
             : f == "stop"       ? FinishReason::kStop
             : f == "length"     ? FinishReason::kLength
             : f == "cancelled"  ? FinishReason::kCancelled
                                 : FinishReason::kError;
  c.prompt_tokens = r.usage().prompt_tokens();
  c.completion_tokens = r.usage().completion_tokens();
  return c;
}

void fill_response(const GenerationChunk& c, v1::GenerateResponse* out) {
  out->set_index(static_cast<int32_t>(c.index));
  for (int32_t id : c.token_ids) out->add_token_ids(id);
  out->mutable_text()->append(c.text);
  out->mutable_reasoning_text()->append(c.reasoning_text);
  for (const SampledToken& t : c.logprobs) {
    v1::Logprob* lp = out->add_logprobs();
    lp->set_token_id(t.token);
    lp->set_logprob(t.logprob);
    for (const TokenLogprob& x : t.top) {
      v1::TokenLogprob* top = lp->add_top();
      top->set_token_id(x.token);
      top->set_logprob(x.logprob);
    }
  }
  if (c.finish != FinishReason::kNone) {
    out->set_finish_reason(finish_reason_name(c.finish));
    out->mutable_usage()->set_prompt_tokens(static_cast<int32_t>(c.prompt_tokens));
    out->mutable_usage()->set_completion_tokens(static_cast<int32_t>(c.completion_tokens));
  }
}

v1::TokenizeResponse tokenize(const v1::TokenizeRequest& request, const ServedModel& model) {
  if (!model.tokenizer) invalid_argument("model '", model.name, "' is served without a tokenizer");
  if (!request.text().empty() && request.messages_size() > 0)
    invalid_argument("several inputs: give text or messages, not both");
  v1::TokenizeResponse response;
  std::vector<int32_t> ids;
  if (request.messages_size() > 0) {
    if (!model.chat) invalid_argument("messages: model '", model.name, "' has no chat template");
    ChatOptions options;
    options.add_generation_prompt = true;
    options.enable_thinking = !request.has_enable_thinking() || request.enable_thinking();
    EncodedChat chat;
    try {
      chat = model.chat->encode(to_chat_messages(request.messages()), options);
    } catch (const StatusError& e) {
      throw e.with_context("messages");
    }
    ids = chat.ids;
    response.set_text(chat.text);
  } else {
    try {
      ids = model.tokenizer->encode(request.text());
    } catch (const StatusError& e) {
      throw e.with_context("text");
    }
    response.set_text(request.text());
  }
  for (int32_t id : ids) response.add_token_ids(id);
  return response;
}

grpc::Status to_grpc_status(const StatusError& e) {
  switch (e.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, e.what()};
    case StatusCode::kDataLoss: return {grpc::StatusCode::DATA_LOSS, e.what()};
    case StatusCode::kResourceExhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, e.what()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, e.what()};
    case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, e.what()};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, e.what()};
    case StatusCode::kUnimplemented: return {grpc::StatusCode::UNIMPLEMENTED, e.what()};
    case StatusCode::kInternal: break;
  }
  return {grpc::StatusCode::INTERNAL, e.what()};
}

const char* grpc_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

}  // namespace stepwise::serve
