// The Jobs service of proto/stepwise/v1/jobs.proto over the JobScheduler (serve/job_scheduler.h); same auth as the
// other services. A coordinator started without --state-dir keeps no jobs: its Jobs calls are FAILED_PRECONDITION.
#pragma once

#include "serve/auth.h"
#include "serve/job_scheduler.h"
#include "stepwise/v1/jobs.grpc.pb.h"

namespace stepwise::serve {

class JobsService final : public v1::Jobs::Service {
 public:
  JobsService(const BearerAuth& auth, JobScheduler* scheduler) : auth_(auth), scheduler_(scheduler) {}
  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::JobSpec* request, v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;

 private:
  const BearerAuth& auth_;
  JobScheduler* scheduler_;  // null: no --state-dir
};

}  // namespace stepwise::serve
