#include "engine/server/market_rules_file.h"

#include <spdlog/spdlog.h>

namespace gridflow::engine {

Status MarketRulesFile::Open(const std::string& path, Millis reload_interval,
                             std::unique_ptr<MarketRulesFile>* out) {
  dsl::MarketRules rules;
  if (Status s = dsl::LoadMarketRules(path, &rules); !s.ok()) return s;
  spdlog::info("market rules {} in force ({} rules)", rules.version(), rules.rules().size());
  out->reset(new MarketRulesFile(path, std::move(rules), reload_interval));
  return Status::Ok();
}

MarketRulesFile::MarketRulesFile(const std::string& path, dsl::MarketRules initial,
                                 Millis reload_interval)
    : file_("market rules", path, std::move(initial), reload_interval, dsl::LoadMarketRules),
      watch_("market rules", reload_interval, [this] {
        std::shared_ptr<const dsl::MarketRules> current = file_.Current();
        if (current != dsl::CurrentMarketRules()) {
          spdlog::info("market rules {} in force ({} rules)", current->version(),
                       current->rules().size());
        }
        dsl::SetMarketRules(std::move(current));
      }) {
  dsl::SetMarketRules(file_.Current());  // in force before the engine serves
  watch_.Start();
}

MarketRulesFile::~MarketRulesFile() {
  watch_.Stop();
  dsl::SetMarketRules(dsl::MarketRules::BuiltIn());
}

}  // namespace gridflow::engine
