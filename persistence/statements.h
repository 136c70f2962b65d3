// Every SQL statement Gridflow runs on its hot paths is a named prepared statement, registered on
// each pooled connection when it opens. Each store registers its own.
#pragma once

#include <pqxx/connection>

namespace gridflow::persistence {

void PrepareStatements(pqxx::connection& c);

// One per store, called by PrepareStatements.
void PrepareDefinitionStatements(pqxx::connection& c);
void PrepareRunStatements(pqxx::connection& c);
void PrepareEventStatements(pqxx::connection& c);
void PrepareTaskStatements(pqxx::connection& c);
void PrepareSignalStatements(pqxx::connection& c);
void PrepareMemberStatements(pqxx::connection& c);
void PrepareTimerStatements(pqxx::connection& c);
void PrepareMessageStatements(pqxx::connection& c);
void PrepareClockStatements(pqxx::connection& c);
void PrepareWriteSetStatements(pqxx::connection& c);
void PrepareDispatchControlStatements(pqxx::connection& c);

}  // namespace gridflow::persistence
