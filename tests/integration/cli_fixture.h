// The fixture of gridflowctl's integration tests: a test engine, a definition file, and the
// CLI binary run as a subprocess against that engine.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/test_env.h"

namespace gridflow::testing {

namespace fs = std::filesystem;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    definition_file_ =
        fs::temp_directory_path() / ("gf-cli-def-" + std::to_string(getpid()) + ".json");
    std::ofstream(definition_file_)
        << SequenceDefinition("day-ahead-bid", {{"forecast", "forecast"}});
  }
  void TearDown() override { fs::remove(definition_file_); }

  // Runs gridflowctl against the test engine; returns the exit code.
  int Ctl(std::vector<std::string> args, std::string* out, std::string* err = nullptr) {
    std::vector<std::string> argv = {CtlBinary(), "--address", engine_.address(), "--identity",
                                     "operator-anna"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string ignored;
    return RunCommand(argv, out, err != nullptr ? err : &ignored);
  }

  fs::path definition_file_;
  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

}  // namespace gridflow::testing
