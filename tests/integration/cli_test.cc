// gridflowctl as a subprocess against a real engine: output, JSON, exit codes.
#include "tests/integration/cli_fixture.h"

namespace gridflow::testing {
namespace {

TEST_F(CliTest, DefinitionsApplyListShow) {
  std::string out;
  ASSERT_EQ(Ctl({"definitions", "apply", definition_file_.string()}, &out), 0) << out;
  EXPECT_NE(out.find("registered day-ahead-bid v1"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"definitions", "apply", definition_file_.string()}, &out), 0);
  EXPECT_NE(out.find("unchanged"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"definitions", "list"}, &out), 0);
  EXPECT_NE(out.find("NAME"), std::string::npos);
  EXPECT_NE(out.find("day-ahead-bid"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"-o", "json", "definitions", "show", "day-ahead-bid"}, &out), 0);
  const auto shown = nlohmann::json::parse(out);
  EXPECT_EQ(shown["name"], "day-ahead-bid");
  EXPECT_EQ(shown["created_by"], "anonymous (operator-anna)");
}

TEST_F(CliTest, RunsStartShowHistorySignalCancel) {
  std::string out;
  ASSERT_EQ(Ctl({"definitions", "apply", definition_file_.string()}, &out), 0);
  ASSERT_EQ(
      Ctl({"runs", "start", "day-ahead-bid", "--id", "dab-1", "--input", R"({"mw": 3})"}, &out), 0);
  EXPECT_NE(out.find("started dab-1"), std::string::npos) << out;
  ASSERT_EQ(
      Ctl({"runs", "start", "day-ahead-bid", "--id", "dab-1", "--input", R"({"mw": 3})"}, &out), 0);
  EXPECT_NE(out.find("already started dab-1"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"runs", "show", "dab-1"}, &out), 0);
  EXPECT_NE(out.find("RUNNING"), std::string::npos) << out;
  EXPECT_NE(out.find("forecast"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"runs", "list", "--status", "running"}, &out), 0);
  EXPECT_NE(out.find("dab-1"), std::string::npos) << out;

  ASSERT_EQ(
      Ctl({"runs", "signal", "dab-1", "exchange_ack", "--payload", "{}", "--dedup-id", "a1"}, &out),
      0);
  EXPECT_NE(out.find("delivered"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"runs", "cancel", "dab-1", "--reason", "gate closure moved"}, &out), 0);
  EXPECT_NE(out.find("CANCELLED"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"-o", "json", "runs", "history", "dab-1"}, &out), 0);
  const auto history = nlohmann::json::parse(out);
  ASSERT_EQ(history["events"].size(), 6u);
  EXPECT_EQ(history["events"][0]["type"], "RunStarted");
  EXPECT_EQ(history["events"][0]["actor"], "anonymous");  // the principal: no authentication here
  EXPECT_EQ(nlohmann::json::parse(
                history["events"][0]["payload_json"].get<std::string>())["client_identity"],
            "operator-anna");
  EXPECT_EQ(history["events"][5]["type"], "RunCancelled");
  EXPECT_EQ(history["events"][5]["actor"], "anonymous");
  EXPECT_EQ(history["run_status"], "RUN_STATUS_CANCELLED");

  ASSERT_EQ(Ctl({"runs", "history", "dab-1"}, &out), 0);
  EXPECT_NE(out.find("RunCancelRequested"), std::string::npos) << out;
  EXPECT_NE(out.find("gate closure moved"), std::string::npos) << out;

  EXPECT_EQ(Ctl({"runs", "wait", "dab-1", "--timeout", "5s"}, &out), 6);  // ended, not COMPLETED
}

TEST_F(CliTest, ExitCodesSaySomethingUseful) {
  std::string out, err;
  EXPECT_EQ(Ctl({"runs", "show", "no-such-run"}, &out, &err), 3);
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
  EXPECT_EQ(Ctl({"runs", "start", "no-such-definition", "--id", "x"}, &out, &err), 3);
  EXPECT_EQ(Ctl({"runs", "start", "day-ahead-bid"}, &out, &err), 2);  // --id missing
  EXPECT_EQ(Ctl({"runs", "frobnicate"}, &out, &err), 2);
  EXPECT_EQ(Ctl({"runs", "start", "x", "--id", "y", "--input", "{bad"}, &out, &err), 1);
  EXPECT_NE(err.find("input_json"), std::string::npos) << err;

  std::string unreachable_err;
  const int code =
      RunCommand({CtlBinary(), "--address", "127.0.0.1:1", "--timeout", "2s", "runs", "list"}, &out,
                 &unreachable_err);
  EXPECT_EQ(code, 4);
  EXPECT_NE(unreachable_err.find("unavailable"), std::string::npos) << unreachable_err;

  EXPECT_EQ(Ctl({"--help"}, &out), 0);
  EXPECT_NE(out.find("definitions"), std::string::npos);
}

}  // namespace
}  // namespace gridflow::testing
