// `stepwise job-supervisor JOB_DIR`: the process that runs one local job of the coordinator
// (serve/job_supervisor.h). The coordinator starts it; people do not, so the command is left out of the help.
#include <memory>
#include <string>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "serve/job_supervisor.h"

namespace stepwise::cli {

void add_job_supervisor_command(CommandLine& cli, CLI::App& parent) {
  auto job_dir = std::make_shared<std::string>();
  CLI::App& command = add_command(
      parent, "job-supervisor", "run a coordinator job's steps (started by `stepwise serve --state-dir`)",
      "stepwise job-supervisor runs/state/jobs/7",
      "Runs the steps of JOB_DIR/command.json, appends their output to JOB_DIR/output.log, keeps\n"
      "JOB_DIR/heartbeat.json fresh and writes JOB_DIR/exit.json at the end. SIGTERM cancels the job.");
  command.group("");  // internal: not listed
  command.add_option("job_dir", *job_dir, "the job's folder under the coordinator's state directory")
      ->required()
      ->type_name("JOB_DIR");
  cli.on_run(command, [job_dir] { return serve::run_job_supervisor(*job_dir); });
}

}  // namespace stepwise::cli
