#include "console/session.h"

#include <gtest/gtest.h>

#include <fstream>

namespace gridflow::console {
namespace {

TEST(SessionKeysTest, SealedSessionOpensWithTheSameKeysOnly) {
  const SessionKeys keys = SessionKeys::Random();
  const std::string cookie = keys.Seal({"secret-token", "anna", 2000});
  const auto session = keys.Open(cookie, 1000);
  ASSERT_TRUE(session.has_value());
  EXPECT_EQ(session->token, "secret-token");
  EXPECT_EQ(session->name, "anna");
  EXPECT_EQ(session->expires_unix, 2000);
  EXPECT_EQ(cookie.find("secret-token"), std::string::npos) << "the token is encrypted";
  EXPECT_FALSE(SessionKeys::Random().Open(cookie, 1000).has_value());
}

TEST(SessionKeysTest, AlteredExpiredOrGarbledCookiesAreRefused) {
  const SessionKeys keys = SessionKeys::Random();
  std::string cookie = keys.Seal({"t", "", 2000});
  EXPECT_FALSE(keys.Open(cookie, 2000).has_value()) << "expired at its expiry";
  for (size_t at : {size_t{0}, cookie.size() / 2, cookie.size() - 1}) {
    std::string altered = cookie;
    altered[at] = altered[at] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(keys.Open(altered, 1000).has_value()) << "altered at " << at;
  }
  EXPECT_FALSE(keys.Open("", 1000).has_value());
  EXPECT_FALSE(keys.Open("not base64!", 1000).has_value());
  EXPECT_FALSE(keys.Open(cookie.substr(0, 10), 1000).has_value());
  // Every other spelling of the last character (most differ only in bits the decoding drops).
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (char c : alphabet) {
    if (c == cookie.back()) continue;
    std::string altered = cookie;
    altered.back() = c;
    EXPECT_FALSE(keys.Open(altered, 1000).has_value()) << "last character " << c;
  }
}

TEST(SessionKeysTest, KeysFromOneFileReadEachOthersCookies) {
  const std::string path = ::testing::TempDir() + "/console-session-key";
  std::ofstream(path) << std::string(40, 'k') << "\n";
  SessionKeys a, b;
  ASSERT_TRUE(SessionKeys::FromFile(path, &a).ok());
  ASSERT_TRUE(SessionKeys::FromFile(path, &b).ok());
  const std::string cookie = a.Seal({"t", "bert", 2000});
  ASSERT_TRUE(b.Open(cookie, 1000).has_value());
  EXPECT_EQ(a.CsrfToken(cookie), b.CsrfToken(cookie));

  std::ofstream(path) << "short";
  const Status short_key = SessionKeys::FromFile(path, &a);
  EXPECT_EQ(short_key.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(short_key.message().find("--session-key-file"), std::string::npos);
  EXPECT_FALSE(SessionKeys::FromFile(path + ".missing", &a).ok());
}

TEST(SessionKeysTest, CsrfTokenBelongsToItsCookie) {
  const SessionKeys keys = SessionKeys::Random();
  const std::string one = keys.Seal({"t", "", 2000});
  const std::string two = keys.Seal({"t", "", 2000});
  EXPECT_TRUE(keys.CheckCsrf(one, keys.CsrfToken(one)));
  EXPECT_FALSE(keys.CheckCsrf(one, keys.CsrfToken(two)));
  EXPECT_FALSE(keys.CheckCsrf(one, ""));
  EXPECT_FALSE(keys.CheckCsrf("", keys.CsrfToken("")));
  EXPECT_FALSE(SessionKeys::Random().CheckCsrf(one, keys.CsrfToken(one)));
}

}  // namespace
}  // namespace gridflow::console
