// MarketRulesFile: the operator's market rules (--market-rules FILE; docs/market-rules.md) put in
// force for this process on top of the built-in ones, and re-read when the file changes (a
// ConfigMap update) like the tokens file: a changed file that cannot be used leaves the rules in
// force as they were, and says why in the log. Every replica must be given the same file: run
// deadlines are computed from it.
#pragma once

#include <memory>
#include <string>

#include "common/duration.h"
#include "common/periodic_task.h"
#include "common/reloading_file.h"
#include "common/status.h"
#include "engine/dsl/market_rules.h"

namespace gridflow::engine {

class MarketRulesFile {
 public:
  // Loads `path` and puts it in force; INVALID_ARGUMENT naming the file and the field otherwise.
  static Status Open(const std::string& path, Millis reload_interval,
                     std::unique_ptr<MarketRulesFile>* out);
  ~MarketRulesFile();  // stops watching; the built-in rules alone are in force again

 private:
  MarketRulesFile(const std::string& path, dsl::MarketRules initial, Millis reload_interval);

  ReloadingFile<dsl::MarketRules> file_;
  PeriodicTask watch_;
};

}  // namespace gridflow::engine
