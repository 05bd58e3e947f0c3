// Between the API's messages (proto/stepwise/v1/generation.proto) and the serving engine's types: a
// GenerateRequest becomes a GenerationRequest (every field checked, errors naming the API's field), a chunk becomes
// a GenerateResponse (and back, for clients), and a StatusError becomes a grpc::Status with the matching code.
#pragma once

#include <grpcpp/grpcpp.h>

#include "infer/engine.h"
#include "stepwise/v1/generation.pb.h"

namespace stepwise::serve {

constexpr int32_t kDefaultMaxTokens = 256;  // max_tokens = 0

struct ServedModel;

// INVALID_ARGUMENT naming the field (no or several inputs, text that is not UTF-8, unknown chat roles, NaN or
// out-of-range values); the engine's submit() checks the rest (ids against the vocabulary, the context length, the
// KV pool).
GenerationRequest to_generation_request(const v1::GenerateRequest& request, const ServedModel& model);
void fill_response(const GenerationChunk& chunk, v1::GenerateResponse* response);
// The inverse, for clients: a streamed response as the engine's chunk (an unknown finish reason is kError).
GenerationChunk to_generation_chunk(const v1::GenerateResponse& response);
grpc::Status to_grpc_status(const StatusError& e);
const char* grpc_code_name(grpc::StatusCode code);  // "INVALID_ARGUMENT", ...
// The Tokenize call: text, or a chat rendered with its generation prompt (INVALID_ARGUMENT naming the field).
v1::TokenizeResponse tokenize(const v1::TokenizeRequest& request, const ServedModel& model);
// For messages of the Tokenize and Generate calls: the chat as the template renders it with its generation prompt.
std::vector<ChatMessage> to_chat_messages(const google::protobuf::RepeatedPtrField<v1::ChatMessage>& messages);

}  // namespace stepwise::serve
