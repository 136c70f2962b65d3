#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareStatements(pqxx::connection& c) {
  PrepareDefinitionStatements(c);
  PrepareRunStatements(c);
  PrepareEventStatements(c);
  PrepareTaskStatements(c);
  PrepareSignalStatements(c);
  PrepareMemberStatements(c);
  PrepareTimerStatements(c);
  PrepareMessageStatements(c);
  PrepareClockStatements(c);
  PrepareWriteSetStatements(c);
  PrepareDispatchControlStatements(c);
}

}  // namespace gridflow::persistence
