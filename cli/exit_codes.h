// gridflowctl's exit codes, stable for scripts (documented in docs/cli.md).
#pragma once

namespace gridflow::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitRejected = 1,      // the engine refused the request (invalid, wrong state, already exists)
  kExitUsage = 2,         // bad command line
  kExitNotFound = 3,      // no such run / definition / namespace
  kExitUnavailable = 4,   // engine unreachable, or it could not reach its database; retry
  kExitInternal = 5,      // an error inside the engine, or an unexpected answer
  kExitRunFailed = 6,     // `runs wait`: the run ended FAILED or CANCELLED
  kExitTimeout = 7,       // `runs wait`: the run was still open when --timeout elapsed
  kExitVerifyFailed = 8,  // `runs verify` / `runs export`: a history's chain is broken
};

}  // namespace gridflow::cli
