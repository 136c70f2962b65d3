# Writes a C++ source holding the built-in market rules (engine/dsl/market_rules.json), so the
# engine binary carries them. Invoked as: cmake -DINPUT=... -DOUTPUT=... -P embed_market_rules.cmake
file(READ ${INPUT} rules)
if(rules MATCHES "\\)gfrules\"")
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )gfrules\"")
endif()
set(body "// Generated from engine/dsl/market_rules.json by embed_market_rules.cmake. Do not edit.\n")
string(APPEND body "namespace gridflow::dsl {\n\nextern const char kBuiltInMarketRules[];\n")
string(APPEND body "const char kBuiltInMarketRules[] = R\"gfrules(${rules})gfrules\";\n\n")
string(APPEND body "}  // namespace gridflow::dsl\n")
file(WRITE ${OUTPUT}.tmp "${body}")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
