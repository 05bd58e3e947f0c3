// JobsService: the handlers; WatchJob follows the job's files and the scheduler's changes.
#include "serve/jobs_service.h"

#include <functional>

#include "core/status.h"
#include "serve/line_tail.h"
#include "serve/request_mapping.h"

namespace stepwise::serve {

namespace {

// Auth, a scheduler, and StatusError -> grpc::Status around a handler's body.
grpc::Status handle(const BearerAuth& auth, JobScheduler* scheduler, const grpc::ServerContext& context,
                    const std::function<void(JobScheduler&)>& body) {
  if (grpc::Status s = auth.check(context); !s.ok()) return s;
  if (!scheduler)
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "this coordinator keeps no jobs: start it with `stepwise serve --state-dir DIR`"};
  try {
    body(*scheduler);
  } catch (const StatusError& e) {
    return to_grpc_status(e);
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status JobsService::SubmitJob(grpc::ServerContext* context, const v1::JobSpec* request, v1::Job* response) {
  return handle(auth_, scheduler_, *context, [&](JobScheduler& s) { *response = s.submit(*request); });
}

grpc::Status JobsService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) {
  return handle(auth_, scheduler_, *context, [&](JobScheduler& s) { *response = s.get(request->id()); });
}

grpc::Status JobsService::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                   v1::ListJobsResponse* response) {
  return handle(auth_, scheduler_, *context, [&](JobScheduler& s) {
    std::vector<v1::JobState> states;
    for (int state : request->states()) states.push_back(static_cast<v1::JobState>(state));
    for (v1::Job& job : s.list(states, request->limit())) *response->add_jobs() = std::move(job);
  });
}

grpc::Status JobsService::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                    v1::Job* response) {
  return handle(auth_, scheduler_, *context, [&](JobScheduler& s) { *response = s.cancel(request->id()); });
}

grpc::Status JobsService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                   grpc::ServerWriter<v1::JobEvent>* writer) {
  grpc::Status cancelled = grpc::Status::OK;
  grpc::Status status = handle(auth_, scheduler_, *context, [&](JobScheduler& s) {
    v1::Job job = s.get(request->id());
    v1::JobEvent first;
    *first.mutable_job() = job;
    first.set_state(job.state());
    if (!writer->Write(first)) return;
    LineTail log(job.log_path());
    LineTail metrics(job.output_dir().empty() ? "" : job.output_dir() + "/metrics.jsonl");
    v1::JobProgress progress = job.progress();
    uint64_t version = 0;
    for (;;) {
      if (context->IsCancelled()) {
        cancelled = {grpc::StatusCode::CANCELLED, "the client went away"};
        return;
      }
      version = s.wait_for_change(version, 0.5);
      // The job first, then its files: a job seen ended has written all it will.
      const v1::Job now = s.get(request->id());
      const bool ended = job_ended(now.state());
      std::vector<v1::JobEvent> events;
      for (std::string& line : log.read(ended)) events.emplace_back().set_log_line(std::move(line));
      for (std::string& line : metrics.read(ended)) events.emplace_back().set_metrics_line(std::move(line));
      if (now.progress().SerializeAsString() != progress.SerializeAsString()) {
        progress = now.progress();
        *events.emplace_back().mutable_progress() = progress;
      }
      // The last event carries the final state, also for a job that had ended before the call (its history came
      // after the first event).
      if (now.state() != job.state() || (ended && (events.empty() || !events.back().has_job()))) {
        v1::JobEvent& e = events.emplace_back();
        e.set_state(now.state());
        *e.mutable_job() = now;
      }
      job = now;
      for (const v1::JobEvent& e : events)
        if (!writer->Write(e)) return;
      if (ended) return;
    }
  });
  return status.ok() ? cancelled : status;
}

}  // namespace stepwise::serve
