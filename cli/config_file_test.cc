#include "cli/config_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace gridflow::cli {
namespace {

namespace fs = std::filesystem;

class ConfigFileTest : public ::testing::Test {
 protected:
  void Write(const std::string& text) { std::ofstream(path_) << text; }
  void TearDown() override {
    fs::remove(path_);
    fs::remove(token_path_);
  }
  const std::string path_ =
      (fs::temp_directory_path() / ("gf-ctl-conf-" + std::to_string(getpid()))).string();
  const std::string token_path_ = path_ + ".token";
};

TEST_F(ConfigFileTest, SettingsApplyAndTheTokenFileIsRead) {
  std::ofstream(token_path_) << "  s3cret-token \n";
  Write(
      "# the on-call laptop\naddress = engine.grid.example:7233\nnamespace = \"trading\"\n"
      "timeout = 10s   # generous\ntls = true\ntls_ca = /etc/gridflow/ca.pem\n"
      "output = json\ntoken_file = " +
      token_path_ + "\n");
  ClientOptions options;
  std::string error;
  ASSERT_TRUE(LoadConfigFile(path_, true, &options, &error)) << error;
  EXPECT_EQ(options.transport.address, "engine.grid.example:7233");
  EXPECT_EQ(options.namespace_name, "trading");
  EXPECT_EQ(options.timeout, Millis(10'000));
  EXPECT_TRUE(options.transport.tls);
  EXPECT_EQ(options.transport.tls_ca, "/etc/gridflow/ca.pem");
  EXPECT_EQ(options.output, "json");
  EXPECT_EQ(options.transport.token, "s3cret-token");
}

TEST_F(ConfigFileTest, MistakesNameTheLine) {
  ClientOptions options;
  std::string error;
  Write("address = a:1\nadress = b:2\n");
  EXPECT_FALSE(LoadConfigFile(path_, true, &options, &error));
  EXPECT_NE(error.find(":2: unknown key 'adress'"), std::string::npos) << error;
  Write("timeout = soon\n");
  EXPECT_FALSE(LoadConfigFile(path_, true, &options, &error));
  EXPECT_NE(error.find("not a duration"), std::string::npos) << error;
  Write("just words\n");
  EXPECT_FALSE(LoadConfigFile(path_, true, &options, &error));
}

TEST_F(ConfigFileTest, AMissingFileIsFineUnlessAskedFor) {
  ClientOptions options;
  std::string error;
  EXPECT_TRUE(LoadConfigFile(path_ + ".absent", false, &options, &error));
  EXPECT_FALSE(LoadConfigFile(path_ + ".absent", true, &options, &error));
}

}  // namespace
}  // namespace gridflow::cli
